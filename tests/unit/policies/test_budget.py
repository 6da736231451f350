"""Budget managers: pacing by fraction, hard caps per period, and their combination."""

import itertools
import math
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.service.state import PolicyState
from policies import AbsoluteBudget, CombinedBudget, FractionBudget, set_share
from policies.budget import SpendWindow


def _always_ask(budget, n, cost=1.0, dt=1.0):
    """Drive ``budget`` with a strategy that asks for every item; return the 0/1 query trace."""
    trace = []
    for i in range(n):
        t = i * dt
        budget.observe(t)
        if budget.allows(cost, t):
            budget.charge(cost, t)
            trace.append(1)
        else:
            trace.append(0)
    return trace


def _json_round_trip(state):
    """The state as it comes back from the state log (PolicyState JSON)."""
    doc = PolicyState(policy={"b": state}, label_offsets={}, saved_at=0.0).model_dump_json()
    return PolicyState.model_validate_json(doc).policy["b"]


# --------------------------------------------------------------------------- FractionBudget


@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_fraction_budget_paces_every_window_within_ten_percent(data):
    """Always asking, every window of 10/B items after warm-up gets B*10/B = 10 queries +-10%."""
    fraction = data.draw(st.sampled_from([0.01, 0.02, 0.04, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0]))
    window = data.draw(st.integers(math.ceil(10 / fraction), 5000))
    n = 50_000
    trace = _always_ask(FractionBudget(fraction, window), n)
    span = round(10 / fraction)
    target = fraction * span
    prefix = [0, *itertools.accumulate(trace)]
    counts = [prefix[i + span] - prefix[i] for i in range(window, n - span + 1)]
    assert 0.9 * target - 1e-9 <= min(counts)
    assert max(counts) <= 1.1 * target + 1e-9
    assert sum(trace) / n == pytest.approx(fraction, rel=0.1)


def test_fraction_budget_holds_target_when_window_is_short_of_ten_queries():
    """A 0.1% budget over the default 1000-item window spends within 10% of 0.1% of the stream."""
    fraction, window, n = 0.001, 1000, 200_000
    trace = _always_ask(FractionBudget(fraction, window), n)
    assert sum(trace) / n <= 1.1 * fraction


@settings(max_examples=30, deadline=None)
@given(
    fraction=st.floats(0.001, 1.0),
    window=st.integers(1, 3000),
    costs=st.lists(st.floats(0.1, 5.0), min_size=1, max_size=50),
)
def test_fraction_budget_spend_is_bounded_by_decay(fraction, window, costs):
    """Spend over n items never exceeds n*(fraction + c_max/window) + c_max.

    The estimate u is below fraction*window whenever a query is allowed, so u < f*w + c_max
    always; each item decays u by u/w <= f + c_max/w, and spend = u_end - u_0 + total decay.
    """
    budget = FractionBudget(fraction, window)
    n, spent = 3000, 0.0
    for i, cost in zip(range(n), itertools.cycle(costs)):
        budget.observe(float(i))
        if budget.allows(cost, float(i)):
            budget.charge(cost, float(i))
            spent += cost
    c_max = max(costs)
    assert spent <= n * (fraction + c_max / window) + c_max + 1e-6
    assert budget.snapshot(n).spent == pytest.approx(spent)


def test_fraction_budget_starts_on_budget():
    """The estimate starts at the target, so a fresh budget does not burst a window of queries."""
    budget = FractionBudget(0.1, window=100)
    assert budget.estimate == pytest.approx(0.1)
    trace = _always_ask(budget, 10)
    assert sum(trace) <= 2


def test_fraction_budget_estimate_decays_without_queries():
    """Observing items without queries lowers the estimate by (w-1)/w per item."""
    budget = FractionBudget(0.2, window=50)
    for i in range(10):
        budget.observe(float(i))
    assert budget.estimate == pytest.approx(0.2 * (49 / 50) ** 10)
    assert budget.snapshot(10.0).spent == 0.0


