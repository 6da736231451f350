"""Message contracts: the versioned JSON labelgate reads and writes, and how bytes become it."""

__all__: list[str] = []
