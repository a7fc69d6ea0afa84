"""The shipped data: leakage guarantee, loaders, bad input, hub path."""

import gzip
import importlib.util
import json
from pathlib import Path

import pytest

from labse_lite import data as D
from labse_lite.languages import XTREME_36

ROOT = Path(__file__).resolve().parent.parent


def find_leaks(train: D.ParallelCorpus, bench: D.ParallelCorpus):
    """Training pairs whose non-English side is any Tatoeba-v1 test sentence
    or whose English side is any Tatoeba-v1 English sentence."""
    bench_xx = {D.leakage_key(s) for s in bench.xx} - {""}
    bench_en = {D.leakage_key(s) for s in bench.en} - {""}
    return _rows_with_keys(train, bench_xx, bench_en)


def _rows_with_keys(train: D.ParallelCorpus, xx_keys: set, en_keys: set):
    """Rows whose non-English side's leakage key is in ``xx_keys`` or
    whose English side's is in ``en_keys``."""
    return [
        i
        for i, (x, e) in enumerate(zip(train.xx, train.en))
        if D.leakage_key(x) in xx_keys or D.leakage_key(e) in en_keys
    ]


@pytest.mark.slow
def test_no_tatoeba_v1_sentence_in_training_data():
    train, bench = D.load_train_pairs(), D.load_tatoeba()
    assert len(train) > 300_000
    assert find_leaks(train, bench) == []


@pytest.mark.slow
def test_no_flores_sentence_in_training_data():
    """FLORES-200 (Wikipedia sentences) is not filtered against by
    data/prepare.py; this measures that no training sentence, on either
    side, has the leakage key of any FLORES sentence in any language."""
    train, flores = D.load_train_pairs(), D.load_flores()
    held = {D.leakage_key(s) for sents in flores.values() for s in sents}
    held.discard("")
    assert len(held) > 40_000
    assert _rows_with_keys(train, held, held) == []


def test_leak_check_detects_an_added_benchmark_pair():
    train, bench = D.load_train_pairs(["deu"]), D.load_tatoeba(["deu"])
    polluted = D.ParallelCorpus(
        train.langs + ["deu"],
        train.xx + [bench.xx[17]],
        train.en + ["An English sentence no test has."],
    )
    assert find_leaks(polluted, bench) == [len(train)]
    polluted = D.ParallelCorpus(
        train.langs + ["fra"],
        train.xx + ["Une phrase inédite."],
        train.en + [bench.en[3].upper()],
    )
    assert find_leaks(polluted, bench) == [len(train)]


def test_leak_check_catches_punctuation_and_width_variants():
    """Variants the earlier NFC + case-fold + whitespace key missed."""
    bench = D.load_tatoeba(["deu"])
    en = next(s for s in bench.en if s.endswith(".") and "'" in s)
    variants = [
        en[:-1] + "!",
        en.replace("'", "\u2019"),  # ! and ’
        "\u201c" + en + "\u201d",
        en.replace(" ", "  , "),
    ]
    for variant in variants:
        assert D.normalize_for_overlap(variant) not in {
            D.normalize_for_overlap(s) for s in bench.en
        }  # old key misses
        polluted = D.ParallelCorpus(["deu"], ["Ein neuer Satz."], [variant])
        assert find_leaks(polluted, bench) == [0], variant
    xx = bench.xx[5]
    full_width = "".join(
        chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in xx
    )
    polluted = D.ParallelCorpus(
        ["deu"], [full_width + " ?"], ["A sentence no test has."]
    )
    assert find_leaks(polluted, bench) == [0]


def test_leakage_key_keeps_words_apart():
    assert D.leakage_key("Tom isn't here!") == D.leakage_key("tom isnt here")
    assert D.leakage_key("Tom is here.") != D.leakage_key("Tom was here.")
    assert D.leakage_key("Ich bin müde.") != D.leakage_key("Ich bin mude.")
    assert D.leakage_key("?!…") == ""


def test_benchmark_has_all_112_languages():
    bench = D.load_tatoeba()
    assert len(bench.languages()) == 112
    assert len(bench) == 88_877
    assert set(XTREME_36) <= set(bench.languages())
    counts = bench.counts()
    assert max(counts.values()) == 1000 and counts["swg"] == 112


def test_training_labels_are_per_row_and_deduplicated():
    train = D.load_train_pairs()
    counts = train.counts()
    # Rows of the macro-language files carry their own labels.
    assert {"cmn", "yue", "wuu", "lzh", "arz", "max", "nob", "nno"} <= set(
        counts
    )
    assert "zho" not in counts and "msa" not in counts
    keys = {
        (l, D.normalize_for_overlap(x), D.normalize_for_overlap(e))
        for l, x, e in zip(train.langs, train.xx, train.en)
    }
    assert len(keys) == len(train)


