"""Checkers of chapter 10's exercises (English-only transfer: poolings,
how a shared layer passes an English step on, which embedding rows
English tuning moves)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..grading import expect, expect_close, register, wrong_choice


def _batch(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, H) hidden states and a (B, T) mask with padding; padded
    positions hold large values, so that a pooling that ignores the mask
    shows it."""
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(3, 5, 4, generator=g, dtype=torch.float64)
    lengths = [5, 3, 1]
    mask = torch.tensor([[1] * n + [0] * (5 - n) for n in lengths])
    hidden = hidden.masked_fill(mask.unsqueeze(-1) == 0, 50.0)
    return hidden, mask


def _reference_pool(hidden, mask, how):
    rows = []
    for h, m in zip(hidden, mask):
        real = h[m.bool()]  # (n, H)
        rows.append(
            {"mean": real.mean(0), "max": real.max(0).values, "cls": h[0]}[how]
        )
    return torch.stack(rows)  # (B, H)


@register("10.1")
def pooling_checker(fn) -> str:
    """``fn(hidden, mask, how)`` pools (B, T, H) states into (B, H)
    sentence vectors for how in mean, max and cls."""
    expect(callable(fn), "the answer should be the function pool")
    hints = {
        "mean": (
            "average only the real tokens: multiply by the mask, sum "
            "over T and divide by the number of real tokens"
        ),
        "max": (
            "padded positions must never win the maximum: set them to "
            "-inf (or the dtype's minimum) before taking it"
        ),
        "cls": "[CLS] is the first position, hidden[:, 0]",
    }
    for seed in range(2):
        hidden, mask = _batch(seed)
        for how in ("mean", "max", "cls"):
            want = _reference_pool(hidden, mask, how)
            got = fn(hidden.clone(), mask.clone(), how)
            hint = hints[how]
            if (
                how == "mean"
                and torch.is_tensor(got)
                and got.shape == want.shape
                and torch.allclose(got.double(), hidden.mean(1))
            ):
                hint = (
                    "you averaged over every position, padding "
                    "included: the third sentence has one real token "
                    "and four padded ones"
                )
            expect_close(
                got, want, f"pool(hidden, mask, {how!r})", rtol=1e-6, hint=hint
            )
    return (
        "Mean and max must read the attention mask; [CLS] needs no "
        "mask, because position 0 is real in every sentence."
    )


def _one_step(
    w: torch.Tensor, english: torch.Tensor, foreign: torch.Tensor, lr: float
):
    """One SGD step on the shared layer f(u) = W u with an English loss
    (minus the cosine of the two English sentence vectors, plus a pull of
    the first towards a fixed point): the English inputs' output
    gradients g_e, and the measured move of each foreign input."""
    w = w.clone().requires_grad_(True)
    out = english @ w.T  # (B, H_out)
    target = torch.linspace(-1, 1, w.shape[0], dtype=w.dtype)
    out.retain_grad()
    loss = (
        -F.cosine_similarity(out[0], out[1], dim=0)
        + ((out[0] - target) ** 2).sum()
    )
    loss.backward()
    with torch.no_grad():
        moved = foreign @ (w - lr * w.grad).T - foreign @ w.T
    return out.grad.detach(), moved  # (B, H_out)


