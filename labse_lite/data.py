"""The shipped data (``data/``) and the same shapes from the Hugging Face hub.

Offline (default) everything is read from the compact files that
``data/prepare.py`` builds from the raw Tatoeba/FLORES copies; see
``data/README.md`` (the data card).  With ``source="hub"`` the loaders call
:func:`datasets.load_dataset` instead and return the same Python shapes, so
the rest of the package never needs to know where the data came from.
"""

from __future__ import annotations

import gzip
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

__all__ = [
    "DataError",
    "ParallelCorpus",
    "normalize_for_overlap",
    "leakage_key",
    "data_dir",
    "load_train_pairs",
    "load_tatoeba",
    "load_flores",
    "read_tsv",
    "select_corpus",
    "dev_split",
    "smoothed_probabilities",
    "english_paraphrases",
    "load_english_pairs",
    "load_corpus_file",
]


class DataError(ValueError):
    """Raised for missing, malformed or inconsistent data."""


def normalize_for_overlap(text: str) -> str:
    """NFC, case-folded, whitespace-collapsed key: two sentences with the
    same key are "the same sentence" (deduplication, in-batch duplicates,
    the large pool's candidates)."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


# Unicode categories a leakage key ignores: punctuation (P*), symbols (S*),
# separators (Z*), control and format characters (Cc, Cf: zero-width
# joiners, soft hyphens, direction marks).
_LEAKAGE_IGNORED = ("P", "S", "Z", "Cc", "Cf")


def leakage_key(text: str) -> str:
    """Key under which a training sentence counts as a copy of a benchmark
    sentence: NFKC (full-width forms, ligatures, compatibility digits),
    case folding (twice, as NFKC can undo it), and every punctuation mark,
    symbol, space and invisible format character removed.  So "Tom isn't
    here!" , "tom isn’t here" and "Tom isnt here." share one key.

    Deliberately looser than :func:`normalize_for_overlap`: the leakage
    filter errs on the side of removing a training pair.  A sentence made
    only of ignored characters has the empty key, which matches nothing.
    """
    text = unicodedata.normalize("NFKC", text.casefold()).casefold()
    return "".join(
        ch
        for ch in text
        if not unicodedata.category(ch).startswith(_LEAKAGE_IGNORED)
    )


def data_dir() -> Path:
    """The folder of the shipped data files (read-only: nothing is ever
    written there), the first of:

    1. ``$LABSE_LITE_DATA``, when set;
    2. the repository's ``data/`` beside the package, when it holds
       ``train.tsv.gz`` (a clone, or an editable install of one);
    3. the copy inside the installed package, ``labse_lite/_data``: the
       wheel ships ``data/``'s files as the package ``labse_lite._data``
       (``pip install labse-lite`` from PyPI or a built wheel).

    Caches never go here but to :func:`labse_lite.runtime.cache_root`.
    """
    env = os.environ.get("LABSE_LITE_DATA")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parent.parent / "data"
    if (repo / "train.tsv.gz").is_file():
        return repo
    from importlib.resources import files

    # files() of the regular package ``labse_lite`` is a real Path for a
    # package on disk (``labse_lite._data``, having no __init__.py, may be
    # a namespace package, whose files() is not).
    return Path(str(files("labse_lite") / "_data"))


def read_tsv(path: str | os.PathLike, n_cols: int | None) -> list[list[str]]:
    """Read a (optionally gzipped) UTF-8 TSV with exactly ``n_cols`` columns
    (``None``: as many as the first row has).

    Raises :class:`DataError` naming the file and line for a missing file,
    bytes that are not UTF-8, or a wrong number of columns.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"data file not found: {path}. The shipped files live in data/ "
            f"(rebuild with `python data/prepare.py`), or set "
            f"LABSE_LITE_DATA to another folder."
        )
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    with opener(path, "rb") as handle:
        for line_no, raw in enumerate(handle, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataError(
                    f"{path}:{line_no}: not valid UTF-8 ({err.reason} at "
                    f"byte {err.start}); re-encode the file as UTF-8"
                ) from None
            parts = line.rstrip("\r\n").split("\t")
            if n_cols is None:
                n_cols = len(parts)
            if len(parts) != n_cols:
                raise DataError(
                    f"{path}:{line_no}: expected {n_cols} "
                    f"tab-separated columns, got {len(parts)}"
                )
            rows.append(parts)
    return rows


def load_corpus_file(path: str | os.PathLike) -> "ParallelCorpus":
    """Pairs from a ``lang  xx  en`` TSV (optionally gzipped), as written by
    :func:`labse_lite.launch.write_corpus`."""
    rows = read_tsv(path, 3)
    if not rows:
        raise DataError(f"{path} holds no pairs")
    langs, xx, en = (list(col) for col in zip(*rows))
    return ParallelCorpus(langs, xx, en)


@dataclass
class ParallelCorpus:
    """Translation pairs with English, one language label per pair.

    ``langs[i]`` is the ISO 639-3 code of ``xx[i]``; ``en[i]`` is its English
    translation.
    """

    langs: list[str]
    xx: list[str]
    en: list[str]

    def __post_init__(self):
        if not (len(self.langs) == len(self.xx) == len(self.en)):
            raise DataError(
                f"mismatched corpus columns: {len(self.langs)} labels, "
                f"{len(self.xx)} sentences, {len(self.en)} translations"
            )
        # Language labels are short codes; a sentence here means the
        # columns were passed in the wrong order (langs, xx, en).
        bad = [
            l
            for l in set(self.langs)
            if not isinstance(l, str)
            or not l
            or len(l) > 16
            or any(c.isspace() for c in l)
        ]
        if bad:
            raise DataError(
                f"{len(bad)} language label(s) are not codes, e.g. "
                f"{bad[0]!r}: pass the columns as (langs, xx, en)"
            )

    def __len__(self) -> int:
        return len(self.xx)

    def languages(self) -> list[str]:
        return sorted(set(self.langs))

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for lang in self.langs:
            out[lang] = out.get(lang, 0) + 1
        return dict(sorted(out.items()))

    def take(self, rows: Iterable[int]) -> "ParallelCorpus":
        """The pairs at positions ``rows``, in that order."""
        rows = [int(i) for i in rows]
        return ParallelCorpus(
            [self.langs[i] for i in rows],
            [self.xx[i] for i in rows],
            [self.en[i] for i in rows],
        )

    def subset(
        self,
        languages: Iterable[str] | None = None,
        exclude: Iterable[str] = (),
    ) -> "ParallelCorpus":
        """Keep rows whose label is in ``languages`` and not in ``exclude``."""
        keep = None if languages is None else set(languages)
        drop = set(exclude)
        idx = [
            i
            for i, lang in enumerate(self.langs)
            if (keep is None or lang in keep) and lang not in drop
        ]
        return self.take(idx)

    def sample(self, n: int, seed: int = 0) -> "ParallelCorpus":
        """``n`` pairs drawn uniformly without replacement (every language
        keeps its share in expectation), in corpus order; the whole corpus
        when ``n >= len(self)``.  The same (n, seed) gives the same rows."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if n >= len(self):
            return self
        import numpy as np

        idx = np.sort(
            np.random.default_rng(seed).choice(
                len(self), size=n, replace=False
            )
        )
        return self.take(idx)

    def sample_per_language(self, n: int, seed: int = 0) -> "ParallelCorpus":
        """At most ``n`` pairs of every language (all of a language with
        fewer), drawn as :meth:`sample` draws them, languages in sorted
        order: equal data per language, whatever their sizes."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        parts = [
            self.subset([lang]).sample(n, seed=seed)
            for lang in self.languages()
        ]
        return ParallelCorpus(
            [l for p in parts for l in p.langs],
            [x for p in parts for x in p.xx],
            [e for p in parts for e in p.en],
        )

    def monolingual_texts(self) -> dict[str, list[str]]:
        """Sentences by language with English as one more language
        (``"eng"``: its distinct sentences, sorted): the input of
        :func:`labse_lite.tokenization.train_wordpiece`."""
        texts: dict[str, list[str]] = {}
        for lang, xx in zip(self.langs, self.xx):
            texts.setdefault(lang, []).append(xx)
        texts["eng"] = sorted(set(self.en))
        return texts

    def by_language(self) -> dict[str, tuple[list[str], list[str]]]:
        out: dict[str, tuple[list[str], list[str]]] = {}
        for lang, x, e in zip(self.langs, self.xx, self.en):
            xs, es = out.setdefault(lang, ([], []))
            xs.append(x)
            es.append(e)
        return out


