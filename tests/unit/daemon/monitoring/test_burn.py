"""Burn rate over a trailing window, and the forecast of when the budget runs out."""

from __future__ import annotations

import pytest

from daemon.monitoring.burn import BurnRate, seconds_to_exhaustion


def test_rate_is_spend_per_second_over_the_window():
    """6 units a minute for ten minutes is 0.1 units per second."""
    burn = BurnRate(window_seconds=600)
    for t in range(0, 600, 60):
        burn.add(t, 6.0)
    assert burn.rate(600) == pytest.approx(0.1)


def test_old_charges_leave_the_window():
    """Charges older than the window no longer count."""
    burn = BurnRate(window_seconds=120)
    burn.add(0.0, 100.0)
    assert burn.rate(60.0) > 0
    assert burn.rate(1000.0) == 0.0


def test_a_short_history_is_averaged_over_at_least_one_bucket():
    """Right after the first charge the rate is not inflated by a tiny span."""
    burn = BurnRate(window_seconds=3600, bucket_seconds=60)
    burn.add(0.0, 6.0)
    assert burn.rate(1.0) == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("remaining", "rate", "expected"), [(10.0, 0.5, 20.0), (None, 1.0, None), (5.0, 0.0, None)]
)
def test_exhaustion_forecast(remaining, rate, expected):
    """remaining / rate, or None without a limit or without spending."""
    assert seconds_to_exhaustion(remaining, rate) == expected
