"""The one validation split of model selection, shared by the binding and the reranker trainers.

Examples (a binding's paired texts, a reranker's first-stage lists) are split by *caption
group*: every example carries the normalised caption texts it involves (a text query's own
text, the text items judged relevant to an image query, a pair's caption), and all examples
that share a caption — in any set or source of one training run — land on the same side. So a
caption trained on as a text→image query never comes back as the answer of an image→text
validation list, and two sources captioning one thing alike cannot validate each other.

The side of a group is a hash of the seed and the group's smallest caption: deterministic,
independent of the order examples arrive in, and stable when other groups are added.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence

from xmodal.data.dedup import caption_key as caption_key  # re-exported: the key the split groups by


def split_by_caption(keys: Sequence[Collection[str]], val_fraction: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """(train indices, validation indices) of examples whose caption keys are `keys[i]`.

    Examples sharing any key are joined into one group (transitively); about `val_fraction` of
    the groups go to validation. An example without keys is a group of its own.
    """
    parent = list(range(len(keys)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, ks in enumerate(keys):
        for k in ks:
            j = owner.setdefault(k, i)
            a, b = find(i), find(j)
            if a != b:
                parent[max(a, b)] = min(a, b)
    name: dict[int, str] = {}
    for i, ks in enumerate(keys):
        r = find(i)
        label = min(ks) if ks else f"\0example {i}"
        name[r] = min(name.get(r, label), label)
    train, val = [], []
    for i in range(len(keys)):
        h = int(hashlib.sha1(f"{seed}\0{name[find(i)]}".encode("utf-8")).hexdigest()[:8], 16) % 10_000
        (val if h < val_fraction * 10_000 else train).append(i)
    return train, val
