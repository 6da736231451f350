"""Reusable contract checks for strategies, budgets and policies, in the style of River's checks.

Each ``check_*`` function takes something to check (or a factory for it) and raises
``AssertionError`` with a message when the contract does not hold; a test suite discovers the
classes (:func:`exported_strategies`, :func:`exported_budgets`) and runs every check on every one,
so a new policy is checked as soon as it is exported. Nothing here reads a clock, a file or a
global RNG: the synthetic streams are seeded.

The contract:

- deciding does not mutate the item;
- the same seed gives the same decisions;
- a policy pickled, or restored from its JSON state, continues exactly like the original;
- the reason is always set and matches the query flag; probabilities are in [0, 1];
- a strategy the budget refuses never queries (and logs probability 0);
- a budget is never exceeded on a long stream, and only ``charge`` spends;
- the logged probability is the item's *marginal* chance of a query given the policy's state:
  replaying one state many times with fresh per-item draws, the observed query frequency matches
  it (:func:`check_marginal_probability`);
- deciding in batches (:meth:`~policies.policy.Policy.batch`) gives exactly the decisions of
  deciding item by item, whatever the batch sizes and whichever queries are refused downstream
  (:func:`check_batch_matches_items`).
"""

from __future__ import annotations

import copy
import inspect
import json
import math
import pickle
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from policies.batch import ItemColumns, Row, as_decision, as_row
from policies.budget import BudgetManager, UtilityBudget
from policies.decision import QUERY_REASONS, Decision, Reason
from policies.item import ItemView
from policies.policy import Policy
from policies.strategy import CommittingStrategy, Strategy

BUDGET_METHODS = ("observe", "allows", "charge", "snapshot", "state_dict", "load_state")

Decide = Callable[[Policy, ItemView, float], Decision]


# --------------------------------------------------------------------------- discovery


def _exported_classes(module: Any) -> Iterable[type]:
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isclass(obj) and not getattr(obj, "_is_protocol", False):
            yield obj


def exported_strategies(module: Any) -> list[type]:
    """Exported classes that decide (``decide``, ``name``, ``version``), except :class:`Policy`."""
    return sorted(
        (
            c
            for c in _exported_classes(module)
            if all(hasattr(c, a) for a in ("decide", "name", "version")) and c is not Policy
        ),
        key=lambda c: c.__name__,
    )


def exported_budgets(module: Any) -> list[type]:
    """Exported classes with every :class:`~policies.budget.BudgetManager` method."""
    return sorted(
        (
            c
            for c in _exported_classes(module)
            if all(callable(getattr(c, m, None)) for m in BUDGET_METHODS)
        ),
        key=lambda c: c.__name__,
    )


# --------------------------------------------------------------------------- streams and drivers


def synthetic_stream(
    n: int,
    seed: int = 7,
    costs: Sequence[float] = (1.0,),
    cold: int = 0,
    unscored_every: int = 53,
) -> list[ItemView]:
    """Seeded items: 2-3 classes, sharp and flat scores, a 3-member committee, 2-d vectors on a
    0.1 grid (so near-duplicates occur), three regions of unequal size.

    ``costs`` are drawn uniformly per item; the first ``cold`` items have seen fewer than two
    classes; every ``unscored_every``-th item has no scores.
    """
    rng = random.Random(seed)
    items = []
    for i in range(n):
        classes = ("a", "b", "c")[: rng.choice((2, 3))]

        def dist(sharp: int, classes: tuple[str, ...] = classes) -> dict[str, float]:
            w = [rng.random() ** sharp + 1e-3 for _ in classes]
            return {c: x / sum(w) for c, x in zip(classes, w, strict=True)}

        proba = {} if i % unscored_every == 0 else dist(rng.choice((1, 3)))
        items.append(
            ItemView(
                key=f"k{seed}-{i}",
                proba=proba,
                cost=rng.choice(tuple(costs)),
                classes_seen=0 if i < cold else 2,
                group={"region": rng.choice(("EU", "EU", "US", "APAC"))},
                committee=(dist(2), dist(2), dist(2)),
                vector=(round(rng.gauss(0, 1), 1), round(rng.gauss(0, 1), 1)),
            )
        )
    return items


def always(i: int) -> bool:
    """A budget that always allows."""
    return True


