"""A chapter's claims, checked where they were measured.

Every chapter asserts what it says: the margin helps, stacking is
lossless, the student keeps 95% of its teacher.  Some claims hold for any
settings (an identity, a gradient check); others need the budget of the
preset they were measured under (2,400 steps, three seeds).  A reader who
runs a chapter with other papermill parameters should get the numbers and
a plain report, not a bare ``AssertionError``::

    claims = Claims("02", scale=scale,
                    measured_under=dict(margin=0.3, max_steps=None),
                    margin=margin, max_steps=max_steps)
    claims.check(ours > 20.0, "the laptop model finds over 20% of the "
                 "translations", measured=f"{ours:.1f}%")
    claims.check(abs(a - b) < 1e-6, "the loss by hand equals the package's",
                 needs_preset=False)

Under the preset's settings, at the scale where the claims were measured
(``measured_scale``, the laptop by default), a claim that fails raises
:class:`ClaimFailed`, whose message names the claim, what was measured and
the settings.  Under other settings or at another scale, a failing
``needs_preset`` claim is printed as *not reproduced* and the chapter goes
on; claims with ``needs_preset=False`` are always enforced.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Any, Sequence

__all__ = ["Claims", "ClaimFailed", "Comparison", "compare"]


class ClaimFailed(AssertionError):
    """A chapter's claim did not hold where it must."""


@dataclass(frozen=True)
class Comparison:
    """Two arms' means over seeds, their difference and its standard
    error; ``resolved`` when the difference exceeds ``sigmas`` standard
    errors and each arm has at least ``min_seeds`` seeds."""

    mean_a: float
    mean_b: float
    diff: float  # mean_a - mean_b
    se: float  # standard error of the difference
    n_a: int
    n_b: int
    paired: bool
    sigmas: float = 2.0
    min_seeds: int = 3
    unit: str = "seeds"  # what the arms' results are over (seeds, languages)

    @property
    def z(self) -> float:
        if self.se > 0:
            return self.diff / self.se
        return math.inf if self.diff else 0.0

    @property
    def resolved(self) -> bool:
        return (
            min(self.n_a, self.n_b) >= self.min_seeds
            and abs(self.z) > self.sigmas
        )

    @property
    def direction(self) -> int:
        """+1: a > b, -1: a < b, 0: not resolved at this budget."""
        return (1 if self.diff > 0 else -1) if self.resolved else 0

    def __str__(self) -> str:
        kind = "paired" if self.paired else "unpaired"
        verdict = (
            "resolved" if self.resolved else "not resolved at this budget"
        )
        # One result per arm has no spread: say so instead of "± nan".
        spread = (
            f"± {self.se:.2f} (SE, {kind}"
            if math.isfinite(self.se)
            else f"(no standard error: one result per arm; {kind}"
        )
        return (
            f"{self.mean_a:.2f} vs {self.mean_b:.2f}: difference "
            f"{self.diff:+.2f} {spread}, {self.unit} "
            f"{self.n_a}/{self.n_b}), {verdict}"
        )


def _sample_var(xs: Sequence[float]) -> float:
    n = len(xs)
    if n < 2:
        return math.nan
    m = sum(xs) / n
    return sum((x - m) ** 2 for x in xs) / (n - 1)


def compare(
    a: Sequence[float],
    b: Sequence[float],
    *,
    paired: bool = False,
    sigmas: float = 2.0,
    min_seeds: int = 3,
    unit: str = "seeds",
) -> Comparison:
    """The evidence rule of the book: mean(a) - mean(b) and its standard
    error, from per-seed results.

    Paired (the arms share seeds, ``a[i]`` and ``b[i]`` ran with seed i):
    SE = sd(a - b) / sqrt(n), so what the seed does to both arms cancels.
    Unpaired: SE = sqrt(var(a)/n_a + var(b)/n_b) (Welch).  The comparison
    is *resolved* only with at least ``min_seeds`` seeds per arm and
    |difference| > ``sigmas`` × SE; otherwise a chapter reports it as not
    resolved at its budget rather than as a finding.  ``unit`` names what
    the results are over when it is not seeds (e.g. "languages", for a
    comparison paired over languages); it only labels the printout."""
    a, b = [float(x) for x in a], [float(x) for x in b]
    if not a or not b:
        raise ValueError("compare needs at least one result per arm")
    if paired and len(a) != len(b):
        raise ValueError(
            f"paired arms need as many results each, not {len(a)} and {len(b)}"
        )
    mean_a, mean_b = sum(a) / len(a), sum(b) / len(b)
    if paired:
        d = [x - y for x, y in zip(a, b)]
        se = math.sqrt(_sample_var(d) / len(d))
    else:
        se = math.sqrt(_sample_var(a) / len(a) + _sample_var(b) / len(b))
    return Comparison(
        mean_a,
        mean_b,
        mean_a - mean_b,
        se,
        len(a),
        len(b),
        paired,
        sigmas,
        min_seeds,
        unit,
    )


def _ledger(chapter: str, claim: str, result: Comparison, preset: bool):
    """Append one comparison to the JSON-lines file named by
    ``$LABSE_LITE_CLAIMS_LOG``, if set: the list of every comparison a
    book execution made, with its seeds, effect and standard error
    (``scripts/reproduce.py`` collects it)."""
    path = os.environ.get("LABSE_LITE_CLAIMS_LOG")
    if not path:
        return
    row = {
        "chapter": chapter,
        "claim": claim,
        "preset": preset,
        "resolved": result.resolved,
        **{k: getattr(result, k) for k in _FIELDS},
        "z": result.z if math.isfinite(result.z) else None,
    }
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


