"""The running service: composition, the loop, the stage pipeline, the commit protocol, state."""

__all__: list[str] = []
