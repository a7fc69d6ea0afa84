"""Solutions to chapter 08's exercises.

Each cell replaces the answer cell of the exercise it names; a ``wrong``
cell is a plausible mistake the check must catch.  Build the instructor
copy of the book with ``labse-lite course instructor instructor/``.
"""

# %% 8.1
def non_embedding(layers, hidden, ffn):
    """Parameters of a BERT encoder outside its embedding tables."""
    h, f = hidden, ffn
    attention = 4 * h * h + 4 * h       # W_Q, W_K, W_V, W_O + biases
    feed_forward = 2 * h * f + f + h    # h -> f -> h: weights + biases
    layer_norms = 2 * 2 * h             # after attention and after FFN
    per_layer = attention + feed_forward + layer_norms
    return layers * per_layer + 2 * h   # + the embedding LayerNorm


# %% 8.1 wrong: the textbook 12h² + 13h per layer assumes an FFN of 4h
def non_embedding(layers, hidden, ffn):
    """Parameters of a BERT encoder outside its embedding tables."""
    h = hidden
    return layers * (12 * h * h + 13 * h) + 2 * h


# %% 8.2
def best_map(student, teacher):
    """student (n, d), teacher (n, D): the (W, b) with the least feature
    loss mean((t - (W s + b))²); W is (D, d), b is (D,)."""
    s_mean, t_mean = student.mean(0), teacher.mean(0)
    # Centred, the bias drops out: W solves (S - s̄) Wᵀ ≈ T - t̄.
    w_t = torch.linalg.lstsq(student - s_mean, teacher - t_mean).solution
    w = w_t.T                                        # (D, d)
    return w, t_mean - w @ s_mean


# %% 8.2 wrong: no bias, so the means are fitted by W alone
def best_map(student, teacher):
    """student (n, d), teacher (n, D): the (W, b) with the least feature
    loss mean((t - (W s + b))²); W is (D, d), b is (D,)."""
    w = torch.linalg.lstsq(student, teacher).solution.T
    return w, torch.zeros(teacher.shape[1], dtype=teacher.dtype)


# %% 8.3
def widest(layers, budget):
    """Largest width h (d_ff = 4h) with layers (12h² + 13h) + 2h <= budget."""
    a, b = 12 * layers, 13 * layers + 2     # a h² + b h <= budget
    h = int((-b + (b * b + 4 * a * budget) ** 0.5) / (2 * a))
    # guard against rounding of the square root at an exact fit
    while a * (h + 1) ** 2 + b * (h + 1) <= budget:
        h += 1
    while h > 0 and a * h * h + b * h > budget:
        h -= 1
    return h


# %% 8.3 wrong: the textbook N ≈ 12 L h² solved for h
def widest(layers, budget):
    """Largest width h (d_ff = 4h) with layers (12h² + 13h) + 2h <= budget."""
    return int((budget / (12 * layers)) ** 0.5)
