"""Budget additions: exhaustion forecast and the fraction budget's hard window cap."""

import pytest

from policies import AbsoluteBudget, BudgetSnapshot, FractionBudget, forecast_exhaustion
from policies.budget import SpendWindow


def _snap(remaining, end=1000.0):
    return BudgetSnapshot(0.0, 100.0, remaining, None, 0.0, end)


def test_forecast_returns_seconds_until_exhaustion():
    """remaining / burn rate, when that is before the period ends."""
    assert forecast_exhaustion(_snap(50.0), 0.5, now=100.0) == pytest.approx(100.0)


def test_forecast_none_when_budget_lasts_the_period():
    """No exhaustion before period end, no burn, or no cap: None."""
    assert forecast_exhaustion(_snap(50.0), 0.01, now=100.0) is None
    assert forecast_exhaustion(_snap(50.0), 0.0, now=100.0) is None
    assert forecast_exhaustion(BudgetSnapshot(5, None, None, 0.1, None, None), 1.0, 0.0) is None


def test_forecast_zero_when_spent():
    """An exhausted budget forecasts 0 seconds."""
    assert forecast_exhaustion(_snap(0.0), 1.0, now=10.0) == 0.0


def test_forecast_from_a_live_absolute_budget():
    """Forecast on a real snapshot: 8 of 10 left, 0.1/s, period ends in 90 s -> 80 s."""
    b = AbsoluteBudget(10, period_seconds=100)
    b.charge(2, 10.0)
    assert forecast_exhaustion(b.snapshot(10.0), 0.1, 10.0) == pytest.approx(80.0)


def test_fraction_budget_caps_catch_up_after_a_quiet_spell():
    """After a long quiet spell an always-asking strategy spends at most B*w + 1 per window."""
    b = FractionBudget(0.1, window=100)
    for t in range(1000):
        b.observe(float(t))
    spent = 0
    for t in range(1000, 1100):
        b.observe(float(t))
        if b.allows(1.0, float(t)):
            b.charge(1.0, float(t))
            spent += 1
    assert spent <= 11


def test_fraction_budget_loads_state_saved_without_window():
    """A state saved before the window cap existed (u and spent only) still loads."""
    b = FractionBudget(0.1, window=100)
    b.load_state({"u": 5.0, "spent": 3.0})
    assert b.snapshot(0.0).spent == 3.0


def test_spend_window_drops_old_items():
    """The window total covers only the last ``size`` items."""
    w = SpendWindow(2)
    for cost in (5.0, 1.0, 1.0):
        w.observe()
        w.charge(cost)
    assert w.total == 2.0
