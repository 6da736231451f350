"""Routing rules: compiled predicates, first match wins, cheapest candidate with room."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from daemon.config import Condition, QueueSettings, RoutingSettings
from daemon.contracts.messages import PredictionEvent
from daemon.labeling.routing import Route, Router, compile_condition


def event(**extra):
    doc = {
        "id": "a",
        "event_time": datetime(2026, 1, 1, tzinfo=UTC),
        "features": {"amount": 120.0, "country": "DE"},
        "prediction": "1",
        "proba": {"0": 0.3, "1": 0.7},
        "group": {"region": "EU"},
        "model_version": "m1",
        **extra,
    }
    return PredictionEvent.model_validate(doc)


@pytest.mark.parametrize(
    ("field", "op", "value", "expected"),
    [
        ("group.region", "eq", "EU", True),
        ("group.region", "ne", "EU", False),
        ("group.region", "in", ["US", "EU"], True),
        ("group.region", "not_in", ["US"], True),
        ("features.amount", "gt", 100, True),
        ("features.amount", "le", 100, False),
        ("proba.1", "ge", 0.7, True),
        ("prediction", "eq", "1", True),
        ("uncertainty", "lt", 0.5, True),
        ("cost", "eq", 1.0, True),
        ("model_version", "eq", "m1", True),
        ("features.country", "exists", None, True),
        ("features.missing", "exists", None, False),
    ],
)
def test_each_operator_compares_the_named_field(field, op, value, expected):
    """Every operator reads its field (group, features, proba, top-level) and compares."""
    predicate = compile_condition(Condition(field=field, op=op, value=value))
    assert predicate(event(), 0.3) is expected


@pytest.mark.parametrize(("op", "expected"), [("eq", False), ("gt", False), ("ne", True)])
def test_a_missing_field_matches_only_negative_operators(op, expected):
    """An absent attribute never matches, except for ne / not_in."""
    predicate = compile_condition(Condition(field="group.tier", op=op, value="gold"))
    assert predicate(event(), 0.3) is expected


def test_incomparable_types_do_not_match_instead_of_raising():
    """A string feature compared with a number is no match, not a TypeError."""
    predicate = compile_condition(Condition(field="features.country", op="gt", value=3))
    assert predicate(event(), 0.3) is False


def _router():
    routing = RoutingSettings.model_validate(
        {
            "rules": [
                {
                    "name": "big-eu",
                    "all": [{"field": "group.region", "op": "eq", "value": "EU"}],
                    "any": [
                        {"field": "features.amount", "op": "gt", "value": 1000},
                        {"field": "uncertainty", "op": "gt", "value": 0.4},
                    ],
                    "queues": ["senior", "junior"],
                },
                {
                    "name": "eu",
                    "all": [{"field": "group.region", "op": "eq", "value": "EU"}],
                    "queues": ["junior"],
                },
            ],
            "default": ["crowd"],
        }
    )
    queues = [
        QueueSettings(name="senior", cost=5.0),
        QueueSettings(name="junior", cost=2.0),
        QueueSettings(name="crowd", cost=1.0),
    ]
    return Router(routing, queues)


def test_first_matching_rule_gives_the_candidates_else_the_default():
    """Rules are tried in order (all + any); nothing matching falls back to the default."""
    router = _router()
    assert router.route(event(), 0.45) == Route("big-eu", ("senior", "junior"))
    assert router.route(event(), 0.1) == Route("eu", ("junior",))
    assert router.route(event(group={"region": "US"}), 0.45) == Route(None, ("crowd",))


def test_cheapest_candidate_with_room_wins_and_ties_keep_rule_order():
    """Among candidates with capacity the lowest cost wins; none with room gives None."""
    router = _router()
    route = Route("big-eu", ("senior", "junior"))
    assert router.cheapest_with_room(route, lambda q: True) == "junior"
    assert router.cheapest_with_room(route, lambda q: q == "senior") == "senior"
    assert router.cheapest_with_room(route, lambda q: False) is None