def test_stats_and_checksums_match_files():
    import hashlib

    stats = json.loads((ROOT / "data" / "stats.json").read_text())
    for name, digest in stats["files"].items():
        assert (
            hashlib.sha256((ROOT / "data" / name).read_bytes()).hexdigest()
            == digest
        ), name
    assert stats["train"]["pairs"] == len(D.load_train_pairs())


def test_prepare_script_normaliser_agrees_with_package():
    spec = importlib.util.spec_from_file_location(
        "prepare", ROOT / "data" / "prepare.py"
    )
    prepare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(prepare)
    for s in ["  Tom  is\tHERE. ", "Ça va", "Straße", "e\u0301"]:
        assert prepare.normalize_for_overlap(s) == D.normalize_for_overlap(s)
    for s in [
        "Tom isn't here!",
        "\uff34om\u3000isn\u2019t",
        "a\u200db",
        "e\u0301\u00ad",
        "\u2460 \ufb01",
    ]:
        assert prepare.leakage_key(s) == D.leakage_key(s)


def test_flores_is_multiway():
    flores = D.load_flores()
    assert len(flores) == 50
    assert {len(v) for v in flores.values()} == {1012}
    sub = D.load_flores(["eng_Latn", "deu_Latn"])
    assert sub["deu_Latn"][0] == flores["deu_Latn"][0]


def test_unknown_language_codes_are_reported():
    with pytest.raises(D.DataError, match="unknown language code.*xyz"):
        D.load_tatoeba(["deu", "xyz"])
    with pytest.raises(D.DataError, match="unknown language"):
        D.load_train_pairs(["qqq"])
    with pytest.raises(D.DataError, match="list of codes"):
        D.load_tatoeba("deu")


def test_missing_file_and_bad_encoding(tmp_path):
    with pytest.raises(D.DataError, match="not found"):
        D.load_tatoeba(path=tmp_path / "nope.tsv.gz")
    bad = tmp_path / "bad.tsv"
    bad.write_bytes("deu\tHallo\tHello\n".encode() + b"deu\t\xff\xfe\tx\n")
    with pytest.raises(D.DataError, match=r"bad.tsv:2: not valid UTF-8"):
        D.load_tatoeba(path=bad)
    cols = tmp_path / "cols.tsv.gz"
    with gzip.open(cols, "wt", encoding="utf-8") as handle:
        handle.write("deu\tnur zwei\n")
    with pytest.raises(D.DataError, match="expected 3"):
        D.load_tatoeba(path=cols)


def test_mismatched_pair_lists():
    with pytest.raises(D.DataError, match="mismatched"):
        D.ParallelCorpus(["deu", "deu"], ["a", "b"], ["a"])


def test_data_dir_override(tmp_path, monkeypatch):
    monkeypatch.setenv("LABSE_LITE_DATA", str(tmp_path))
    with pytest.raises(D.DataError, match="not found"):
        D.load_train_pairs()


def _write_hub_copy(root: Path, configs: dict, split: str) -> Path:
    """A local folder laid out like a hub dataset repo: one JSON-lines file
    per config, declared in the README's YAML header."""
    lines = ["---", "configs:"]
    for name, rows in configs.items():
        folder = root / name
        folder.mkdir(parents=True)
        with open(folder / f"{split}.jsonl", "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        lines += [
            f"- config_name: {name}",
            "  data_files:",
            f"  - split: {split}",
            f"    path: {name}/{split}.jsonl",
        ]
    lines.append("---")
    (root / "README.md").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """`datasets` with the network off and a private cache."""
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))


def test_tatoeba_hub_path_on_a_local_datasets_copy(tmp_path, offline_hub):
    local = D.load_tatoeba(["deu", "jav"])
    by = local.by_language()
    configs = {
        f"{lang}-eng": [
            {"sentence1": x, "sentence2": e} for x, e in zip(*by[lang])
        ]
        for lang in ("deu", "jav")
    }
    repo = _write_hub_copy(tmp_path / "tatoeba", configs, "test")
    hub = D.load_tatoeba(["deu", "jav"], source="hub", hub_id=str(repo))
    assert hub.langs == local.langs
    assert hub.xx == local.xx and hub.en == local.en


def test_flores_hub_path_on_a_local_datasets_copy(tmp_path, offline_hub):
    local = D.load_flores(["eng_Latn", "fra_Latn"])
    configs = {
        code: [{"sentence": s} for s in sents] for code, sents in local.items()
    }
    repo = _write_hub_copy(tmp_path / "flores", configs, "devtest")
    hub = D.load_flores(
        ["eng_Latn", "fra_Latn"], source="hub", hub_id=str(repo)
    )
    assert hub == local
    with pytest.raises(D.DataError, match="source"):
        D.load_flores(source="web")


def test_corpus_columns_in_the_wrong_order_are_caught():
    with pytest.raises(D.DataError, match="not codes"):
        D.ParallelCorpus(
            ["Guten Morgen.", "Hallo Welt"],
            ["Good morning.", "Hello world"],
            ["deu", "deu"],
        )


