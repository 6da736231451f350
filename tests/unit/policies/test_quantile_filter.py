"""Balanced incremental quantile filter with bounded carry-over."""

import math
import random
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies import (
    BalancedIncrementalQuantileFilter,
    CombinedBudget,
    FixedUncertainty,
    FractionBudget,
    ItemView,
    Policy,
    RandomAudit,
    Reason,
)


def _feed(f, utilities, start=0, available=True):
    """Offer utilities one per second; charge admitted ones when available; return queries."""
    queries = []
    for t, u in enumerate(utilities, start):
        f.observe(float(t))
        ok = f.allows(1.0, float(t))
        hit = f.admits(u, 1.0, float(t)) and ok and available
        if hit:
            f.charge(1.0, float(t))
        queries.append(hit)
    return queries


def test_spends_about_the_budget_on_a_stationary_stream():
    """On uniform utilities the long-run query rate is close to the budget."""
    rng = random.Random(0)
    f = BalancedIncrementalQuantileFilter(0.1, window=200, w_tol=50, max_carry=3)
    q = _feed(f, [rng.random() for _ in range(10000)])
    assert sum(q) / len(q) == pytest.approx(0.1, rel=0.1)


def test_selects_high_utilities():
    """Queried items have higher utility than the average item."""
    rng = random.Random(1)
    us = [rng.random() for _ in range(5000)]
    q = _feed(BalancedIncrementalQuantileFilter(0.1, window=200), us)
    chosen = [u for u, hit in zip(us, q, strict=True) if hit]
    assert sum(chosen) / len(chosen) > 0.8


def test_head_start_front_loads_then_repays():
    """A head start spends its labels early but keeps the long-run spend at the budget."""
    rng = random.Random(3)
    us = [rng.random() for _ in range(8000)]
    f = BalancedIncrementalQuantileFilter(0.01, window=1000, max_carry=5, head_start=20)
    q = _feed(f, us)
    plain = _feed(BalancedIncrementalQuantileFilter(0.01, window=1000, max_carry=5), us)
    assert sum(q[:200]) >= 10 > sum(plain[:200])
    assert f.loan == 0.0
    assert sum(q) <= 0.01 * len(q) + 5
    assert sum(q) == pytest.approx(0.01 * len(q), rel=0.15)


def test_head_start_survives_a_restart():
    """The outstanding loan is part of the durable state."""
    f = BalancedIncrementalQuantileFilter(0.1, window=50, head_start=10)
    _feed(f, [0.5] * 30)
    g = BalancedIncrementalQuantileFilter(0.1, window=50, head_start=10)
    g.load_state(f.state_dict())
    assert (g.loan, g.carry, g.cap) == (f.loan, f.carry, f.cap)


def test_ties_cannot_overspend():
    """Equal utilities are all admitted, yet the long-run spend stays at the budget."""
    f = BalancedIncrementalQuantileFilter(0.1, window=200, max_carry=5, head_start=20)
    q = _feed(f, [0.5] * 2000)
    assert sum(q) <= 0.1 * 2000 + 5 + 1


def test_no_burst_after_an_outage():
    """After 2,000 items without labelling, the next window spends at most budget*w + max_carry."""
    rng = random.Random(2)
    f = BalancedIncrementalQuantileFilter(0.1, window=100, w_tol=20, max_carry=2)
    _feed(f, [rng.random() for _ in range(500)])
    _feed(f, [rng.random() for _ in range(2000)], start=500, available=False)
    assert f.carry == pytest.approx(2.0)
    after = _feed(f, [rng.random() for _ in range(100)], start=2500)
    assert sum(after) <= 0.1 * 100 + 2


def test_ties_do_not_break_the_cap():
    """Identical utilities (zero spread) cannot push spend above the hard cap."""
    f = BalancedIncrementalQuantileFilter(0.2, window=50, max_carry=1)
    q = _feed(f, [0.5] * 1000)
    for s in range(0, 950):
        assert sum(q[s : s + 50]) <= 11


def test_policy_refuses_unadmitted_queries_but_not_audits():
    """Through a Policy, low-utility queries become below_quantile; audits are exempt."""
    f = BalancedIncrementalQuantileFilter(0.1, window=50, max_carry=0)
    p = Policy(FixedUncertainty(threshold=1.0), f)
    reasons = set()
    rng = random.Random(3)
    for t in range(500):
        top = 0.5 + rng.random() / 2
        item = ItemView(f"i{t}", {"x": top, "y": 1 - top}, classes_seen=2)
        d = p.decide(item, float(t))
        p.commit(d, item, float(t))
        reasons.add(d.reason)
        if d.reason is Reason.BELOW_QUANTILE:
            assert d.probability == 0.0
    assert Reason.BELOW_QUANTILE in reasons
    audited = Policy(
        RandomAudit(FixedUncertainty(1.0), share=1.0, budget=1.0),
        BalancedIncrementalQuantileFilter(0.01, window=50),
    )
    for t in range(20):
        d = audited.decide(ItemView(f"a{t}", {"x": 1.0, "y": 0.0}, classes_seen=2), float(t))
        assert d.reason is not Reason.BELOW_QUANTILE