def english_paraphrases(
    corpus: "ParallelCorpus", label: str = "eng"
) -> "ParallelCorpus":
    """English-only sentence pairs for zero-shot transfer experiments: two
    *different* English sentences that translate the same non-English
    sentence are paraphrases of each other.

    Only English columns reach the result (``xx`` and ``en`` both hold
    English sentences; every row is labelled ``label``): the non-English
    sentence serves as the join key and is then dropped.  For a sentence
    with translations e1, e2, ..., ek (distinct after
    :func:`normalize_for_overlap`), the pairs are (e1, e2), (e2, e3), ...,
    in corpus order; a paraphrase pair is kept once.
    """
    groups: dict[tuple[str, str], list[str]] = {}
    for lang, xx, en in zip(corpus.langs, corpus.xx, corpus.en):
        groups.setdefault((lang, normalize_for_overlap(xx)), []).append(en)
    seen: set[tuple[str, str]] = set()
    first, second = [], []
    for translations in groups.values():
        distinct: dict[str, str] = {}
        for en in translations:
            distinct.setdefault(normalize_for_overlap(en), en)
        texts = list(distinct.values())
        for a, b in zip(texts, texts[1:]):
            key = tuple(
                sorted((normalize_for_overlap(a), normalize_for_overlap(b)))
            )
            if key not in seen:
                seen.add(key)
                first.append(a)
                second.append(b)
    return ParallelCorpus([label] * len(first), first, second)


