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
  (compared after :func:`labse_lite.data.leakage_key`: NFKC, case folding,
  punctuation, symbols and spaces removed).
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


_LEAKAGE_IGNORED = ("P", "S", "Z", "Cc", "Cf")


def leakage_key(text: str) -> str:
    """Key under which a training sentence counts as a copy of a benchmark
    sentence: NFKC, case folding, and punctuation, symbols, spaces and
    invisible format characters removed (a copy of
    ``labse_lite.data.leakage_key``, checked by the same test).
    """
    text = unicodedata.normalize("NFKC", text.casefold()).casefold()
    return "".join(
        ch
        for ch in text
        if not unicodedata.category(ch).startswith(_LEAKAGE_IGNORED)
    )


def read_tsv(path: Path, n_cols: int) -> list[list[str]]:
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) != n_cols:
                raise ValueError(
                    f"{path}:{line_no}: expected {n_cols} columns, "
                    f"got {len(parts)}"
                )
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
    with gzip.GzipFile(
        fileobj=out, mode="wb", mtime=0, compresslevel=9, filename=""
    ) as gz:
        gz.write(raw)
    data = out.getvalue()
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


CARD = """\
# Data card: the data labse-lite ships

Everything the book and the tests read is in this folder; nothing is
downloaded.  It was produced from the raw copies in `../shared/data` by
[`prepare.py`](prepare.py) (deterministic: rerunning it reproduces these
files byte for byte; the checksums below are verified by
`tests/test_data.py`):

    python data/prepare.py --raw ../shared/data --out data

This card is written by the same script, so its numbers are the files'.

## Files

| file | content | rows | sha256 |
|---|---|---|---|
| `train.tsv.gz` | training pairs: `lang  script  xx  en` | {train_pairs} | `{sha_train}` |
| `tatoeba_v1.tsv.gz` | benchmark: `lang  xx  en`, original order | {bench_pairs} | `{sha_bench}` |
| `flores200_devtest.tsv.gz` | FLORES-200 devtest, header of `iso639-3_Script` codes, one row per sentence | {flores_rows} x {flores_langs} | `{sha_flores}` |
| `stats.json` | the counts and checksums of this card, machine-readable | | |

## Sources and licences

| data | source | licence |
|---|---|---|
| Tatoeba-v1 benchmark (112 languages, up to 1000 pairs each) | `data/tatoeba/v1` of the LASER repository (Artetxe & Schwenk, 2019), extracted from tatoeba.org on 2018-11-17 | CC-BY 2.0 FR (Tatoeba) |
| Training pairs | Tatoeba translation-challenge test sets, release v2021-08-07 (Tiedemann, 2020), as collected in Helsinki-NLP/OPUS-MT-testsets | CC-BY 2.0 FR (Tatoeba) |
| FLORES-200 devtest (50 languages) | NLLB Team et al. (2022), via Helsinki-NLP/OPUS-MT-testsets | CC-BY-SA 4.0 |

Attribution: sentences and translations by the contributors of
[Tatoeba](https://tatoeba.org); FLORES-200 by Meta AI and the NLLB team.
`flores200_devtest.tsv.gz` is a derived work of CC-BY-SA 4.0 material and is
distributed under CC-BY-SA 4.0.

## Processing

**Benchmark.** The 112 `tatoeba-v1/{{lang}}-eng.tsv` files, concatenated with
the language code as first column; text untouched except stripping leading
and trailing whitespace.  English sides differ from language to language (as
in the original benchmark); {small_langs} languages have fewer than 1000 pairs.

**Training pairs.** From the 129 `tatoeba-challenge/*-eng.tsv` files:

1. *Per-row labels.* The language is the row's label column (ISO 639-3,
   script suffix split off into the `script` column), never the file name:
   macro-language files mix languages (`zho-eng.tsv` holds cmn, yue, wuu,
   lzh...; `ara-eng.tsv` holds ara, arq, arz...; `msa-eng.tsv` holds ind,
   zsm, max...).
2. *Deduplication* on (label, normalised non-English side, normalised
   English side), where the normalisation is NFC + case folding + collapsed
   whitespace: {n_dup} rows removed (the same pair in a macro-language file
   and a language file, mostly).
3. *Leakage filter.* A pair is removed if its non-English side equals
   **any** Tatoeba-v1 non-English sentence (of any language: stricter
   than "of the same language", it also catches a Bosnian training sentence
   identical to a Croatian test sentence) or its English side equals
   **any** Tatoeba-v1 English sentence, where "equals" compares *leakage
   keys*: NFKC, case folding, and every punctuation mark, symbol, space and
   invisible format character removed (`labse_lite.data.leakage_key`), so
   `Tom isn't here!` and `tom isn’t here` are the same sentence.  (An
   earlier release compared NFC + case folding + whitespace only and kept
   {n_near_dup} training pairs whose sentence differed from a test
   sentence only in punctuation, character width or spacing.)  Removed: {n_leak} pairs
   ({n_leak_xx} by the non-English side, {n_leak_en} by the English side;
   a pair can match both).  `tests/test_data.py` re-checks that no training
   pair matches the benchmark, and that the check fails when one is added.
4. Rows sorted by (lang, script, xx, en).

Result: **{train_pairs} pairs in {train_langs} language labels.**  (The raw
README's "about 390,000" counts exact matches of the same language only; the
filter here is stricter.)

**Zero-shot languages.**  15 Tatoeba-v1 languages have no challenge file of
their own: {zero_shot}.  Of these, {zero_in_train} still occur as row labels
inside macro-language files and are in `train.tsv.gz`; a zero-shot
experiment must exclude them (`load_train_pairs(exclude=[...])`).

**FLORES-200.** The 50 `{{iso639-3}}_{{Script}}.txt` files side by side,
multi-way parallel (row *i* is the same sentence in every column).

## Derived at run time: a BUCC-style mining benchmark

`labse_lite.bucc.build_bucc_benchmark(code, split)` builds a mining
benchmark from `flores200_devtest.tsv.gz` (nothing extra is shipped):
FLORES sentence ids 0–505 form the `tune` split and 506–1011 the `test`
split.  Within a split, ids with `id % 4` in {{0, 1}} appear on both sides
(the gold translation pairs), `id % 4 == 2` only on the source side and
`id % 4 == 3` only on the English side; because consecutive FLORES ids come
from the same article, each gold sentence has same-article non-parallel
neighbours on the other side (hard distractors).  `n_distractors`
(default 2,000) Tatoeba-v1 English sentences are added to the English
side.  Both sides are shuffled with a fixed seed.  For the `test` split of
any language: 379 source sentences, 379 + 2,000 English sentences, 252 gold
pairs.  The split is by id, so the two splits share almost no article.

## Per-language counts

`train` = training pairs with this label; `test` = Tatoeba-v1 pairs; `-` =
none.

| lang | train | test | lang | train | test | lang | train | test |
|---|---|---|---|---|---|---|---|---|
{count_rows}
"""

