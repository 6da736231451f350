"""Per-item randomness derived from a hash, so a redelivered item gets the same draw."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

_SCALE = float(1 << 64)


def item_uniform(key: str, version: str, seed: int) -> float:
    """Return a uniform draw in [0, 1) that depends only on (key, version, seed).

    A stateful RNG would give a redelivered item (at-least-once consumption) a different draw,
    hence possibly a different decision; hashing makes the decision a function of the item.

    Examples
    --------
    >>> item_uniform("a", "v1", 0) == item_uniform("a", "v1", 0)
    True
    >>> 0.0 <= item_uniform("b", "v1", 7) < 1.0
    True
    """
    digest = hashlib.blake2b(f"{seed}\x1f{version}\x1f{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def item_uniforms(keys: Iterable[str], version: str, seed: int) -> list[float]:
    """:func:`item_uniform` for many keys at once (the same draws, bit for bit).

    >>> item_uniforms(["a", "b"], "v1", 0) == [item_uniform(k, "v1", 0) for k in "ab"]
    True
    """
    prefix = f"{seed}\x1f{version}\x1f".encode()
    blake2b = hashlib.blake2b
    from_bytes = int.from_bytes
    return [
        from_bytes(blake2b(prefix + key.encode(), digest_size=8).digest(), "big") / _SCALE
        for key in keys
    ]