def drive(
    strategy: Strategy,
    items: Sequence[ItemView],
    allowed: Callable[[int], bool] = always,
    start: int = 0,
) -> list[Decision]:
    """Decide for each item as a policy would, committing queries to the commit hook if any."""
    out = []
    for i, item in enumerate(items, start):
        d = strategy.decide(item, allowed(i))
        if d.query and isinstance(strategy, CommittingStrategy):
            strategy.commit(d, item)
        out.append(d)
    return out


def run(
    policy: Policy, items: Sequence[ItemView], start: int = 0, check_no_spend: bool = False
) -> list[Decision]:
    """Decide then commit every item, one per second from ``start``.

    With ``check_no_spend``, also check that deciding alone never moved the spend.
    """
    out = []
    for t, item in enumerate(items, start):
        now = float(t)
        before = policy.snapshot(now).spent if check_no_spend else 0.0
        d = policy.decide(item, now)
        if check_no_spend:
            assert policy.snapshot(now).spent == before, "decide spent budget"
        policy.commit(d, item, now)
        out.append(d)
    return out


def ask_always(budget: BudgetManager, n: int, start: int = 0, seed: int = 0) -> list[bool]:
    """Always-asking driver (random utilities offered to ranking budgets); the allow trace."""
    rng = random.Random(seed + start)
    trace = []
    for t in range(start, start + n):
        now = float(t)
        budget.observe(now)
        ok = budget.allows(1.0, now)
        admitted = (
            budget.admits(rng.random(), 1.0, now) if isinstance(budget, UtilityBudget) else True
        )
        if ok and admitted:
            budget.charge(1.0, now)
        trace.append(ok and admitted)
    return trace


def through_json(state: dict[str, Any]) -> dict[str, Any]:
    """A state after a JSON round trip, as a state log would store it."""
    restored: dict[str, Any] = json.loads(json.dumps(state))
    return restored


# --------------------------------------------------------------------------- strategy checks


def check_names(strategy: Strategy) -> None:
    """A strategy has a non-empty name and version (the evidence's policy id)."""
    assert isinstance(strategy.name, str), strategy
    assert strategy.name, strategy
    assert isinstance(strategy.version, str), strategy
    assert strategy.version, strategy


def check_inputs_not_mutated(
    strategy: Strategy, items: Sequence[ItemView], allowed: Callable[[int], bool] = always
) -> None:
    """Deciding and committing leave every item (scores, groups, committee, vector) as it was."""
    before = copy.deepcopy(list(items))
    drive(strategy, items, allowed)
    assert list(items) == before, "an item was mutated"


def check_same_seed_same_decisions(
    make: Callable[[], Any], items: Sequence[ItemView], allowed: Callable[[int], bool] = always
) -> None:
    """Two strategies (or policies) from one factory decide identically on one stream."""
    a, b = make(), make()
    if isinstance(a, Policy):
        assert run(a, items) == run(b, items), "same seed, different decisions"
    else:
        assert drive(a, items, allowed) == drive(b, items, allowed), "same seed, other decisions"


def check_decisions_well_formed(
    decisions: Sequence[Decision], allowed: Callable[[int], bool] = always
) -> None:
    """Reason set and matching the query flag; probabilities in [0, 1], > 0 when queried,
    ``unranked`` at most ``probability``; finite utility; no query where the budget refused."""
    for i, d in enumerate(decisions):
        assert isinstance(d, Decision), d
        assert isinstance(d.reason, Reason), d
        assert d.query == (d.reason in QUERY_REASONS), d
        assert 0.0 <= d.probability <= 1.0, d
        assert 0.0 <= d.unranked <= d.probability + 1e-12, d
        assert not d.query or d.probability > 0.0, d
        assert math.isfinite(d.utility), d
        if not allowed(i):
            assert not d.query, d


def check_refused_budget_never_queries(strategy: Strategy, items: Sequence[ItemView]) -> None:
    """With the budget refusing, no query, and the logged probability is 0."""
    for item in items:
        d = strategy.decide(item, False)
        assert not d.query, d
        assert d.probability == 0.0, d