def test_sample_is_uniform_deterministic_and_ordered():
    from labse_lite.data import load_train_pairs

    corpus = load_train_pairs(["deu", "fra", "afr"])
    a, b = corpus.sample(3000, seed=4), corpus.sample(3000, seed=4)
    assert a.xx == b.xx and len(a) == 3000
    assert a.xx != corpus.sample(3000, seed=5).xx
    rows = {
        (l, x, e): i
        for i, (l, x, e) in enumerate(zip(corpus.langs, corpus.xx, corpus.en))
    }
    order = [rows[r] for r in zip(a.langs, a.xx, a.en)]
    assert order == sorted(order)  # corpus order kept
    share = a.counts()["deu"] / len(a)
    assert abs(share - corpus.counts()["deu"] / len(corpus)) < 0.03
    assert corpus.sample(len(corpus) + 1) is corpus
    with pytest.raises(ValueError, match="n must be"):
        corpus.sample(0)


def test_sample_per_language_caps_every_language():
    from labse_lite.data import load_train_pairs

    corpus = load_train_pairs(["deu", "fra", "afr"])
    n_afr = corpus.counts()["afr"]
    cap = n_afr + 100  # above afr's size, below the rest
    sample = corpus.sample_per_language(cap, seed=1)
    assert sample.counts() == {"afr": n_afr, "deu": cap, "fra": cap}
    pairs = set(zip(corpus.langs, corpus.xx, corpus.en))
    assert set(zip(sample.langs, sample.xx, sample.en)) <= pairs
    assert sample.xx == corpus.sample_per_language(cap, seed=1).xx
    with pytest.raises(ValueError, match="n must be"):
        corpus.sample_per_language(0)


def test_english_paraphrases_hold_only_english_sentences():
    """English-only tuning data (chapter 10): pairs of English translations
    of one non-English sentence.  Every sentence must come from an English
    column; a non-English sentence entering the data fails this test."""
    from labse_lite.data import ParallelCorpus, english_paraphrases

    toy = ParallelCorpus(
        ["deu", "deu", "deu", "fra", "fra", "deu"],
        [
            "Ich gehe.",
            "Ich gehe.",
            "Ich gehe.",
            "Je pars.",
            "Je pars.",
            "Hallo.",
        ],
        [
            "I'm going.",
            "I am going.",
            "I'm leaving.",
            "I'm leaving.",
            "I am leaving.",
            "Hello.",
        ],
    )
    para = english_paraphrases(toy)
    assert list(zip(para.xx, para.en)) == [
        ("I'm going.", "I am going."),
        ("I am going.", "I'm leaving."),
        ("I'm leaving.", "I am leaving."),
    ]
    assert set(para.langs) == {"eng"}
    real = D.load_train_pairs(["deu", "fra", "spa", "rus", "jpn"])
    para = english_paraphrases(real)
    english = set(real.en)
    foreign = set(real.xx) - english
    assert len(para) > 1000
    assert all(s in english for s in para.xx + para.en)
    assert not foreign & set(para.xx + para.en)
    assert all(
        D.normalize_for_overlap(a) != D.normalize_for_overlap(b)
        for a, b in zip(para.xx, para.en)
    )


def test_english_pairs_load_from_a_local_copy_of_the_nli_dataset(tmp_path):
    """The colab path fine-tunes on sentence-transformers/all-nli ('pair':
    anchor, positive); its loading code runs here on a local copy in the
    hub's layout (parquet under pair/), with no network."""
    pytest.importorskip("datasets")
    import pandas as pd

    from labse_lite.data import DataError, load_english_pairs

    folder = tmp_path / "all-nli" / "pair"
    folder.mkdir(parents=True)
    rows = pd.DataFrame(
        {
            "anchor": ["A man plays.", "Kids run.", ""],
            "positive": ["Someone plays.", "Children move.", "Empty."],
        }
    )
    rows.to_parquet(folder / "train-00000-of-00001.parquet")
    rows.iloc[:1].to_parquet(folder / "dev-00000-of-00001.parquet")
    pairs = load_english_pairs(path=tmp_path / "all-nli")
    assert pairs.xx == ["A man plays.", "Kids run."]  # empty row dropped
    assert pairs.en == ["Someone plays.", "Children move."]
    assert set(pairs.langs) == {"eng"}
    assert len(load_english_pairs(path=tmp_path / "all-nli", limit=1)) == 1
    assert (
        len(load_english_pairs(path=tmp_path / "all-nli", hub_split="dev"))
        == 1
    )
    with pytest.raises(DataError, match="column"):
        load_english_pairs(
            path=tmp_path / "all-nli", hub_columns=("premise", "hypothesis")
        )
    local = load_english_pairs()  # paraphrases of the shipped data
    english = set(D.load_train_pairs().en)
    assert set(local.xx) <= english and set(local.en) <= english