@register("10.2")
def first_order_move(
    fn, *, vocab=None, ids=None, mask=None, german_ids=None
) -> str:
    """``fn(english_inputs, english_grads, x_input, lr)`` predicts how one
    SGD step on English pairs moves the output W m(x) of a shared linear
    layer for a foreign input m(x)."""
    expect(callable(fn), "the answer should be the function predicted_move")
    for seed, (b, h, h_out, lr) in enumerate(
        [(2, 4, 3, 0.1), (2, 6, 6, 0.5), (2, 5, 2, 0.01)]
    ):
        g = torch.Generator().manual_seed(seed)

        def draw(*shape):
            return torch.randn(*shape, generator=g, dtype=torch.float64)

        w, english, foreign = draw(h_out, h), draw(b, h), draw(3, h)
        foreign[2] = 0.0  # an input that shares nothing: no move
        grads, moved = _one_step(w, english, foreign, lr)
        for k in range(3):
            what = f"predicted_move for foreign input {k} (lr = {lr}, H = {h})"
            got = fn(english.clone(), grads.clone(), foreign[k].clone(), lr)
            want = moved[k]
            hint = (
                "the step changes W by -lr Σ_e g_e m(e)ᵀ, so W m(x) "
                "changes by -lr Σ_e g_e (m(e)ᵀ m(x))"
            )
            if torch.is_tensor(got) and got.shape == want.shape:
                got64 = got.double()
                if (
                    torch.allclose(got64, -want, atol=1e-10)
                    and float(want.abs().max()) > 0
                ):
                    hint = (
                        "the sign is flipped: gradient descent moves "
                        "against the gradient, W' = W - lr ∇_W L"
                    )
                elif torch.allclose(got64, -lr * grads.sum(0), atol=1e-10):
                    hint = (
                        "each English move g_e is passed on weighted "
                        "by how much x's input overlaps e's, the dot "
                        "product m(e)ᵀ m(x): an input orthogonal to "
                        "every English input does not move"
                    )
            expect_close(got, want, what, rtol=1e-6, atol=1e-10, hint=hint)
    if vocab is None or ids is None or mask is None or german_ids is None:
        return (
            "Your prediction equals the measured move: for a linear "
            "layer the first-order formula is exact."
        )
    g = torch.Generator().manual_seed(0)
    table = torch.randn(len(vocab), 4, generator=g, dtype=torch.float64)
    m = torch.as_tensor(mask, dtype=torch.float64).unsqueeze(-1)
    english = (table[torch.as_tensor(ids)] * m).sum(1) / m.sum(1)  # (B, H)
    german = torch.as_tensor(german_ids)
    only = torch.tensor(
        [
            i
            for i in german.tolist()
            if i not in set(torch.as_tensor(ids).flatten().tolist())
        ]
    )
    inputs = torch.stack([table[german].mean(0), table[only].mean(0)])
    w = torch.randn(4, 4, generator=g, dtype=torch.float64)
    grads, _ = _one_step(w, english, inputs, 0.1)
    moves = [
        float(torch.as_tensor(fn(english, grads, x, 0.1)).norm())
        for x in inputs
    ]
    words = " ".join(vocab[i] for i in german.tolist())
    private = " ".join(vocab[i] for i in only.tolist())
    return (
        f"Your prediction equals the measured move: for a linear layer "
        f"the first-order formula is exact.  On the setup's toy "
        f"vocabulary (random rows, H = 4) the German '{words}' moves "
        f"by {moves[0]:.3f} and '{private}', which shares no word with "
        f"the English batch, by {moves[1]:.3f}: in four dimensions "
        f"random rows overlap.  In H = 768 random rows are nearly "
        f"orthogonal (overlap about 1/√H), so a shared layer passes "
        f"English moves on mainly to inputs that resemble English "
        f"ones — shared or already aligned pieces."
    )


def _rows_hint(got: set, read: set, padded: set, vocab: set) -> str:
    """Exercise 10.3's hint for a wrong set of rows; it names wrong or
    padded tokens, never the missing right ones."""
    if got == vocab:
        return (
            "every row is listed: look at which rows of "
            "table.weight.grad are non-zero, not whether the gradient "
            "exists (it is one dense (V, H) tensor)"
        )
    if got & padded:
        return (
            f"{sorted(got & padded)} only fills padded positions: "
            f"your pooling averaged them too; mask them out as the "
            f"encoder does"
        )
    if got - read:
        return (
            f"{sorted(got - read)}: not in the English batch, so no "
            f"path leads from the loss to their rows"
        )
    return (
        f"{len(read - got)} token(s) that the English batch reads are "
        f"missing: every row that an unmasked position reads gets a "
        f"gradient"
    )


@register("10.3")
def gradient_rows_checker(
    rows_with_gradient, *, vocab, ids, mask, german_ids
) -> str:
    """The vocabulary rows that get a non-zero gradient from a loss on the
    English batch ``ids`` (padded, ``mask``) under masked mean pooling."""
    expect(
        isinstance(rows_with_gradient, (list, tuple, set)),
        f"rows_with_gradient should be a list of tokens, got "
        f"{type(rows_with_gradient).__name__}",
    )
    expect(
        all(isinstance(w, str) for w in rows_with_gradient),
        "rows_with_gradient should list tokens as strings (e.g. "
        "'the'); turn row indices into tokens with vocab[i]",
    )
    got = set(rows_with_gradient)
    flat = zip(
        torch.as_tensor(ids).flatten().tolist(),
        torch.as_tensor(mask).flatten().tolist(),
    )
    read, padded = set(), set()
    for i, m in flat:
        (read if m else padded).add(vocab[i])
    padded -= read
    german = {vocab[i] for i in torch.as_tensor(german_ids).tolist()}
    if got != read:
        # A set answer: the hint never lists the right tokens (grading).
        wrong_choice(
            "rows_with_gradient",
            sorted(got),
            hint=_rows_hint(got, read, padded, set(vocab)),
            answer=f"{sorted(read)}, the tokens at the batch's "
            f"unmasked positions",
        )
    return (
        f"Only the rows the English batch reads can move. The "
        f"German-only rows {sorted(german - read)} get an exactly "
        f"zero gradient, so Adam leaves them where pre-training put "
        f"them; the rows German shares with English "
        f"({sorted(german & read)}) move for both languages -- the "
        f"path by which English tuning reaches a language that spells "
        f"some words alike."
    )