ZERO_SHOT = (
    "amh",
    "ang",
    "arz",
    "ast",
    "csb",
    "dsb",
    "hsb",
    "lvs",
    "max",
    "mhr",
    "slk",
    "swg",
    "swh",
    "wuu",
    "xho",
)


def render_card(stats: dict) -> str:
    train = stats["train"]["languages"]
    test = stats["tatoeba_v1"]["languages"]
    langs = sorted(set(train) | set(test))
    cells = [(l, str(train.get(l, "-")), str(test.get(l, "-"))) for l in langs]
    per_col = -(-len(cells) // 3)
    rows = []
    for i in range(per_col):
        row = []
        for j in range(3):
            k = i + j * per_col
            row.extend(cells[k] if k < len(cells) else ("", "", ""))
        rows.append("| " + " | ".join(row) + " |")
    removed = stats["train"]["removed"]
    files = stats["files"]
    return CARD.format(
        train_pairs=stats["train"]["pairs"],
        bench_pairs=stats["tatoeba_v1"]["pairs"],
        flores_rows=stats["flores200_devtest"]["sentences"],
        flores_langs=len(stats["flores200_devtest"]["languages"]),
        sha_train=files["train.tsv.gz"],
        sha_bench=files["tatoeba_v1.tsv.gz"],
        sha_flores=files["flores200_devtest.tsv.gz"],
        small_langs=sum(n < 1000 for n in test.values()),
        n_dup=removed.get("duplicate", 0),
        n_leak=removed.get("leak_total", 0),
        n_near_dup=removed.get("leak_near_duplicate_only", 0),
        n_leak_xx=removed.get("xx_in_tatoeba_v1", 0),
        n_leak_en=removed.get("en_in_tatoeba_v1", 0),
        train_langs=len(train),
        zero_shot=", ".join(ZERO_SHOT),
        zero_in_train=", ".join(
            f"{l} ({train[l]} pairs)" for l in ZERO_SHOT if l in train
        ),
        count_rows="\n".join(rows),
    )


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
        raise SystemExit(
            f"expected 112 Tatoeba-v1 languages, found {len(v1_counts)}"
        )
    v1_xx = {leakage_key(r[1]) for r in bench_rows} - {""}
    v1_en = {leakage_key(r[2]) for r in bench_rows} - {""}
    # The earlier, exact keys: only to count what the looser key adds.
    exact_xx = {normalize_for_overlap(r[1]) for r in bench_rows}
    exact_en = {normalize_for_overlap(r[2]) for r in bench_rows}

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
            leak_xx = leakage_key(xx) in v1_xx
            leak_en = leakage_key(en) in v1_en
            if leak_xx or leak_en:
                if leak_xx:
                    removed["xx_in_tatoeba_v1"] += 1
                if leak_en:
                    removed["en_in_tatoeba_v1"] += 1
                removed["leak_total"] += 1
                if key[1] not in exact_xx and key[2] not in exact_en:
                    removed["leak_near_duplicate_only"] += 1
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
        "tatoeba_v1.tsv.gz": write_gzip_tsv(
            out / "tatoeba_v1.tsv.gz", bench_rows
        ),
        "train.tsv.gz": write_gzip_tsv(out / "train.tsv.gz", train_rows),
        "flores200_devtest.tsv.gz": write_gzip_tsv(
            out / "flores200_devtest.tsv.gz", flores_rows
        ),
    }
    stats["tatoeba_v1"] = {"pairs": len(bench_rows), "languages": v1_counts}
    stats["train"] = {
        "pairs": len(train_rows),
        "removed": dict(sorted(removed.items())),
        "languages": dict(sorted(train_counts.items())),
    }
    stats["flores200_devtest"] = {
        "sentences": len(flores_rows) - 1,
        "languages": columns,
    }
    (out / "stats.json").write_text(
        json.dumps(stats, indent=1, ensure_ascii=False, sort_keys=True) + "\n",
        encoding="utf-8",
    )
    (out / "README.md").write_text(render_card(stats), encoding="utf-8")
    print(f"tatoeba-v1: {len(bench_rows)} pairs, {len(v1_counts)} languages")
    print(
        f"train: {len(train_rows)} pairs, {len(train_counts)} languages; "
        f"removed {dict(removed)}"
    )
    print(f"flores: {len(flores_rows) - 1} sentences x {len(columns)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