_FIELDS = (
    "mean_a",
    "mean_b",
    "diff",
    "se",
    "n_a",
    "n_b",
    "paired",
    "sigmas",
    "unit",
)


class Claims:
    def __init__(
        self,
        chapter: str,
        *,
        scale: str = "laptop",
        measured_under: dict[str, Any] | None = None,
        measured_scale: str = "laptop",
        **settings: Any,
    ) -> None:
        self.chapter = chapter
        self.scale = scale
        self.measured_scale = measured_scale
        self.measured_under = dict(measured_under or {})
        unknown = set(self.measured_under) - set(settings)
        if unknown:
            raise ValueError(
                f"measured_under names {sorted(unknown)}, "
                f"which are not among the settings given"
            )
        self.settings = settings
        self.checked: list[tuple[str, bool]] = []
        self.not_reproduced: list[str] = []
        self.unresolved: list[str] = []
        self.comparisons: list[tuple[str, Comparison]] = []

    @property
    def changed(self) -> dict[str, Any]:
        """The settings that differ from the preset's."""
        return {
            k: v
            for k, v in self.settings.items()
            if k in self.measured_under and v != self.measured_under[k]
        }

    @property
    def preset(self) -> bool:
        """True at the scale the claims were measured at, with every
        setting the preset's."""
        return self.scale == self.measured_scale and not self.changed

    def _describe(self) -> str:
        """The settings that differ from where the claims were measured,
        and the preset's values of them."""
        yours = dict(self.changed)
        preset = {k: self.measured_under[k] for k in self.changed}
        if self.scale != self.measured_scale:
            yours = {"scale": self.scale, **yours}
            preset = {"scale": self.measured_scale, **preset}

        def show(d):
            return ", ".join(f"{k}={v!r}" for k, v in d.items())

        if not yours:
            return f"the preset's settings (scale={self.scale!r})"
        return f"{show(yours)} (the preset has {show(preset)})"

    def check(
        self,
        holds: Any,
        claim: str,
        *,
        measured: Any = None,
        needs_preset: bool = True,
    ) -> None:
        """Check one claim (see the module).  Returns nothing, so that a
        check ending a cell prints nothing; ``checked`` records it."""
        ok = bool(holds)
        self.checked.append((claim, ok))
        if ok:
            return
        got = f" Measured: {measured}." if measured is not None else ""
        if needs_preset and not self.preset:
            self.not_reproduced.append(claim)
            print(
                f"Not reproduced with your settings (chapter "
                f"{self.chapter}): {claim}.{got} The chapter measured "
                f"this under its {self.measured_scale} preset and may "
                f"need its budget; you run with {self._describe()}. "
                f"The chapter goes on."
            )
            return
        where = "the preset's settings" if self.preset else "any settings"
        raise ClaimFailed(
            f"Chapter {self.chapter}'s claim does not hold: "
            f"{claim}.{got} It must hold under {where}; this "
            f"run: {self._describe()}."
        )

    def compare(
        self,
        a: Sequence[float],
        b: Sequence[float],
        claim: str,
        *,
        expect: int = 1,
        paired: bool = False,
        needs_preset: bool = True,
        unit: str = "seeds",
    ) -> Comparison:
        """Enforce "arm a is larger (``expect=1``) or smaller (-1) than arm
        b" under the book's rule (:func:`compare`: at least 3 seeds each,
        difference beyond 2 standard errors).  A comparison the seeds do
        not resolve is printed as *not resolved at this budget* with its
        numbers -- never as a finding -- and is not a failure; a resolved
        difference in the other direction fails like :meth:`check`.
        Returns the :class:`Comparison` for the chapter's prose."""
        result = compare(a, b, paired=paired, unit=unit)
        self.comparisons.append((claim, result))
        _ledger(self.chapter, claim, result, self.preset)
        if not result.resolved:
            self.checked.append((claim, True))
            self.unresolved.append(claim)
            print(
                f"Not resolved at this budget (chapter {self.chapter}): "
                f"{claim}: {result}."
            )
            return result
        self.check(
            result.direction == expect,
            claim,
            measured=str(result),
            needs_preset=needs_preset,
        )
        if result.direction == expect:
            print(
                f"Resolved (chapter {self.chapter}): {claim}: {result}; "
                f"|difference| = {abs(result.z):.1f} SE, "
                f"{result.sigmas:g} required."
            )
        return result

    def unchecked(self, claim: str, why: str) -> None:
        """Say that ``claim`` cannot be checked with these settings (e.g.
        one seed leaves no spread to compare with).  Under the preset that
        is a failure: the chapter's claims must all be checkable there."""
        if self.preset:
            raise ClaimFailed(
                f"Chapter {self.chapter}'s claim cannot be "
                f"checked under its preset: {claim} ({why})."
            )
        self.not_reproduced.append(claim)
        print(
            f"Not checked with your settings (chapter {self.chapter}): "
            f"{claim}, because {why}; you run with {self._describe()}."
        )

    def summary(self) -> str:
        held = sum(ok for _, ok in self.checked)
        text = f"{held} of {len(self.checked)} claims held"
        if self.not_reproduced:
            text += "; not reproduced with these settings: " + "; ".join(
                self.not_reproduced
            )
        if self.unresolved:
            text += "; not resolved at this budget: " + "; ".join(
                self.unresolved
            )
        return text
