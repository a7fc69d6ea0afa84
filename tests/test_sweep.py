"""The development split and the pieces of the recipe sweep and the
compute ladder (benchmarks/recipe_sweep.py, benchmarks/compute_ladder.py)
that decide what runs: no training run here."""

import importlib
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from labse_lite.data import ParallelCorpus, dev_split, leakage_key
from labse_lite.evaluate import dev_retrieval
from labse_lite.model import bert_config
from labse_lite.runtime import lr_lambda
from labse_lite.train import TrainConfig

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture
def sweep(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("recipe_sweep")


@pytest.fixture
def ladder(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("compute_ladder")


def _corpus() -> ParallelCorpus:
    """deu (1000 pairs), fra (40) and xho (3).  As in Tatoeba, one English
    sentence translates into several languages: fra's English sentences
    are deu's with other case and punctuation, and xho's non-English
    sentences are deu's in capitals."""
    langs, xx, en = [], [], []
    for i in range(1000):
        langs.append("deu")
        xx.append(f"deu Satz {i}")
        en.append(f"English sentence {i}.")
    for i in range(40):
        langs.append("fra")
        xx.append(f"fra phrase {i}")
        en.append(f"english SENTENCE {i}!")
    for i in range(3):
        langs.append("xho")
        xx.append(f"DEU SATZ {i}")
        en.append(f"xho English {i}")
    return ParallelCorpus(langs, xx, en)


def test_dev_split_shares_no_sentence_with_the_training_rest():
    corpus = _corpus()
    train_rest, dev = dev_split(corpus, per_language=100, seed=0)
    held = {leakage_key(s) for s in dev.xx + dev.en}
    kept = {leakage_key(s) for s in train_rest.xx + train_rest.en}
    assert held.isdisjoint(kept)
    pairs = set(zip(corpus.langs, corpus.xx, corpus.en))
    assert set(zip(dev.langs, dev.xx, dev.en)) <= pairs
    assert set(zip(train_rest.langs, train_rest.xx, train_rest.en)) <= pairs
    # by sentence, not by pair: a dev pair of one language also removes
    # other languages' pairs that share one of its sentences
    assert len(train_rest) < len(corpus) - len(dev)


def test_dev_split_is_deterministic_for_a_seed():
    corpus = _corpus()
    first = dev_split(corpus, per_language=100, seed=3)
    again = dev_split(corpus, per_language=100, seed=3)
    other = dev_split(corpus, per_language=100, seed=4)
    assert first == again
    assert first[1].xx != other[1].xx


def test_dev_split_takes_per_language_or_a_quarter_of_a_small_language():
    _, dev = dev_split(_corpus(), per_language=100, seed=0)
    assert dev.counts() == {"deu": 100, "fra": 10}  # xho: 3 pairs, none
    _, dev = dev_split(_corpus(), per_language=5, seed=0)
    assert dev.counts() == {"deu": 5, "fra": 5}
    with pytest.raises(ValueError, match="per_language"):
        dev_split(_corpus(), per_language=0)


class LookupModel:
    """A fake encoder: a fixed vector per sentence."""

    def __init__(self, table):
        self.table = table

    def encode(self, sentences, batch_size=256, show_progress_bar=None):
        return F.normalize(
            torch.stack([self.table[s] for s in sentences]), dim=-1
        )


def test_dev_retrieval_within_each_language_and_pooled():
    # "Hallo" finds "Hello" among deu's 2 candidates, but "Good night"
    # (fra's) is nearer: only the pooled view counts that miss
    table = {
        "Hallo": torch.tensor([1.0, 0.0, 0.0, 0.9]),
        "Danke": torch.tensor([0.0, 1.0, 0.0, 0.0]),
        "Bonne nuit": torch.tensor([0.0, 0.0, 1.0, 0.0]),
        "Hello": torch.tensor([1.0, 0.0, 0.0, 0.0]),
        "Thanks": torch.tensor([0.0, 1.0, 0.0, 0.0]),
        "Good night": torch.tensor([0.6, 0.0, 0.4, 1.0]),
    }
    dev = ParallelCorpus(
        ["deu", "deu", "fra"],
        ["Hallo", "Danke", "Bonne nuit"],
        ["Hello", "Thanks", "Good night"],
    )
    res = dev_retrieval(LookupModel(table), dev)
    assert res["xx2en"]["all"] == res["xx2en"]["xtreme36"] == 100.0
    assert res["pooled_xx2en"]["all"] == 75.0  # deu 50, fra 100
    assert (res["pool_size"], res["pairs"], res["languages"]) == (3, 3, 2)


def test_budget_becomes_steps_and_the_schedule_ends_with_it(sweep):
    assert sweep.fit_schedule(5, 8.0, 200 / 2400) == (2400, 200)
    assert sweep.fit_schedule(1, 0.99, 0.1) == (59, 6)  # 59.4: rounded down
    assert sweep.fit_schedule(0.001, 1.0, 0.0) == (1, 0)  # at least a step
    steps, warmup = sweep.fit_schedule(2, 3.3, 0.2)
    assert lr_lambda(warmup - 1, warmup, steps) == 1.0
    assert lr_lambda(steps, warmup, steps) == 0.0
    for bad in ((0, 1.0, 0.1), (5, 0.0, 0.1), (5, 1.0, 1.0)):
        with pytest.raises(ValueError):
            sweep.fit_schedule(*bad)


def test_resume_runs_only_what_the_file_lacks(sweep, tmp_path):
    plans = sweep.plan(
        sweep.GRIDS["lr"], [0, 1], mode="dev", budget_minutes=5, threads=2
    )
    keys = list(plans)
    done = [{"key": keys[0]}, {"key": keys[3]}, {"key": "another run"}]
    assert sweep.pending(keys, done, resume=True) == [
        k for i, k in enumerate(keys) if i not in (0, 3)
    ]
    assert sweep.pending(keys + keys, done, resume=False) == keys
    # the file keeps every record, one per key, the latest last
    path = tmp_path / "sweep.json"
    results = sweep.load_results(path)
    for record in ({"key": "a", "v": 1}, {"key": "b"}, {"key": "a", "v": 2}):
        sweep.store(path, results, "runs", record, sweep.__file__, ["x"])
    saved = json.loads(path.read_text())
    assert [(r["key"], r.get("v")) for r in saved["runs"]] == [
        ("b", None),
        ("a", 2),
    ]
    assert saved["provenance"]["command"].endswith("recipe_sweep.py x")
    assert sweep.pending(["a", "b", "c"], saved["runs"], True) == ["c"]


def test_grids_are_valid_train_configs_around_one_baseline(sweep):
    fields = dict(mode="dev", budget_minutes=5, threads=2)
    baseline = set(sweep.plan([sweep.BASELINE], [0], **fields))
    for name, grid in sweep.GRIDS.items():
        names = [cand.name for cand in grid]
        assert len(set(names)) == len(names), name
        # every grid holds the default, and it is the same run in all
        assert baseline <= set(sweep.plan(grid, [0], **fields)), name
        for cand in grid:
            config = TrainConfig(**cand.overrides)
            config.validate()
            bert_config(
                1000,
                config.model_preset,
                num_hidden_layers=config.num_layers,
                hidden_size=config.hidden_size,
                num_attention_heads=config.num_heads,
                intermediate_size=config.ffn_size,
            )
            fraction = cand.warmup_fraction
            assert fraction is None or 0 <= fraction < 1, cand.name


def test_arguments_refuse_what_the_sweep_cannot_run(sweep):
    for argv in (
        [],
        ["--grid", "lr", "--final"],
        ["--grid", "lr", "--set", "lr=0.003"],
        ["--grid", "custom"],
        ["--final", "--set", "no_such_setting=1"],
        ["--final", "--set", "lr=-1"],
    ):
        with pytest.raises(SystemExit):
            sweep.parse_args(argv)
    args = sweep.parse_args(["--final", "--set", "num_layers=1"])
    assert args.overrides == {"num_layers": 1}
    with pytest.raises(SystemExit):
        sweep.parse_args(["--report", "--grid", "lr"])
    assert sweep.parse_args(["--report"]).report


def test_report_groups_runs_by_recipe_and_ranks_them(sweep):
    def run(name, overrides, score, seed=0):
        return {
            "name": name,
            "overrides": overrides,
            "seed": seed,
            "steps": 10,
            "dev_xtreme36": score,
        }

    shape = {"num_layers": 1, "hidden_size": 128, "num_heads": 2}
    results = {
        "runs": [
            run("default-fitted", {}, 60.0),
            run("custom:x", {**shape, "vocab_size": 64000}, 70.0),
            run("custom:x", {**shape, "vocab_size": 64000}, 72.0, seed=1),
            run("1x128", shape, 66.0),
        ],
        "final": [run("chosen:x", {**shape, "lr": 0.003}, 1.0)],
    }
    args = sweep.parse_args(["--report"])
    text = sweep.report(args, results)
    rows = [
        r for r in text.splitlines() if r.startswith("| ") and "---" not in r
    ]
    assert [r.split("|")[1].strip() for r in rows] == [
        "run",
        "1x128 + vocab_size=64000",
        "1x128",
        "default-fitted",
        "run",
        "1x128 + lr=0.003",
    ]
    assert rows[1].split("|")[2].strip() == "2"  # two seeds, one row


def test_ladder_scales_steps_and_warm_up_only(ladder):
    rung = ladder.steps_only({}, 15, 5)
    default = TrainConfig()
    assert rung["max_steps"] == 3 * default.max_steps
    assert rung["warmup_steps"] == 3 * default.warmup_steps
    recipe = {"max_steps": 3000, "warmup_steps": 250, "lr": 0.003}
    rung = ladder.steps_only(recipe, 45, 5)
    assert rung == {"max_steps": 27000, "warmup_steps": 2250, "lr": 0.003}
    TrainConfig(**rung).validate()


def test_ladder_depth_rule_grows_layers_at_fixed_steps(ladder):
    """The depth rule keeps the schedule and scales the layers (from the
    preset's depth when the recipe names none) by budget / base."""
    from labse_lite.model import MODEL_PRESETS

    preset = MODEL_PRESETS[TrainConfig().model_preset]["num_hidden_layers"]
    rung = ladder.depth({}, 15, 5)
    assert rung == {"num_layers": 3 * preset}
    rung = ladder.depth({"num_layers": 2, "max_steps": 900}, 45, 5)
    assert rung == {"num_layers": 18, "max_steps": 900}
    assert ladder.depth({"num_layers": 2}, 1, 5)["num_layers"] == 1
    assert ladder.RULES["depth"] is ladder.depth
    TrainConfig(**ladder.depth({}, 45, 5)).validate()


def test_ladder_estimates_training_flops_as_6_n_d(
    ladder, tiny_model, small_corpus
):
    """6 · non-embedding parameters · tokens (both sides, capped at the
    training length); a different recipe gets a different rung key."""
    from labse_lite.distill import non_embedding_parameters

    est = ladder.compute_estimate(tiny_model, small_corpus, pairs_seen=1000)
    lengths = tiny_model.token_lengths(
        list(small_corpus.xx) + list(small_corpus.en)
    )
    capped = [min(n, tiny_model.max_length) for n in lengths]
    mean = sum(capped) / len(capped)
    assert est["mean_tokens_per_sentence"] == pytest.approx(mean)
    assert est["tokens_seen"] == pytest.approx(2000 * mean)
    n = non_embedding_parameters(tiny_model)
    assert 0 < n < sum(p.numel() for p in tiny_model.parameters())
    assert est["training_flops_estimate"] == pytest.approx(6 * n * 2000 * mean)
    assert ladder.recipe_fingerprint({}) == ladder.recipe_fingerprint({})
    assert ladder.recipe_fingerprint({}) != ladder.recipe_fingerprint(
        {"lr": 0.003}
    )


def test_table_averages_seeds(sweep):
    rows = [("a", [{"x": 1.0, "y": 300}, {"x": 2.0, "y": None}]), ("b", [])]
    lines = sweep.table(rows, ["x", "y"]).splitlines()
    assert [c.strip() for c in lines[2].strip("|").split("|")] == [
        "a",
        "2",
        "1.50",
        "300",
    ]
    assert lines[3].split("|")[3].strip() == "-"


def test_runs_of_one_cost_class_share_one_probe_and_one_step_count(
    sweep, monkeypatch, tmp_path
):
    """Candidates that differ only in what does not change a step's cost
    (learning rate, data mix, warm-up share) are probed once and trained
    for the same steps; another batch size is a new cost class."""
    probed, trained = [], []

    def probe(config, corpus):
        probed.append(config.batch_size)
        return {"steps_per_second": 1000 / config.batch_size}

    def train(config, corpus, **_):
        trained.append((config.lr, config.max_steps, config.warmup_steps))
        return {
            "config": {
                "max_steps": config.max_steps,
                "warmup_steps": config.warmup_steps,
            }
        }

    monkeypatch.setattr(sweep, "probe_speed", probe)
    monkeypatch.setattr("labse_lite.train.train", train)
    probes: dict = {}
    for cand in (
        sweep.BASELINE,
        sweep.Candidate("lr", {"lr": 5e-3}),
        sweep.Candidate("warm", {}, 0.2),
        sweep.Candidate("batch", {"batch_size": 256}),
    ):
        sweep.train_candidate(cand, tmp_path / cand.name, 1.0, None, probes)
    assert probed == [128, 256] and len(probes) == 2
    steps = [t[1] for t in trained]
    assert steps[:3] == [468] * 3  # 60 s at 1000/128 steps/s, rounded down
    assert steps[3] == 234  # batch 256: half the speed, half the steps
    assert trained[2][2] == round(0.2 * steps[2])


# ------------------------------------------------ the higher rung (item 4)
@pytest.fixture
def rung(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("higher_rung")


def test_rung_students_have_equal_non_embedding_budgets(rung, small_tokenizer):
    from labse_lite.distill import non_embedding_parameters
    from labse_lite.model import DualEncoder

    tok = small_tokenizer
    sizes = [
        non_embedding_parameters(
            DualEncoder.from_config(
                tok,
                None,
                num_hidden_layers=layers,
                hidden_size=hidden,
                num_attention_heads=heads,
                intermediate_size=ffn,
            )
        )
        for layers, hidden, heads, ffn in rung.STUDENTS.values()
    ]
    assert len(sizes) == 2 and max(sizes) / min(sizes) - 1 < 0.02
    depths = sorted(shape[0] for shape in rung.STUDENTS.values())
    assert depths[0] < depths[1]  # one thin-deep, one shallow-wide


def test_rung_configs_are_the_stated_shape_and_schedule(rung):
    args = rung.parse_args(["--finetune-steps", "2400"])
    config = rung.finetune_config(args, 2, tokenizer="somewhere")
    assert (config.num_layers, config.model_preset) == (4, "laptop")
    assert (config.max_steps, config.warmup_steps, config.seed) == (
        2400,
        200,
        2,
    )
    pre = rung.pretrain_config(args, 0.0)
    assert pre.final_depth() == 4 and pre.stacking and pre.tlm_fraction == 0
    assert pre.max_steps == args.pretrain_steps and pre.max_length == 32


def test_rung_resume_runs_nothing_that_is_stored(rung, tmp_path, monkeypatch):
    from labse_lite.train import TrainConfig

    assert rung.DEFAULT_LR == TrainConfig().lr
    args = rung.parse_args(
        ["--resume", "--seeds", "0", "1", "--output", str(tmp_path / "r.json")]
    )
    assert args.lrs == [rung.DEFAULT_LR, 5e-4]
    keys = [
        rung._pretraining_key(args, init, seed, lr)
        for lr in args.lrs
        for seed in (0, 1)
        for init in ("pre-trained", "random")
    ]
    assert len(set(keys)) == 8
    # the default rate's keys are those stored before --lrs existed
    assert keys[0] == rung._arm_key(
        "pretraining", args, init="pre-trained", seed=0
    )
    # another rung (more fine-tuning steps) is another measurement
    other = rung.parse_args(["--finetune-steps", "9"])
    assert rung._pretraining_key(other, "random", 0, 2e-3) not in keys

    def no_training(*_, **__):
        raise AssertionError("a stored arm was run again")

    monkeypatch.setattr(rung, "build_encoder", no_training)
    monkeypatch.setattr(rung, "finetune_record", no_training)
    rung.run_pretraining(args, {"pretraining": [{"key": k} for k in keys]})
    # with the second rate's arms missing, only those would run
    stored = {"pretraining": [{"key": k} for k in keys[:4]]}
    with pytest.raises(AssertionError, match="run again"):
        rung.run_pretraining(args, stored)


def test_rung_refuses_bad_arguments_and_changed_rebuilds(rung):
    for bad in (
        ["--pretrain-steps", "0"],
        ["--experiments", "margin"],
        ["--lrs", "0"],
    ):
        with pytest.raises(SystemExit):
            rung.parse_args(bad)
    stored = {"encoders": [{"key": "k", "heldout_loss": 5.0}]}
    rung._check_rebuild(
        stored, "encoders", {"key": "k", "heldout_loss": 5.0}, "heldout_loss"
    )
    with pytest.raises(RuntimeError, match="differs from the stored"):
        rung._check_rebuild(
            stored,
            "encoders",
            {"key": "k", "heldout_loss": 5.1},
            "heldout_loss",
        )


def test_provenance_is_dirty_for_changes_but_the_result_file(tmp_path):
    """A resumable script rewrites its result file after every run; that
    file's own change does not mark the commit dirty, any other does."""
    import subprocess

    from labse_lite.runtime import provenance

    def git(*args):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
            cwd=tmp_path,
            check=True,
            capture_output=True,
        )

    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    script = tmp_path / "benchmarks" / "bench.py"
    result = tmp_path / "benchmarks" / "results" / "bench.json"
    script.write_text("print(1)\n")
    result.write_text("{}\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "start")
    clean = provenance(script, [], written=result)["commit"]
    assert clean and not clean.endswith("-dirty")
    result.write_text('{"runs": [1]}\n')
    assert provenance(script, [], written=result)["commit"] == clean
    assert provenance(script, [])["commit"] == clean + "-dirty"
    script.write_text("print(2)\n")
    assert provenance(script, [], written=result)["commit"] == clean + "-dirty"


def test_rung_hard_negative_arms_differ_from_in_batch_only_by_them(
    rung, tmp_path, monkeypatch
):
    """The hard-negative arm of a seed is the pretraining experiment's
    random arm of that seed plus mined negatives from halfway; the
    equal-time arm is that random arm with more steps (warm-up the same
    share); stored arms are not run again."""
    import dataclasses

    args = rung.parse_args(
        ["--resume", "--seeds", "0", "1", "--output", str(tmp_path / "r.json")]
    )
    runs = []
    monkeypatch.setattr(rung, "build_encoder", lambda *_, **__: "enc")
    monkeypatch.setattr(
        rung,
        "finetune_record",
        lambda config, name: runs.append((name, config)) or {"arm": name},
    )
    stored = []
    monkeypatch.setattr(
        rung,
        "store",
        lambda _out, _res, _sec, record, *a: stored.append(record),
    )
    rung.run_hard_negatives(args, {})
    assert [(n, c.seed) for n, c in runs] == [
        ("hard negatives", 0),
        ("hard negatives", 1),
        ("in-batch, equal time", 0),
        ("in-batch, equal time", 1),
    ]
    hard, equal = runs[0][1], runs[2][1]
    in_batch = rung.finetune_config(
        args, 0, tokenizer="enc", lr=rung.DEFAULT_LR
    )
    assert hard.hard_negatives == rung.HARD_NEGATIVES == 1
    assert hard.hard_negative_start == args.finetune_steps // 2
    assert (
        dataclasses.replace(hard, hard_negatives=0, hard_negative_start=0)
        == in_batch
    )
    steps = rung.equal_time_steps(args)
    assert steps % 10 == 0
    assert abs(steps / args.finetune_steps - rung.EQUAL_TIME_FACTOR) < 0.01
    assert equal == dataclasses.replace(
        in_batch, max_steps=steps, warmup_steps=round(steps / 12)
    )
    for _, config in runs:
        config.validate()
    assert len({r["key"] for r in stored}) == 4
    runs.clear()
    rung.run_hard_negatives(args, {"hard_negatives": stored})
    assert runs == []
