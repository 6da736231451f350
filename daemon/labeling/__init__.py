"""Expert queues: routing, capacity, pending requests, label intake, resolution and redaction."""

__all__: list[str] = []
