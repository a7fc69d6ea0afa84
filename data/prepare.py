#!/usr/bin/env python
"""Build the shipped ``data/`` folder from the raw copies in ``../shared/data``.

Deterministic: the same inputs give byte-identical outputs (sorted rows,
gzip with a fixed timestamp).  Run from the repository root::

    python data/prepare.py --raw ../shared/data --out data

Outputs (all UTF-8, tab-separated, gzip-compressed):

* ``tatoeba_v1.tsv.gz``  -- the benchmark: ``lang  xx  en`` for all 112
  Tatoeba-v1 languages, rows in the original file order.
* ``train.tsv.gz``       -- training pairs: ``lang  script  xx  en`` from
  the Tatoeba-challenge files, labelled per row (ISO 639-3 from the label
  column, never from the file name), deduplicated, and with every pair
  removed whose non-English side occurs in *any* Tatoeba-v1 test sentence
  or whose English side occurs in *any* Tatoeba-v1 English sentence
  (compared after :func:`labse_lite.data.normalize_for_overlap`).
* ``flores200_devtest.tsv.gz`` -- FLORES-200 devtest, multi-way: a header
  row of ``iso639-3_Script`` codes, then one row per sentence.
* ``stats.json`` -- per-language counts and checksums, for the data card.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import hashlib
import io
import json
import sys
import unicodedata
from pathlib import Path


def normalize_for_overlap(text: str) -> str:
    """Key used to decide whether two sentences are "the same" sentence.

    NFC, case-folded, whitespace collapsed.  Deliberately a little looser than
    exact equality so that the leakage filter errs on the side of removing.
    (Duplicated from ``labse_lite.data`` so that this script runs without the
    package installed; ``tests/test_data.py`` checks that both agree.)
    """
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def read_tsv(path: Path, n_cols: int) -> list[list[str]]:
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) != n_cols:
                raise ValueError(
                    f"{path}:{line_no}: expected {n_cols} columns, "
                    f"got {len(parts)}")
            rows.append([p.strip() for p in parts])
    return rows


def write_gzip_tsv(path: Path, rows) -> str:
    """Write rows to a deterministic .tsv.gz and return its sha256."""
    buf = io.StringIO()
    for row in rows:
        for cell in row:
            if "\t" in cell or "\n" in cell:
                raise ValueError(f"cell contains a tab/newline: {cell!r}")
        buf.write("\t".join(row) + "\n")
    raw = buf.getvalue().encode("utf-8")
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0,
                       compresslevel=9, filename="") as gz:
        gz.write(raw)
    data = out.getvalue()
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--raw", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("data"))
    args = parser.parse_args(argv)
    raw, out = args.raw, args.out
    out.mkdir(parents=True, exist_ok=True)
    stats: dict = {}

    # 1. Benchmark: Tatoeba-v1 ------------------------------------------------
    bench_rows = []
    v1_counts = {}
    for path in sorted((raw / "tatoeba-v1").glob("*-eng.tsv")):
        lang = path.name.split("-")[0]
        pairs = read_tsv(path, 2)
        v1_counts[lang] = len(pairs)
        bench_rows.extend([lang, xx, en] for xx, en in pairs)
    if len(v1_counts) != 112:
        raise SystemExit(f"expected 112 Tatoeba-v1 languages, "
                         f"found {len(v1_counts)}")
    v1_xx = {normalize_for_overlap(r[1]) for r in bench_rows}
    v1_en = {normalize_for_overlap(r[2]) for r in bench_rows}

    # 2. Training pairs: Tatoeba challenge ------------------------------------
    seen = set()
    train_rows = []
    removed = collections.Counter()
    for path in sorted((raw / "tatoeba-challenge").glob("*-eng.tsv")):
        for xx, en, label in read_tsv(path, 3):
            lang, _, script = label.partition("_")
            if not xx or not en:
                removed["empty"] += 1
                continue
            key = (lang, normalize_for_overlap(xx), normalize_for_overlap(en))
            if key in seen:
                removed["duplicate"] += 1
                continue
            seen.add(key)
            leak_xx = key[1] in v1_xx
            leak_en = key[2] in v1_en
            if leak_xx or leak_en:
                if leak_xx:
                    removed["xx_in_tatoeba_v1"] += 1
                if leak_en:
                    removed["en_in_tatoeba_v1"] += 1
                removed["leak_total"] += 1
                continue
            train_rows.append([lang, script, xx, en])
    train_rows.sort()
    train_counts = collections.Counter(r[0] for r in train_rows)

    # 3. FLORES-200 devtest (multi-way) ----------------------------------------
    flores_files = sorted((raw / "flores200-devtest").glob("*.txt"))
    columns = [p.stem for p in flores_files]
    lines = []
    for path in flores_files:
        with open(path, encoding="utf-8") as handle:
            lines.append([ln.rstrip("\n").strip() for ln in handle])
    n_flores = {len(col) for col in lines}
    if len(n_flores) != 1:
        raise SystemExit(f"FLORES files differ in length: {n_flores}")
    flores_rows = [columns] + [list(r) for r in zip(*lines)]

    # Write ---------------------------------------------------------------
    stats["files"] = {
        "tatoeba_v1.tsv.gz": write_gzip_tsv(out / "tatoeba_v1.tsv.gz",
                                            bench_rows),
        "train.tsv.gz": write_gzip_tsv(out / "train.tsv.gz", train_rows),
        "flores200_devtest.tsv.gz": write_gzip_tsv(
            out / "flores200_devtest.tsv.gz", flores_rows),
    }
    stats["tatoeba_v1"] = {"pairs": len(bench_rows), "languages": v1_counts}
    stats["train"] = {"pairs": len(train_rows),
                      "removed": dict(sorted(removed.items())),
                      "languages": dict(sorted(train_counts.items()))}
    stats["flores200_devtest"] = {"sentences": len(flores_rows) - 1,
                                  "languages": columns}
    (out / "stats.json").write_text(
        json.dumps(stats, indent=1, ensure_ascii=False, sort_keys=True)
        + "\n", encoding="utf-8")
    print(f"tatoeba-v1: {len(bench_rows)} pairs, {len(v1_counts)} languages")
    print(f"train: {len(train_rows)} pairs, {len(train_counts)} languages; "
          f"removed {dict(removed)}")
    print(f"flores: {len(flores_rows) - 1} sentences x {len(columns)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
