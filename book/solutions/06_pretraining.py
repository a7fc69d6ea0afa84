"""Solutions to chapter 06's exercises.

Each cell replaces the answer cell of the exercise it names; a ``wrong``
cell is a plausible mistake the check must catch.  Build the instructor
copy of the book with ``labse-lite course instructor instructor/``.
"""

# %% 6.1
def corrupt(ids, chosen, action, random_ids, mask_id):
    """ids, chosen, action, random_ids: (B, T); returns (corrupted,
    labels), both (B, T)."""
    to_mask = chosen & (action < 0.8)
    to_random = chosen & (action >= 0.8) & (action < 0.9)
    corrupted = ids.clone()
    corrupted[to_mask] = mask_id
    corrupted[to_random] = random_ids[to_random]
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    return corrupted, labels


# %% 6.1 wrong: only the [MASK] positions are scored
def corrupt(ids, chosen, action, random_ids, mask_id):
    """ids, chosen, action, random_ids: (B, T); returns (corrupted,
    labels), both (B, T)."""
    to_mask = chosen & (action < 0.8)
    to_random = chosen & (action >= 0.8) & (action < 0.9)
    corrupted = ids.clone()
    corrupted[to_mask] = mask_id
    corrupted[to_random] = random_ids[to_random]
    labels = torch.where(to_mask, ids, torch.full_like(ids, -100))
    return corrupted, labels


# %% 6.2
def tlm_input(a, b, cls_id, sep_id, max_length):
    """a, b: lists of word-piece ids; returns [CLS] a [SEP] b [SEP]."""
    room = max_length - 3
    half = room // 2
    if len(a) + len(b) > room:
        if len(a) <= half:          # a fits in half: cut b only
            b = b[:room - len(a)]
        elif len(b) <= half:        # b fits in half: cut a only
            a = a[:room - len(b)]
        else:                       # both long: half each
            a, b = a[:half], b[:room - half]
    return [cls_id, *a, sep_id, *b, sep_id]


# %% 6.2 wrong: only the second sentence is cut to make room
def tlm_input(a, b, cls_id, sep_id, max_length):
    """a, b: lists of word-piece ids; returns [CLS] a [SEP] b [SEP]."""
    room = max_length - 3
    if len(a) + len(b) > room:
        b = b[:max(room - len(a), 0)]
    return [cls_id, *a, sep_id, *b, sep_id]


# %% 6.3
def second_order(mats):
    """mats: [A_1, ..., A_k], (d, d) each, A_1 the first layer applied.
    Returns Q with F∘F = I + 2εS + ε²Q + O(ε³)."""
    total = sum(mats)                                   # S = Σ_l A_l
    pairs = sum(mats[l] @ mats[m]                       # P = Σ_{l>m} A_l A_m
                for l in range(len(mats)) for m in range(l))
    # the pairs inside each copy (2P), then one factor from each copy:
    # the upper copy's A_l after the lower copy's A_m, for every l and m
    return 2 * pairs + total @ total


# %% 6.3 wrong: the pairs that span the two copies are forgotten
def second_order(mats):
    """mats: [A_1, ..., A_k], (d, d) each, A_1 the first layer applied.
    Returns Q with F∘F = I + 2εS + ε²Q + O(ε³)."""
    pairs = sum(mats[l] @ mats[m]
                for l in range(len(mats)) for m in range(l))
    return 2 * pairs
