"""Solutions to chapter 10's exercises.

Each cell replaces the answer cell of the exercise it names; a ``wrong``
cell is a plausible mistake the check must catch.  Build the instructor
copy of the book with ``labse-lite course instructor instructor/``.
"""

# %% 10.1
def pool(hidden, mask, how):
    """hidden: (B, T, H) token states; mask: (B, T), 1 for real tokens.
    Returns (B, H) sentence vectors."""
    m = mask.unsqueeze(-1).to(hidden.dtype)                  # (B, T, 1)
    if how == "mean":
        return (hidden * m).sum(1) / m.sum(1)
    if how == "max":
        return hidden.masked_fill(m == 0, float("-inf")).max(1).values
    return hidden[:, 0]                                      # [CLS]


# %% 10.1 wrong: mean and max ignore the mask (padding is averaged in)
def pool(hidden, mask, how):
    """hidden: (B, T, H) token states; mask: (B, T), 1 for real tokens.
    Returns (B, H) sentence vectors."""
    if how == "mean":
        return hidden.mean(1)
    if how == "max":
        return hidden.max(1).values
    return hidden[:, 0]


# %% 10.2
def predicted_move(english_inputs, english_grads, x_input, lr):
    """english_inputs: (B, H) inputs m(e); english_grads: (B, H_out)
    gradients g_e = dL/d(W m(e)); x_input: (H,).  Returns the (H_out,)
    change of W m(x) after one SGD step W' = W - lr dL/dW."""
    overlap = english_inputs @ x_input                       # (B,)
    return -lr * (overlap.unsqueeze(-1) * english_grads).sum(0)


# %% 10.2 wrong: every English move is passed on unweighted
def predicted_move(english_inputs, english_grads, x_input, lr):
    """english_inputs: (B, H) inputs m(e); english_grads: (B, H_out)
    gradients g_e = dL/d(W m(e)); x_input: (H,).  Returns the (H_out,)
    change of W m(x) after one SGD step W' = W - lr dL/dW."""
    return -lr * english_grads.sum(0)


# %% 10.3
torch.manual_seed(0)
table = torch.nn.Embedding(len(vocab), 4)                    # (V, H)
m = english_mask.unsqueeze(-1).float()                       # (B, T, 1)
sentences = (table(english_ids) * m).sum(1) / m.sum(1)       # (B, H)
loss = -torch.cosine_similarity(sentences[0], sentences[1], dim=0)
loss.backward()
moved = table.weight.grad.abs().sum(1) > 0                   # (V,)
rows_with_gradient = [w for w, g in zip(vocab, moved) if g]


# %% 10.3 wrong: the pooling averages the padded positions too
torch.manual_seed(0)
table = torch.nn.Embedding(len(vocab), 4)
sentences = table(english_ids).mean(1)
loss = -torch.cosine_similarity(sentences[0], sentences[1], dim=0)
loss.backward()
moved = table.weight.grad.abs().sum(1) > 0
rows_with_gradient = [w for w, g in zip(vocab, moved) if g]