def check_pickle_round_trip(
    make: Callable[[], Any],
    items: Sequence[ItemView],
    split: int,
    allowed: Callable[[int], bool] = always,
) -> None:
    """A strategy or policy pickled mid-stream continues exactly like the original."""
    original = make()
    _continue(original, items[:split], 0, allowed)
    clone = pickle.loads(pickle.dumps(original))
    assert _continue(clone, items[split:], split, allowed) == _continue(
        original, items[split:], split, allowed
    ), "the pickled copy decides differently"


def check_state_round_trip(
    make: Callable[[], Any],
    items: Sequence[ItemView],
    split: int,
    through: Callable[[dict[str, Any]], dict[str, Any]] = through_json,
    allowed: Callable[[int], bool] = always,
) -> None:
    """A fresh strategy or policy loaded with ``state_dict`` (after ``through``, e.g. the state
    log's JSON) continues exactly like the original."""
    original = make()
    _continue(original, items[:split], 0, allowed)
    fresh = make()
    problems = fresh.load_state(through(original.state_dict()))
    assert not problems, problems
    assert _continue(fresh, items[split:], split, allowed) == _continue(
        original, items[split:], split, allowed
    ), "the restored copy decides differently"


def _continue(
    subject: Any, items: Sequence[ItemView], start: int, allowed: Callable[[int], bool]
) -> list[Decision]:
    if isinstance(subject, Policy):
        return run(subject, items, start)
    return drive(subject, items, allowed, start)


# --------------------------------------------------------------------------- budget checks


def check_budget_never_exceeded(budget: BudgetManager, n: int, bound: float) -> None:
    """Always asking for ``n`` unit-cost items (1 s apart), the spend stays within ``bound``."""
    spent = sum(ask_always(budget, n))
    assert 0 < spent <= bound, (spent, bound)


def check_budget_spends_only_on_charge(budget: BudgetManager) -> None:
    """Observing, asking and ranking without charging leave the spend where it was."""
    ask_always(budget, 100)
    spent = budget.snapshot(99.0).spent
    for _ in range(300):  # one instant, so periodic budgets stay in their period
        budget.observe(99.0)
        budget.allows(1.0, 99.0)
        if isinstance(budget, UtilityBudget):
            budget.admits(0.99, 1.0, 99.0)
    assert budget.snapshot(99.0).spent == spent > 0, (budget.snapshot(99.0).spent, spent)


def check_budget_round_trips(make: Callable[[], BudgetManager]) -> None:
    """A budget pickled, or restored from its JSON state, mid-stream answers like the original."""
    original = make()
    ask_always(original, 250)
    clone = pickle.loads(pickle.dumps(original))
    fresh = make()
    fresh.load_state(through_json(original.state_dict()))
    expected = ask_always(copy.deepcopy(original), 500, 250)
    assert ask_always(clone, 500, 250) == expected, "the pickled budget answers differently"
    assert ask_always(fresh, 500, 250) == expected, "the restored budget answers differently"


# --------------------------------------------------------------------------- marginal probability


@dataclass(frozen=True, slots=True)
class Probe:
    """One replayed item state: the logged probability and how often the replays queried."""

    probability: float
    queries: int
    replays: int
    p_value: float


def binomial_p_value(k: int, n: int, p: float) -> float:
    """Exact two-sided binomial test: the chance of an outcome at most as likely as ``k``.

    >>> round(binomial_p_value(5, 10, 0.5), 3)
    1.0
    >>> binomial_p_value(10, 10, 0.1) < 1e-9
    True
    """
    if p <= 0.0:
        return 1.0 if k == 0 else 0.0
    if p >= 1.0:
        return 1.0 if k == n else 0.0
    log_pmf = [
        math.lgamma(n + 1)
        - math.lgamma(i + 1)
        - math.lgamma(n - i + 1)
        + i * math.log(p)
        + (n - i) * math.log1p(-p)
        for i in range(n + 1)
    ]
    observed = log_pmf[k] + 1e-9  # relative tolerance for ties in floating point
    return min(1.0, math.fsum(math.exp(x) for x in log_pmf if x <= observed))


def policy_decide(policy: Policy, item: ItemView, now: float) -> Decision:
    """The policy's own decision (the default for :func:`check_marginal_probability`)."""
    return policy.decide(item, now)


