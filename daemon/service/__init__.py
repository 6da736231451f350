"""The running service: app lifecycle, the processing loop, offsets, state, rebalances, health."""

__all__: list[str] = []
