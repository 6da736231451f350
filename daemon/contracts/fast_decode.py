"""Fast decoding of prediction events: msgspec into a typed struct, pydantic only to say why not.

The pydantic contract (:class:`~daemon.contracts.messages.PredictionEvent` via
:class:`~daemon.contracts.parsing.Parser`) stays the one definition of what is valid. This module
accepts an input on its own only when it is sure the contract accepts it too, with the same
values: plain ASCII text, JSON numbers of ordinary size, an ``event_time`` in the common RFC 3339
shape, every constraint of the contract checked here. Anything else (a rejection, or merely
something unusual, such as a non-ASCII string or an integer label) goes to the pydantic parser,
which accepts it or writes the dead letter with its precise reason. So accept/reject decisions
and dead-letter reasons are the parser's by construction; a differential test checks that the
values agree where the fast path accepts.

About 3x cheaper than ``model_validate_json`` per item, mostly because msgspec decodes straight
into a struct without building a pydantic model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, Protocol

import msgspec

from connectors.record import Record
from daemon.contracts.messages import EARLIEST, LATEST, DeadLetterRecord, PredictionEvent
from daemon.contracts.parsing import Parser

# The shape both parsers read identically (pydantic truncates more than six fraction digits,
# msgspec and fromisoformat round them; other shapes differ in what they accept at all).
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})")
# Integers beyond this are left to pydantic (big-integer handling is where parsers disagree).
_INT_LIMIT = 2**53
# The nesting depth pydantic's JSON parser accepts (deeper input is dead-lettered too_deep).
_DEPTH_LIMIT = 200
_ID_MAX = 512
_LABEL_MAX = 256
_GROUP_MAX = 256


class _Wire(msgspec.Struct, gc=False):
    """The JSON as it arrives; unknown fields ignored like the lenient contract."""

    id: str
    event_time: str
    features: dict[str, Any]
    prediction: str
    schema_version: Literal[1] = 1
    proba: dict[str, float] | None = None
    model_version: str | None = None
    group: dict[str, str] = {}
    cost: float | None = None


class _StrictWire(_Wire, forbid_unknown_fields=True, gc=False):
    """The strict contract: unknown fields are left to pydantic, which rejects them."""


class Prediction(msgspec.Struct, frozen=True, gc=False):
    """An accepted prediction event, with the attributes of
    :class:`~daemon.contracts.messages.PredictionEvent` (which it stands in for on the hot path).
    """

    id: str
    event_time: datetime
    features: dict[str, Any]
    prediction: str
    proba: dict[str, float] | None = None
    model_version: str | None = None
    group: dict[str, str] = {}
    cost: float | None = None
    schema_version: int = 1


def from_event(event: PredictionEvent) -> Prediction:
    """The struct form of an event the pydantic parser accepted."""
    return Prediction(
        event.id,
        event.event_time,
        event.features,
        event.prediction,
        event.proba,
        event.model_version,
        event.group,
        event.cost,
        event.schema_version,
    )


class PredictionParser(Protocol):
    """What the decode stage asks: one record to a prediction struct or a dead letter."""

    def prediction(self, record: Record, now: float) -> Prediction | DeadLetterRecord:
        """Parse one prediction."""


class ContractParser:
    """The straightforward path: the pydantic :class:`Parser` for every record (the reference
    the fast path is checked against), its events as :class:`Prediction` structs."""

    def __init__(self, parser: Parser) -> None:
        self.parser = parser

    def prediction(self, record: Record, now: float) -> Prediction | DeadLetterRecord:
        """One prediction: the struct, or the parser's dead letter."""
        parsed = self.parser.prediction(record, now)
        if isinstance(parsed, DeadLetterRecord):
            return parsed
        return from_event(parsed)


def _label(name: str) -> bool:
    """A class label the contract takes as it is: ASCII, 1 to 256 characters."""
    return name.isascii() and 0 < len(name) <= _LABEL_MAX


def _plain_group(group: dict[str, str]) -> bool:
    """ASCII attribute names and values, each of at most 256 characters."""
    return all(
        name.isascii() and value.isascii() and len(value) <= _GROUP_MAX and len(name) <= _GROUP_MAX
        for name, value in group.items()
    )