def load_english_pairs(
    source: str = "local",
    hub_id: str = "sentence-transformers/all-nli",
    hub_config: str = "pair",
    hub_split: str = "train",
    hub_columns: tuple[str, str] = ("anchor", "positive"),
    path: str | os.PathLike | None = None,
    limit: int | None = None,
) -> ParallelCorpus:
    """English-only sentence pairs for English-only fine-tuning
    (chapter 10), as a corpus whose two columns are both English.

    ``source="local"``: :func:`english_paraphrases` of the shipped training
    pairs (no download).  ``source="hub"``: NLI pairs as the 2019 blog used
    them -- ``hub_id`` (SNLI + MultiNLI; its ``pair`` config holds
    (premise, entailed hypothesis) as ``hub_columns``).  ``path``: a local
    copy of such a dataset (a folder or a file of ``.parquet``, ``.json``,
    ``.jsonl`` or ``.csv`` rows with ``hub_columns``), read by ``datasets``
    without a network.  ``limit`` keeps the first N pairs.
    """
    if source == "local" and path is None:
        corpus = english_paraphrases(load_train_pairs())
    elif source == "hub" or path is not None:
        import datasets  # optional dependency, only for these paths

        if path is not None:
            ds = _local_dataset(Path(path), hub_split)
        else:
            ds = datasets.load_dataset(hub_id, hub_config, split=hub_split)
        missing = [c for c in hub_columns if c not in ds.column_names]
        if missing:
            raise DataError(
                f"{path or hub_id} has no column(s) {missing}; "
                f"columns are {ds.column_names}"
            )
        if limit is not None:
            ds = ds.select(range(min(limit, len(ds))))
        first, second = ds[hub_columns[0]], ds[hub_columns[1]]
        keep = [
            i
            for i, (a, b) in enumerate(zip(first, second))
            if isinstance(a, str)
            and isinstance(b, str)
            and a.strip()
            and b.strip()
        ]
        corpus = ParallelCorpus(
            ["eng"] * len(keep),
            [first[i] for i in keep],
            [second[i] for i in keep],
        )
    else:
        raise DataError(f"source must be 'local' or 'hub', not {source!r}")
    if limit is not None and len(corpus) > limit:
        corpus = ParallelCorpus(
            corpus.langs[:limit], corpus.xx[:limit], corpus.en[:limit]
        )
    if len(corpus) == 0:
        raise DataError(f"no English pairs in {path or source}")
    return corpus