@pytest.mark.parametrize(("fraction", "window"), [(0.0, 10), (1.5, 10), (-0.1, 10), (0.1, 0)])
def test_fraction_budget_rejects_invalid_arguments(fraction, window):
    """A fraction outside (0, 1] or a window below 1 is a ValueError."""
    with pytest.raises(ValueError, match=r"fraction|window"):
        FractionBudget(fraction, window)


# --------------------------------------------------------------------------- AbsoluteBudget


@settings(max_examples=200, deadline=None)
@given(
    limit=st.floats(0.0, 20.0),
    period=st.floats(0.5, 100.0),
    origin=st.floats(-50.0, 50.0),
    steps=st.lists(
        st.tuples(st.floats(0.0, 6.0), st.floats(-200.0, 400.0)), min_size=1, max_size=80
    ),
)
def test_absolute_budget_never_overshoots(limit, period, origin, steps):
    """Under any (cost, time) sequence, spend within a period never exceeds the limit.

    The budget's period is the latest one seen (time going backwards keeps the current period);
    a query is allowed exactly when the period's spend plus its cost fits the limit.
    """
    budget = AbsoluteBudget(limit, period, origin)
    current, spent = -math.inf, 0.0
    for cost, t in steps:
        p = math.floor((t - origin) / period)
        if p > current:
            current, spent = p, 0.0
        allowed = budget.allows(cost, t)
        assert allowed == (spent + cost <= limit)
        if allowed:
            budget.charge(cost, t)
            spent += cost
        assert spent <= limit
        assert budget.snapshot(t).spent == spent
        assert budget.snapshot(t).remaining == max(0.0, limit - spent)


def test_absolute_budget_resets_at_period_boundary():
    """Spent up to the limit, it refuses until the next period starts, then allows again."""
    budget = AbsoluteBudget(limit=3, period_seconds=10, origin=5)
    for _ in range(3):
        assert budget.allows(1, 5.0)
        budget.charge(1, 5.0)
    assert not budget.allows(1, 5.0)
    assert not budget.allows(1, 14.999)
    assert budget.allows(1, 15.0)
    snap = budget.snapshot(15.0)
    assert (snap.spent, snap.period_start, snap.period_end) == (0.0, 15.0, 25.0)


def test_absolute_budget_charge_raises_on_overshoot():
    """Charging past the limit raises and leaves the spend unchanged."""
    budget = AbsoluteBudget(limit=2, period_seconds=100)
    budget.charge(1.5, 0.0)
    with pytest.raises(ValueError, match="overshoot"):
        budget.charge(1.0, 1.0)
    assert budget.snapshot(1.0).spent == 1.5


def test_absolute_budget_snapshot_reports_cap_and_period():
    """The snapshot carries the limit, what is left, and the aligned period bounds."""
    budget = AbsoluteBudget(limit=10, period_seconds=86400)
    budget.charge(4, 86400 * 3 + 7)
    snap = budget.snapshot(86400 * 3 + 8)
    assert (snap.limit, snap.remaining, snap.fraction) == (10, 6, None)
    assert (snap.period_start, snap.period_end) == (86400 * 3, 86400 * 4)


@pytest.mark.parametrize(("limit", "period"), [(-1, 10), (1, 0), (1, -5)])
def test_absolute_budget_rejects_invalid_arguments(limit, period):
    """A negative limit or a non-positive period is a ValueError."""
    with pytest.raises(ValueError, match=r"limit|period"):
        AbsoluteBudget(limit, period)


def test_absolute_budget_state_survives_the_state_log_before_any_item():
    """A never-used absolute budget's state round-trips through the state-log JSON."""
    state = _json_round_trip(AbsoluteBudget(5, 10).state_dict())
    restored = AbsoluteBudget(5, 10)
    restored.load_state(state)
    assert restored.allows(5, 0.0)


# --------------------------------------------------------------------------- CombinedBudget


def test_combined_budget_honours_both_members():
    """A 50% pace under a cap of 3 per 100 s: never more than 3 per period nor above the pace."""
    budget = CombinedBudget(FractionBudget(0.5, window=20), AbsoluteBudget(3, 100))
    trace = _always_ask(budget, 1000)
    per_period = [sum(trace[i : i + 100]) for i in range(0, 1000, 100)]
    assert per_period == [3] * 10
    paced = CombinedBudget(FractionBudget(0.1, window=100), AbsoluteBudget(1000, 100))
    trace = _always_ask(paced, 5000)
    assert sum(trace) / 5000 == pytest.approx(0.1, rel=0.1)
    assert max(sum(trace[i : i + 100]) for i in range(0, 5000, 100)) < 1000


