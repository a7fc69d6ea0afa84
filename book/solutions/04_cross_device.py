"""Solutions to chapter 04's exercises.

Each cell replaces the answer cell of the exercise it names; a ``wrong``
cell is a plausible mistake the check must catch.  Build the instructor
copy of the book with ``labse-lite course instructor instructor/``.
"""

# %% 4.1
def all_gather_backward(grads):
    """grads: R tensors (R*B, D), grads[r] = dL_r/dV.  Returns R tensors
    (B, D): the gradient that rank t receives for the rows it gave."""
    ranks = len(grads)
    rows = grads[0].shape[0] // ranks                 # B
    total = torch.stack(grads).sum(dim=0)             # reduce: (R*B, D)
    return [total[s * rows:(s + 1) * rows]            # scatter: (B, D)
            for s in range(ranks)]


# %% 4.1 wrong: each rank keeps only its own loss's gradient (no sum)
def all_gather_backward(grads):
    """grads: R tensors (R*B, D), grads[r] = dL_r/dV.  Returns R tensors
    (B, D): the gradient that rank t receives for the rows it gave."""
    ranks = len(grads)
    rows = grads[0].shape[0] // ranks
    return [grads[s][s * rows:(s + 1) * rows] for s in range(ranks)]


# %% 4.2
def ddp_gradient(W, xs, ys):
    """W: (D_IN, D) encoder weights; xs, ys: R tensors (B, D_IN), rank r's
    sources and translations.  Returns DDP's gradient for W."""
    ranks = len(xs)
    replicas = [W.detach().clone().requires_grad_() for _ in range(ranks)]
    x = [encode(xs[r], replicas[r]) for r in range(ranks)]   # R × (B, D)
    y = [encode(ys[r], replicas[r]) for r in range(ranks)]
    x_all, y_all = torch.cat(x), torch.cat(y)     # the gather: (R*B, D)
    total = sum(rank_loss(r, x[r], y[r], x_all, y_all)
                for r in range(ranks))
    total.backward()              # each replica: the gather's summed grad
    return sum(w.grad for w in replicas) / ranks      # DDP's average


# %% 4.2 wrong: the replicas' gradients are summed, not averaged
def ddp_gradient(W, xs, ys):
    """W: (D_IN, D) encoder weights; xs, ys: R tensors (B, D_IN), rank r's
    sources and translations.  Returns DDP's gradient for W."""
    ranks = len(xs)
    replicas = [W.detach().clone().requires_grad_() for _ in range(ranks)]
    x = [encode(xs[r], replicas[r]) for r in range(ranks)]
    y = [encode(ys[r], replicas[r]) for r in range(ranks)]
    x_all, y_all = torch.cat(x), torch.cat(y)
    total = sum(rank_loss(r, x[r], y[r], x_all, y_all)
                for r in range(ranks))
    total.backward()
    return sum(w.grad for w in replicas)


# %% 4.3
def cached_gradient(W, chunks, embed, loss_fn):
    """W: leaf (D_IN, D) with requires_grad; chunks: K tensors (2c, D_IN),
    c sources then their c translations.  Returns dL/dW."""
    states, xs, ys = [], [], []
    with torch.no_grad():                             # pass 1: no graph
        for chunk in chunks:
            states.append(torch.get_rng_state())
            e = embed(W, chunk)                       # (2m, D)
            m = len(chunk) // 2
            xs.append(e[:m])
            ys.append(e[m:])
    x = torch.cat(xs).requires_grad_()                # (N, D)
    y = torch.cat(ys).requires_grad_()                # (N, D)
    loss_fn(x, y).backward()                          # the cache g_k
    start = 0
    for chunk, state in zip(chunks, states):          # pass 2
        m = len(chunk) // 2
        g = torch.cat([x.grad[start:start + m],
                       y.grad[start:start + m]])      # (2m, D)
        start += m
        torch.set_rng_state(state)                    # pass 1's masks
        (embed(W, chunk) * g).sum().backward()        # += (de/dW)^T g
    return W.grad


# %% 4.3 wrong: pass 2 draws fresh dropout masks (no random-state replay)
def cached_gradient(W, chunks, embed, loss_fn):
    """W: leaf (D_IN, D) with requires_grad; chunks: K tensors (2c, D_IN),
    c sources then their c translations.  Returns dL/dW."""
    xs, ys = [], []
    with torch.no_grad():
        for chunk in chunks:
            e = embed(W, chunk)
            m = len(chunk) // 2
            xs.append(e[:m])
            ys.append(e[m:])
    x = torch.cat(xs).requires_grad_()
    y = torch.cat(ys).requires_grad_()
    loss_fn(x, y).backward()
    start = 0
    for chunk in chunks:
        m = len(chunk) // 2
        g = torch.cat([x.grad[start:start + m], y.grad[start:start + m]])
        start += m
        (embed(W, chunk) * g).sum().backward()
    return W.grad