def _local_dataset(path: Path, split: str):
    """A ``datasets.Dataset`` from a local copy: one data file, or a folder
    of them (parquet, json/jsonl or csv; the first kind found)."""
    import datasets

    kinds = {
        ".parquet": "parquet",
        ".json": "json",
        ".jsonl": "json",
        ".csv": "csv",
    }
    files = (
        [path]
        if path.is_file()
        else sorted(
            f
            for f in path.rglob("*")
            if f.suffix in kinds
            and (split in f.name or split in f.parent.name)
        )
    )
    if not files and path.is_dir():
        files = sorted(f for f in path.rglob("*") if f.suffix in kinds)
    if not files:
        raise DataError(
            f"no data files (.parquet, .json, .jsonl, .csv) in {path}"
        )
    kind = kinds[files[0].suffix]
    files = [str(f) for f in files if kinds.get(f.suffix) == kind]
    return datasets.load_dataset(kind, data_files=files, split="train")


def _check_languages(
    requested: Sequence[str] | None, available: Iterable[str], what: str
) -> None:
    if requested is None:
        return
    if isinstance(requested, str):
        raise DataError(
            f"languages must be a list of codes, not the string "
            f"{requested!r} (did you mean [{requested!r}]?)"
        )
    unknown = sorted(set(requested) - set(available))
    if unknown:
        raise DataError(
            f"unknown language code(s) for {what}: {unknown}. "
            f"Known: {' '.join(sorted(set(available)))}"
        )


def load_train_pairs(
    languages: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    path: str | os.PathLike | None = None,
) -> ParallelCorpus:
    """Training pairs (Tatoeba challenge, Tatoeba-v1 removed); see data card.

    ``languages`` keeps only these labels (all by default); ``exclude`` drops
    labels, e.g. for a zero-shot experiment.
    """
    rows = read_tsv(path or data_dir() / "train.tsv.gz", 4)
    corpus = ParallelCorpus(
        [r[0] for r in rows], [r[2] for r in rows], [r[3] for r in rows]
    )
    _check_languages(languages, corpus.langs, "the training data")
    if languages is None and not exclude:
        return corpus
    return corpus.subset(languages, exclude)


