"""Solutions to chapter 08's exercises.

Each cell replaces the answer cell of the exercise it names; a ``wrong``
cell is a plausible mistake the check must catch.  Build the instructor
copy of the book with ``labse-lite course instructor instructor/``.
"""

# %% 8.1
def non_embedding(layers, hidden, ffn):
    """Parameters of a BERT encoder outside its embedding tables."""
    h, f = hidden, ffn
    attention = 4 * h * h + 4 * h       # Q, K, V, output: weights + biases
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
def feature_loss(student, teacher, feature_map):
    """student (N, d), teacher (N, D): the same N sentences."""
    lifted = feature_map(student)                  # (N, D)
    return ((lifted - teacher.detach()) ** 2).mean()


# %% 8.2 wrong: squared distance per sentence, a factor D too large
def feature_loss(student, teacher, feature_map):
    """student (N, d), teacher (N, D): the same N sentences."""
    lifted = feature_map(student)                  # (N, D)
    return ((lifted - teacher.detach()) ** 2).sum(dim=1).mean()


# %% 8.3
def logit_loss(sx, sy, tx, ty, temperature):
    """sx, sy: (B, d) student; tx, ty: (B, D) teacher; unit rows."""
    student = sx @ sy.T / temperature              # (B, B)
    teacher = (tx @ ty.T).detach() / temperature   # (B, B)
    return ((student - teacher) ** 2).mean()


largest = 4 / 100.0 ** 2    # cosines +1 against -1: (2 / T)²


# %% 8.3 wrong: the temperature divides the squared error once
def logit_loss(sx, sy, tx, ty, temperature):
    """sx, sy: (B, d) student; tx, ty: (B, D) teacher; unit rows."""
    diff = sx @ sy.T - (tx @ ty.T).detach()        # (B, B)
    return (diff ** 2).mean() / temperature


largest = 4 / 100.0 ** 2