def check_marginal_probability(
    policy: Policy,
    items: Sequence[ItemView],
    *,
    decide: Decide = policy_decide,
    every: int = 10,
    replays: int = 200,
    alpha: float = 1e-3,
) -> list[Probe]:
    """The logged probability is the item's marginal chance of a query given the policy's state.

    The policy runs over ``items`` (decide, then commit). Before every ``every``-th item its
    state is frozen (a pickle) and the item is replayed ``replays`` times on copies of that
    state, each time under a fresh key, which gives fresh per-item draws (slices, randomized
    rules, thinning) and leaves everything else the same. Then, per probe:

    - every replay logs the same probability (it must not depend on the draw);
    - the number of queries is consistent with Binomial(replays, p): an exact two-sided test at
      level ``alpha`` / number of probes (Bonferroni), so the whole check has a false-alarm rate
      of at most ``alpha``. Deterministic outcomes (p = 0 or 1) must match exactly.

    ``decide`` composes what happens after the policy (e.g. a queue gate). Everything is seeded
    by the items' keys, so the outcome is fixed: a failure is reproducible, not a flake.
    """
    probes: list[tuple[float, int]] = []
    for t, item in enumerate(items):
        now = float(t)
        if t % every == every - 1:
            frozen = pickle.dumps(policy)
            logged = set()
            queries = 0
            for r in range(replays):
                copy_ = pickle.loads(frozen)
                d = decide(copy_, replace(item, key=f"{item.key}~replay{r}"), now)
                logged.add(round(d.probability, 12))
                queries += d.query
            assert len(logged) == 1, f"item {t}: the logged probability varies by draw: {logged}"
            probes.append((logged.pop(), queries))
        d = decide(policy, item, now)
        policy.commit(d, item, now)
    assert probes, "no probes: give more items or a smaller 'every'"
    level = alpha / len(probes)
    out = []
    for p, k in probes:
        pv = binomial_p_value(k, replays, p)
        out.append(Probe(p, k, replays, pv))
        assert pv >= level, (
            f"{k} queries in {replays} replays of a state that logs probability {p:.4f} "
            f"(two-sided p-value {pv:.2e} < {level:.1e})"
        )
    return out


# --------------------------------------------------------------------------- batches


def never(t: int) -> bool:
    """No query is refused downstream."""
    return False


def run_items(
    policy: Policy, items: Sequence[ItemView], refused: Callable[[int], bool] = never
) -> list[Row]:
    """Decide item by item, one per second, committing every query unless ``refused(t)``
    (a queue or a duplicate check downstream said no); the decisions as rows."""
    out = []
    for t, item in enumerate(items):
        now = float(t)
        d = policy.decide(item, now)
        if d.query and not refused(t):
            policy.commit(d, item, now)
        out.append(as_row(d))
    return out


def run_batches(
    policy: Policy,
    items: Sequence[ItemView],
    sizes: Sequence[int],
    refused: Callable[[int], bool] = never,
) -> list[Row]:
    """:func:`run_items` through :meth:`~policies.policy.Policy.batch`, in batches of ``sizes``
    (cycled; a batch also ends where ``classes_seen`` changes, as it does between polls)."""
    out: list[Row] = []
    t = 0
    k = 0
    while t < len(items):
        size = max(1, sizes[k % len(sizes)])
        k += 1
        chunk = list(items[t : t + size])
        seen = chunk[0].classes_seen
        chunk = chunk[: next((j for j, x in enumerate(chunk) if x.classes_seen != seen), size)]
        batch = policy.batch(ItemColumns.of(chunk))
        for j, item in enumerate(chunk):
            now = float(t)
            row = batch.decide(j, item.cost, now)
            if row[0] and not refused(t):
                policy.commit(as_decision(row), batch.item(j, item.cost), now)
            out.append(row)
            t += 1
    return out


def check_batch_matches_items(
    make: Callable[[], Policy],
    items: Sequence[ItemView],
    sizes: Sequence[int],
    refused: Callable[[int], bool] = never,
) -> None:
    """Two policies from one factory, one deciding item by item and one in batches of
    ``sizes``, with the same queries refused downstream: the same decisions, field for field,
    and the same state at the end."""
    one, many = make(), make()
    expected = run_items(one, items, refused)
    got = run_batches(many, items, sizes, refused)
    for t, (a, b) in enumerate(zip(expected, got, strict=True)):
        assert a == b, f"item {t}: item by item {a}, in a batch {b}"
    assert one.state_dict() == many.state_dict(), "the batches left another state"