def test_combined_budget_refuses_when_any_member_refuses():
    """``allows`` is the conjunction of the members' answers."""
    cap = AbsoluteBudget(1, 100)
    budget = CombinedBudget(FractionBudget(1.0, window=10), cap)
    budget.observe(0.0)
    assert budget.allows(1, 0.0)
    cap.charge(1, 0.0)
    assert not budget.allows(1, 0.0)


def test_combined_budget_snapshot_reports_cap_and_fraction():
    """The snapshot takes the cap from the absolute member and the estimate from the fraction."""
    fraction = FractionBudget(0.2, window=50)
    budget = CombinedBudget(fraction, AbsoluteBudget(7, 100))
    budget.observe(0.0)
    budget.charge(2, 0.0)
    snap = budget.snapshot(0.0)
    assert (snap.spent, snap.limit, snap.remaining) == (2, 7, 5)
    assert snap.fraction == pytest.approx(fraction.estimate)


def test_combined_budget_state_round_trip_keeps_members_apart():
    """state_dict prefixes members by position and load_state restores each one."""
    original = CombinedBudget(FractionBudget(0.3, 40), AbsoluteBudget(9, 50))
    _always_ask(original, 77)
    state = _json_round_trip(original.state_dict())
    assert {k.split(".", 1)[0] for k in state} == {"0", "1"}
    restored = CombinedBudget(FractionBudget(0.3, 40), AbsoluteBudget(9, 50))
    restored.load_state(state)
    assert restored.state_dict() == original.state_dict()
    assert _always_ask(restored, 300) == _always_ask(original, 300)


def test_combined_budget_needs_a_member():
    """An empty combination is a ValueError."""
    with pytest.raises(ValueError, match="at least one"):
        CombinedBudget()


# --------------------------------------------------------------------------- persistence


BUDGETS = {
    "fraction": lambda: FractionBudget(0.1, 100),
    "absolute": lambda: AbsoluteBudget(4, 30),
    "combined": lambda: CombinedBudget(FractionBudget(0.2, 50), AbsoluteBudget(5, 40)),
}


@pytest.mark.parametrize("make", BUDGETS.values(), ids=BUDGETS.keys())
def test_budget_state_and_pickle_round_trip(make):
    """A budget restored from state_dict (through JSON) or from pickle continues identically."""
    original = make()
    _always_ask(original, 123)
    restored = make()
    restored.load_state(_json_round_trip(original.state_dict()))
    pickled = pickle.loads(pickle.dumps(original))
    tail = _always_ask(original, 500)
    assert _always_ask(restored, 500) == tail
    assert _always_ask(pickled, 500) == tail


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


@settings(max_examples=50, deadline=None)
@given(
    limit=st.integers(0, 200),
    shares=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=5),
    costs=st.lists(st.floats(0.1, 3.0), min_size=1, max_size=200),
)
def test_spend_never_exceeds_the_shared_cap(limit, shares, costs):
    """Whatever share is set (and however often), spend never exceeds limit x current share."""
    budget = AbsoluteBudget(limit, period_seconds=1e9)
    for i, cost in enumerate(costs):
        share = shares[i % len(shares)]
        set_share(budget, share)
        if budget.allows(cost, float(i)):
            budget.charge(cost, float(i))
            assert budget.snapshot(float(i)).spent <= limit * share + 1e-9


def test_share_reaches_every_absolute_member_only():
    """set_share scales absolute limits inside a combined budget and leaves pacing alone."""
    pace, cap = FractionBudget(0.5, window=10), AbsoluteBudget(90, period_seconds=100)
    set_share(CombinedBudget(pace, cap), 1 / 3)
    assert cap.cap == pytest.approx(30)
    assert cap.limit == 90
    assert pace.fraction == 0.5
    with pytest.raises(ValueError, match="share"):
        cap.set_share(1.5)