def load_tatoeba(
    languages: Sequence[str] | None = None,
    source: str = "local",
    hub_id: str = "mteb/tatoeba-bitext-mining",
    hub_config: str = "{lang}-eng",
    hub_split: str = "test",
    hub_columns: tuple[str, str] = ("sentence1", "sentence2"),
    path: str | os.PathLike | None = None,
) -> ParallelCorpus:
    """The Tatoeba-v1 benchmark (112 languages, up to 1000 pairs each).

    ``source="local"`` reads ``data/tatoeba_v1.tsv.gz``; ``source="hub"``
    loads ``hub_id`` with one config per language (``hub_config`` formatted
    with ``lang``) whose ``hub_columns`` are (non-English, English).  The hub
    path needs ``languages``, or uses the 112 languages of the local copy.
    """
    if source == "local":
        rows = read_tsv(path or data_dir() / "tatoeba_v1.tsv.gz", 3)
        corpus = ParallelCorpus(
            [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
        )
        _check_languages(languages, corpus.langs, "Tatoeba-v1")
        return corpus if languages is None else corpus.subset(languages)
    if source != "hub":
        raise DataError(f"source must be 'local' or 'hub', not {source!r}")
    import datasets  # optional dependency, only for the hub path

    if languages is None:
        languages = sorted(set(load_tatoeba().langs))
    langs, xx, en = [], [], []
    for lang in languages:
        ds = datasets.load_dataset(
            hub_id, hub_config.format(lang=lang), split=hub_split
        )
        missing = [c for c in hub_columns if c not in ds.column_names]
        if missing:
            raise DataError(
                f"{hub_id} ({lang}) has no column(s) {missing}; "
                f"columns are {ds.column_names}"
            )
        xx.extend(ds[hub_columns[0]])
        en.extend(ds[hub_columns[1]])
        langs.extend([lang] * len(ds))
    return ParallelCorpus(langs, xx, en)


def load_flores(
    languages: Sequence[str] | None = None,
    source: str = "local",
    hub_id: str = "facebook/flores",
    hub_split: str = "devtest",
    hub_column: str = "sentence",
    path: str | os.PathLike | None = None,
) -> dict[str, list[str]]:
    """FLORES-200 devtest, multi-way parallel: ``{code: sentences}``.

    Codes are ``iso639-3_Script`` (``deu_Latn``); line *i* is the same
    sentence in every language.  ``source="hub"`` loads one config per code
    from ``hub_id``.
    """
    if source == "local":
        rows = read_tsv(path or data_dir() / "flores200_devtest.tsv.gz", None)
        header, body = rows[0], rows[1:]
        table = {code: [r[j] for r in body] for j, code in enumerate(header)}
        _check_languages(languages, table, "FLORES-200")
        if languages is None:
            return table
        return {code: table[code] for code in languages}
    if source != "hub":
        raise DataError(f"source must be 'local' or 'hub', not {source!r}")
    import datasets

    if languages is None:
        raise DataError("load_flores(source='hub') needs explicit languages")
    return {
        code: list(
            datasets.load_dataset(hub_id, code, split=hub_split)[hub_column]
        )
        for code in languages
    }


def select_corpus(config, corpus: ParallelCorpus | None) -> ParallelCorpus:
    """The config's ``languages`` / ``exclude_languages`` of ``corpus``
    (default: the shipped training pairs)."""
    if corpus is None:
        return load_train_pairs(config.languages, config.exclude_languages)
    if config.languages is not None or config.exclude_languages:
        return corpus.subset(config.languages, config.exclude_languages)
    return corpus


def dev_split(
    corpus: ParallelCorpus, per_language: int = 200, seed: int = 0
) -> tuple[ParallelCorpus, ParallelCorpus]:
    """``(train_rest, dev)``: a development set held out of the training
    pairs, so that a recipe search can select on something that is not a
    test set (Tatoeba and the large pool stay for the final comparison).

    Every language gives ``per_language`` pairs drawn at random, or a
    quarter of its pairs when that is fewer (so a small language keeps
    most of its training data; one with under 4 pairs gives none).  The
    split is *by sentence*: a training pair is dropped when its
    non-English or its English side has the :func:`leakage_key` of any
    dev sentence, either side -- a Tatoeba English sentence is often
    translated into many languages, and a model that trained on it in
    German would find it again for a French dev query.  ``dev`` is in
    corpus order; the same corpus and seed give the same split.

    The shipped training pairs are already leakage-filtered against
    Tatoeba-v1 with the same keys (data card, step 3), so the dev set
    shares no sentence with the benchmark either; against FLORES-200
    (Wikipedia text) nothing is filtered, and none is shared
    (``tests/test_data.py`` checks every key).
    """
    import numpy as np

    if per_language < 1:
        raise ValueError(f"per_language must be >= 1, got {per_language}")
    rng = np.random.default_rng(seed)
    langs = np.asarray(corpus.langs)
    picked = [np.empty(0, dtype=np.int64)]
    for lang in corpus.languages():
        rows = np.flatnonzero(langs == lang)
        n = min(per_language, len(rows) // 4)
        if n:
            picked.append(np.sort(rng.choice(rows, size=n, replace=False)))
    dev_rows = np.sort(np.concatenate(picked))
    dev = corpus.take(dev_rows)
    held = {leakage_key(s) for s in dev.xx + dev.en} - {""}
    in_dev = np.zeros(len(corpus), dtype=bool)
    in_dev[dev_rows] = True
    keep = [
        i
        for i in range(len(corpus))
        if not in_dev[i]
        and leakage_key(corpus.xx[i]) not in held
        and leakage_key(corpus.en[i]) not in held
    ]
    return corpus.take(keep), dev


def smoothed_probabilities(sizes, alpha: float):
    """Sampling probabilities p_l ∝ n_l ** alpha for languages of sizes
    n_l (alpha = 1: proportional to size, 0: uniform): the smoothing of
    training batches, pre-training sequences and the vocabulary sample."""
    import numpy as np

    p = np.asarray(sizes, dtype=np.float64) ** alpha
    return p / p.sum()


def distinct_rows(texts: Sequence[str], key=None):
    """``(distinct, rows)``: each distinct text once, in order of first
    appearance, and for every text the row of its copy in ``distinct``
    (int64 array).  Texts are the same when ``key`` (default: the text
    itself; e.g. :func:`normalize_for_overlap`) maps them alike.  Embed or
    tokenise ``distinct``, then index the result by ``rows``."""
    import numpy as np

    index: dict[str, int] = {}
    distinct: list[str] = []
    rows = np.empty(len(texts), dtype=np.int64)
    for i, text in enumerate(texts):
        k = text if key is None else key(text)
        row = index.get(k)
        if row is None:
            row = index[k] = len(distinct)
            distinct.append(text)
        rows[i] = row
    return distinct, rows
