"""What the loop does to the data: feedback statistics, Prometheus metrics, status."""

__all__: list[str] = []