def _plain_features(features: dict[str, Any], bound: float, longest: int) -> bool:
    """Every feature a float or an int within ``bound`` in magnitude, a bool, an ASCII string
    of at most ``longest`` characters or null; every name ASCII and at most ``longest``.

    msgspec itself rejects NaN, infinity and numbers out of range, so a float here is finite.
    """
    for name, value in features.items():
        kind = type(value)
        if kind is str:
            if not value.isascii() or len(value) > longest:
                return False
        elif kind is float or kind is int:
            if not -bound <= value <= bound or (
                kind is int and not -_INT_LIMIT < value < _INT_LIMIT
            ):
                return False
        elif kind is not bool and value is not None:
            return False
        if not name.isascii() or len(name) > longest:
            return False
    return True


class FastParser:
    """Decode predictions with msgspec when sure, else with the pydantic :class:`Parser`.

    Parameters
    ----------
    parser
        The contract's parser; it decides every input the fast path does not accept, and its
        settings (classes, strictness, size limit) are the fast path's.

    >>> from connectors.record import Record
    >>> fast = FastParser(Parser(["ok", "fraud"]))
    >>> raw = (b'{"id": "a", "event_time": "2026-01-01T00:00:00Z", "features": {"x": 1.5},'
    ...        b' "prediction": "ok", "proba": {"ok": 0.9, "fraud": 0.1}}')
    >>> fast.prediction(Record(raw, None, "t", 0, 0), now=0.0).features
    {'x': 1.5}
    >>> fast.prediction(Record(b'{"id": "a"}', None, "t", 0, 1), now=0.0).reason.value
    'schema_violation'
    """

    def __init__(self, parser: Parser) -> None:
        self.parser = parser
        self._classes = parser.classes
        self._max_bytes = parser.max_bytes
        self._bound = parser.limits.max_abs_feature
        self._longest = parser.limits.max_string_length
        self._decode = msgspec.json.Decoder(_StrictWire if parser.strict else _Wire).decode
        self._time = _TIME.fullmatch
        self.fallbacks = 0

    def prediction(self, record: Record, now: float) -> Prediction | DeadLetterRecord:
        """One prediction: the struct, or the parser's dead letter."""
        fast = self._fast(record.value)
        if fast is not None:
            return fast
        self.fallbacks += 1
        parsed = self.parser.prediction(record, now)
        if isinstance(parsed, DeadLetterRecord):
            return parsed
        return from_event(parsed)

    def predictions(
        self, records: Sequence[Record], now: float
    ) -> list[Prediction | DeadLetterRecord]:
        """A batch, in order (one poll's records)."""
        fast = self._fast
        out: list[Prediction | DeadLetterRecord] = []
        append = out.append
        for record in records:
            item = fast(record.value)
            append(item if item is not None else self.prediction(record, now))
        return out

    def _fast(self, value: bytes | None) -> Prediction | None:
        """The struct when every check passes, else None (the parser decides)."""
        if not value or len(value) > self._max_bytes:
            return None
        # pydantic refuses JSON nested deeper than its recursion limit even in an ignored field;
        # no more openers than that limit means no deeper nesting (strings count too: cautious).
        if value.count(b"[") + value.count(b"{") > _DEPTH_LIMIT:
            return None
        try:
            wire = self._decode(value)
        except Exception:  # anything msgspec cannot decode (RecursionError too): the parser judges
            return None
        event_time = self._event_time(wire.event_time)
        if event_time is None or not self._plain(wire):
            return None
        return Prediction(
            wire.id,
            event_time,
            wire.features,
            wire.prediction,
            wire.proba,
            wire.model_version,
            wire.group,
            wire.cost,
        )

    def _event_time(self, text: str) -> datetime | None:
        if not self._time(text):
            return None
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            return None
        return when if EARLIEST <= when < LATEST else None

    def _plain(self, wire: _Wire) -> bool:
        """Every constraint of the contract holds, and nothing the parsers might read apart."""
        cost = wire.cost
        return (
            0 < len(wire.id) <= _ID_MAX
            and wire.id.isascii()
            and wire.prediction in self._classes
            and _label(wire.prediction)
            and (wire.proba is None or self._plain_proba(wire.proba))
            and _plain_features(wire.features, self._bound, self._longest)
            and _plain_group(wire.group)
            and (
                wire.model_version is None
                or (wire.model_version.isascii() and len(wire.model_version) <= _GROUP_MAX)
            )
            and (cost is None or 0.0 < cost <= self._bound)
        )

    def _plain_proba(self, proba: dict[str, float]) -> bool:
        """Known classes, each probability in [0, 1], summing to 1 (as the contract sums)."""
        classes = self._classes
        total = 0.0
        for name, p in proba.items():
            if name not in classes or not _label(name) or not 0.0 <= p <= 1.0:
                return False
            total += p
        return not proba or abs(total - 1.0) <= 1e-3
