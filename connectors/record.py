"""The typed value every source yields: bytes plus where they came from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Record:
    """One consumed message. ``value`` is None for a tombstone (compacted state topics)."""

    value: bytes | None
    key: bytes | None
    topic: str
    partition: int
    offset: int