def test_unadmitted_items_keep_their_audit_chance():
    """Under a ranking budget an unadmitted item's propensity is the audit rate, not 0."""
    p = Policy(
        RandomAudit(FixedUncertainty(1.0), share=0.2, budget=0.1, seed=1),
        BalancedIncrementalQuantileFilter(0.1, window=50, max_carry=0),
    )
    rng = random.Random(4)
    seen = set()
    for t in range(500):
        top = 0.5 + rng.random() / 2
        item = ItemView(f"i{t}", {"x": top, "y": 1 - top}, classes_seen=2)
        d = p.decide(item, float(t))
        p.commit(d, item, float(t))
        if d.reason is Reason.BELOW_QUANTILE:
            seen.add(d.reason)
            assert d.probability == pytest.approx(0.02)
    assert seen


def test_combined_budget_forwards_ranking():
    """A quantile filter inside a CombinedBudget still ranks utilities."""
    c = CombinedBudget(FractionBudget(1.0, 10), BalancedIncrementalQuantileFilter(0.1, 20, 50, 0))
    for u in range(20):
        c.admits(u / 20, 1.0, 0.0)
    assert not c.admits(0.1, 1.0, 0.0)
    assert c.admits(0.99, 1.0, 0.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"budget": 0.0},
        {"budget": 0.1, "window": 0},
        {"budget": 0.1, "max_carry": -1},
        {"budget": 0.1, "head_start": -1},
    ],
)
def test_rejects_invalid_arguments(kwargs):
    """Out-of-range budget, window or carry bound is a ValueError."""
    with pytest.raises(ValueError, match=r"budget|window|carry|head_start"):
        BalancedIncrementalQuantileFilter(**kwargs)


class _Textbook:
    """The filter's per-item arithmetic written plainly (min, max, a quantile function), as the
    yardstick of the inlined form."""

    def __init__(self, budget, window, w_tol, max_carry, head_start):
        self.budget, self.window, self.w_tol = budget, window, w_tol
        self.max_carry = max_carry
        self.utilities = deque(maxlen=window)
        self.spends = deque(maxlen=window)
        self.carry = self.loan = head_start

    def observe(self):
        self.spends.append(0.0)
        repay = min(self.loan, self.budget / 2.0)
        self.loan -= repay
        self.carry = min(max(self.max_carry, self.carry), self.carry + self.budget - repay)

    def allows(self, cost):
        if self.carry < -self.max_carry - 1e-9:
            return False
        cap = self.budget * self.window + max(self.max_carry, self.loan)
        return math.fsum(self.spends) + cost <= cap + 1e-9

    def admits(self, utility):
        self.utilities.append(utility)
        values = sorted(self.utilities)
        pos = (1.0 - self.budget) * (len(values) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(values) - 1)
        theta = values[lo] + (values[hi] - values[lo]) * (pos - lo)
        return utility >= theta - (values[-1] - values[0]) * self.carry / self.w_tol

    def charge(self, cost):
        self.spends[-1] += cost
        self.carry -= cost


@settings(max_examples=80, deadline=None)
@given(
    b=st.floats(0.01, 1.0),
    window=st.integers(1, 40),
    w_tol=st.floats(1.0, 100.0),
    max_carry=st.floats(0.0, 5.0),
    head_start=st.sampled_from((0.0, 3.0, 20.0)),
    steps=st.lists(
        st.tuples(st.sampled_from((0.0, 0.25, 0.5, 0.9, 1.0)) | st.floats(0, 1), st.booleans()),
        max_size=200,
    ),
)
def test_inlined_arithmetic_answers_like_the_textbook_form(
    b, window, w_tol, max_carry, head_start, steps
):
    """Every allows and admits verdict, and the carry, equal the plain form's (repeated
    utilities included: the window's sorted list is left alone when a value replaces itself)."""
    f = BalancedIncrementalQuantileFilter(b, window, w_tol, max_carry, head_start)
    plain = _Textbook(b, window, w_tol, max_carry, head_start)
    for t, (utility, charge) in enumerate(steps):
        f.observe(float(t))
        plain.observe()
        ok = f.allows(1.0, float(t))
        assert ok == plain.allows(1.0)
        admitted = f.admits(utility, 1.0, float(t))
        assert admitted == plain.admits(utility)
        if ok and admitted and charge:
            f.charge(1.0, float(t))
            plain.charge(1.0)
        assert f.carry == plain.carry
        assert f.loan == plain.loan
