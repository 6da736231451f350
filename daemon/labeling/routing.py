"""Routing: which expert queue an item should go to, by declarative rules from the config.

Rules are compiled into closures once; routing an item is a few dictionary lookups.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from daemon.config import Condition, QueueSettings, RoutingSettings
from daemon.contracts.fast_decode import Prediction

Predicate = Callable[[Prediction, float], bool]
_MISSING = object()

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
    "in": lambda a, b: a in b,
    "not_in": lambda a, b: a not in b,
}


def _getter(field: str) -> Callable[[Prediction, float], Any]:
    """Read one field of an item (or the item's uncertainty) without branching at run time."""
    if "." in field:
        root, name = field.split(".", 1)
        if root == "group":
            return lambda e, u: e.group.get(name, _MISSING)
        if root == "features":
            return lambda e, u: e.features.get(name, _MISSING)
        return lambda e, u: (e.proba or {}).get(name, _MISSING)
    getters: dict[str, Callable[[Prediction, float], Any]] = {
        "prediction": lambda e, u: e.prediction,
        "uncertainty": lambda e, u: u,
        "cost": lambda e, u: e.cost if e.cost is not None else 1.0,
        "model_version": lambda e, u: e.model_version if e.model_version is not None else _MISSING,
    }
    return getters[field]


def compile_condition(condition: Condition) -> Predicate:
    """A predicate for one condition; a missing field never matches (except ``ne``/``not_in``)."""
    get = _getter(condition.field)
    if condition.op == "exists":
        return lambda e, u: get(e, u) is not _MISSING
    compare = _COMPARE[condition.op]
    expected = condition.value
    if condition.op in {"in", "not_in"}:
        expected = frozenset(expected) if isinstance(expected, list | tuple | set) else {expected}
    negative = condition.op in {"ne", "not_in"}

    def predicate(event: Prediction, uncertainty: float) -> bool:
        value = get(event, uncertainty)
        if value is _MISSING:
            return negative
        try:
            return bool(compare(value, expected))
        except TypeError:  # e.g. a string feature compared with a number: no match
            return False

    return predicate


@dataclass(frozen=True, slots=True)
class Route:
    """Candidate queues for an item, and the rule that chose them (None = default)."""

    rule: str | None
    queues: tuple[str, ...]


class Router:
    """Evaluates rules in order; the first match gives the candidates, else the default.

    >>> from daemon.config import RoutingSettings, QueueSettings
    >>> r = Router(RoutingSettings.model_validate({"rules": [{"name": "eu", "all": [
    ...     {"field": "group.region", "op": "eq", "value": "EU"}], "queues": ["eu"]}],
    ...     "default": ["global"]}), [QueueSettings(name="eu"), QueueSettings(name="global")])
    """

    def __init__(self, settings: RoutingSettings, queues: list[QueueSettings]) -> None:
        self.settings = settings
        self.queues = {q.name: q for q in queues}
        self._rules: list[tuple[str, list[Predicate], list[Predicate], tuple[str, ...]]] = [
            (
                rule.name,
                [compile_condition(c) for c in rule.all],
                [compile_condition(c) for c in rule.any],
                tuple(rule.queues),
            )
            for rule in settings.rules
        ]
        self._default = Route(None, tuple(settings.default))

    @property
    def default(self) -> Route:
        """The route of an item no rule matches."""
        return self._default

    @property
    def has_rules(self) -> bool:
        """Whether any rule is configured (else every item takes the default route)."""
        return bool(self._rules)

    def route(self, event: Prediction, uncertainty: float) -> Route:
        """The candidate queues for one item."""
        for name, all_of, any_of, queues in self._rules:
            if all(p(event, uncertainty) for p in all_of) and (
                not any_of or any(p(event, uncertainty) for p in any_of)
            ):
                return Route(name, queues)
        return self._default

    def cheapest_with_room(self, route: Route, has_room: Callable[[str], bool]) -> str | None:
        """Best utility per cost among the candidates that have capacity: the cheapest one.

        The item's utility is the same whichever queue labels it, so utility per cost is
        maximised by the lowest cost; ties keep the rule's order.
        """
        best: str | None = None
        for name in route.queues:
            if has_room(name) and (best is None or self.queues[name].cost < self.queues[best].cost):
                best = name
        return best
