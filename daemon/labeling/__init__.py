"""Expert queues: routing, admission and spend, open requests, label intake, redaction."""

__all__: list[str] = []
