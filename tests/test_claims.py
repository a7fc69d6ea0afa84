"""Chapter claims: enforced under the preset, reported off it."""

import json

import pytest

from labse_lite.book.claims import ClaimFailed, Claims


def _claims(**settings):
    return Claims(
        "02",
        scale=settings.pop("scale", "laptop"),
        measured_under=dict(margin=0.3, max_steps=None),
        **{"margin": 0.3, "max_steps": None, **settings},
    )


def test_a_failing_claim_raises_under_the_preset_naming_it():
    claims = _claims()
    claims.check(True, "holds")
    with pytest.raises(ClaimFailed, match=r"over 20%.*Measured: 12.0%"):
        claims.check(12.0 > 20.0, "over 20%", measured="12.0%")


def test_off_preset_a_budget_claim_is_reported_not_raised(capsys):
    claims = _claims(max_steps=150, margin=0.1)
    assert not claims.preset and claims.changed == dict(
        max_steps=150, margin=0.1
    )
    assert claims.check(False, "over 20%", measured="12.0%") is None
    out = capsys.readouterr().out
    assert out.startswith("Not reproduced with your settings (chapter 02)")
    assert "max_steps=150" in out and "the preset has" in out
    assert "max_steps=None" in out and "margin=0.3" in out
    assert claims.not_reproduced == ["over 20%"]
    assert "1 of 2" not in claims.summary()  # one checked, failed
    assert claims.summary().startswith("0 of 1 claims held")


def test_claims_for_any_settings_are_enforced_off_preset():
    claims = _claims(max_steps=150)
    with pytest.raises(ClaimFailed, match="under any settings"):
        claims.check(False, "by hand equals the package", needs_preset=False)


def test_another_scale_is_not_the_preset(capsys):
    claims = _claims(scale="colab")
    assert not claims.preset
    claims.check(False, "far below the paper")
    assert "scale='colab'" in capsys.readouterr().out


def test_measured_under_must_name_given_settings():
    with pytest.raises(ValueError, match="not among the settings"):
        Claims("02", measured_under=dict(steps=1), margin=0.3)


def test_a_passing_check_prints_nothing(capsys):
    _claims().check(True, "holds")
    assert capsys.readouterr().out == ""


def test_an_uncheckable_claim_is_reported_off_preset_and_fails_on_it(capsys):
    _claims(max_steps=10).unchecked("beats m = 0", "one seed has no spread")
    out = capsys.readouterr().out
    assert out.startswith("Not checked with your settings (chapter 02)")
    assert "one seed has no spread" in out and "the preset has" in out
    with pytest.raises(ClaimFailed, match="cannot be checked"):
        _claims().unchecked("beats m = 0", "one seed has no spread")


def test_compare_paired_and_unpaired_arithmetic():
    from labse_lite.book.claims import compare

    a, b = [10.0, 11.0, 12.0], [9.0, 10.5, 11.0]
    paired = compare(a, b, paired=True)
    d = [1.0, 0.5, 1.0]
    sd = (sum((x - 2.5 / 3) ** 2 for x in d) / 2) ** 0.5
    assert paired.diff == pytest.approx(2.5 / 3)
    assert paired.se == pytest.approx(sd / 3**0.5)
    assert paired.resolved and paired.direction == 1  # z = 5
    welch = compare(a, b)
    assert welch.se == pytest.approx(
        (1.0 / 3 + 1.0833333 / 3) ** 0.5, rel=1e-4
    )
    assert not welch.resolved and welch.direction == 0  # z = 0.58
    assert "not resolved at this budget" in str(welch)
    with pytest.raises(ValueError, match="paired"):
        compare([1, 2, 3], [1, 2], paired=True)


def test_compare_needs_three_seeds():
    from labse_lite.book.claims import compare

    two = compare([10.0, 10.1], [1.0, 1.1], paired=True)
    assert abs(two.z) > 2 and not two.resolved


def test_claims_compare_reports_unresolved_and_fails_when_reversed(capsys):
    claims = _claims()
    res = claims.compare([1.0, 1.2, 0.8], [1.1, 0.9, 1.0], "a beats b")
    assert not res.resolved and claims.unresolved == ["a beats b"]
    assert "Not resolved at this budget" in capsys.readouterr().out
    assert "not resolved at this budget: a beats b" in claims.summary()
    claims.compare([3.0, 3.1, 3.2], [1.0, 1.1, 1.2], "a beats b", paired=True)
    with pytest.raises(ClaimFailed, match="a beats b"):
        claims.compare(
            [1.0, 1.1, 1.2], [3.0, 3.1, 3.2], "a beats b", paired=True
        )


def test_claims_compare_prints_a_resolved_difference_and_logs_it(
    capsys, tmp_path, monkeypatch
):
    log = tmp_path / "claims.jsonl"
    monkeypatch.setenv("LABSE_LITE_CLAIMS_LOG", str(log))
    claims = _claims()
    res = claims.compare(
        [3.0, 3.2, 3.1], [1.0, 1.1, 1.3], "a beats b", paired=True
    )
    out = capsys.readouterr().out
    assert res.resolved and out.startswith("Resolved (chapter 02): a beats b")
    assert f"{res.diff:+.2f} ± {res.se:.2f}" in out
    assert f"{abs(res.z):.1f} SE, 2 required" in out
    claims.compare([1.0, 1.2, 0.8], [1.1, 0.9, 1.0], "c beats d")
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["claim"], r["resolved"]) for r in rows] == [
        ("a beats b", True),
        ("c beats d", False),
    ]
    assert rows[0]["n_a"] == 3 and rows[0]["paired"] and rows[0]["preset"]
    assert rows[0]["diff"] == pytest.approx(1.9666667)


def test_compare_names_what_its_results_are_over():
    from labse_lite.book.claims import compare

    by_seed = compare([3.0, 3.2, 3.1], [1.0, 1.1, 1.3], paired=True)
    assert "seeds 3/3" in str(by_seed)
    by_language = compare(
        [3.0, 3.2, 3.1], [1.0, 1.1, 1.3], paired=True, unit="languages"
    )
    assert "languages 3/3" in str(by_language) and "seeds" not in str(
        by_language
    )
    assert by_language.resolved == by_seed.resolved


def test_one_result_per_arm_prints_no_standard_error():
    from labse_lite.book.claims import compare

    single = compare([53.7], [36.9])
    assert not single.resolved
    assert "nan" not in str(single)
    assert "no standard error: one result per arm" in str(single)


def test_paired_arms_pairs_by_shared_seeds_and_gives_the_verdict():
    from labse_lite.book.results import paired_arms

    records = (
        [{"arm": "a", "seed": s, "x": 10.0 + s, "y": s} for s in range(4)]
        + [
            {"arm": "b", "seed": s, "x": 8.0 + s, "y": s + (s % 2)}
            for s in (0, 1, 2)
        ]
        + [{"arm": "c", "seed": 0, "x": 0.0, "y": 0.0}]
    )
    table = paired_arms(records, "a", "b", {"x": "X", "y": "Y"})
    # seed 3 ran only arm a: it is left out of both means
    assert table.loc["X", "a"] == 11.0 and table.loc["X", "b"] == 9.0
    assert table.loc["X", "seeds"] == 3 and table.loc["X", "SE"] == 0.0
    assert table.loc["X", "verdict"] == "a ahead"
    assert table.loc["Y", "verdict"] == "not resolved"
    flipped = paired_arms(records, "b", "a", {"x": "X"})
    assert flipped.loc["X", "verdict"] == "a ahead"
    with pytest.raises(ValueError, match="no seed ran both"):
        paired_arms(records, "a", "d", {"x": "X"})
