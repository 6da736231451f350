"""Offline tools: backtest engine and report, built-in streams, replay demo, evidence queries."""

__all__: list[str] = []
