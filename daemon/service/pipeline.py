"""The path of one consumed batch: decode → score → decide → admit → emit.

The unit between stages is the batch of records from one poll, as a tuple of frozen values in
record order; a record that cannot go on becomes a :class:`Failed` value in its place and is
dead-lettered by the emit stage, in order, so offsets still advance over it. Decode, score and
emit work on the whole batch (room for a vectorised hot path later: typed structs, a feature
matrix, batch scoring). Decide and admit run item by item inside one pass over the batch,
because each admitted query changes the budget and the queues that the next decision sees.

Stages are chosen at construction (see :mod:`daemon.service.stages`); nothing here branches on
configuration. A failure while processing one item dead-letters that item with reason
``processing_error`` and the batch goes on.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import structlog

from connectors.record import Record
from daemon.contracts.evidence import ScoreOrigin
from daemon.contracts.messages import DeadLetterReason, DeadLetterRecord, PredictionEvent
from daemon.contracts.parsing import Parser
from daemon.labeling.admission import Admitted, Placement
from daemon.monitoring.metrics import Metrics
from policies import BudgetSnapshot, Decision, ItemView

log = structlog.get_logger("labelgate.pipeline")

In_contra = TypeVar("In_contra", contravariant=True)
Out_co = TypeVar("Out_co", covariant=True)


# ---------------------------------------------------------------------- values between stages
@dataclass(frozen=True, slots=True)
class Failed:
    """A record that left the pipeline early: its dead letter (bad input or a failure)."""

    record: Record
    dead_letter: DeadLetterRecord


@dataclass(frozen=True, slots=True)
class Decoded:
    """A valid prediction, with the clock's time once its event time was observed."""

    record: Record
    event: PredictionEvent
    now: float


@dataclass(frozen=True, slots=True)
class Scored:
    """A prediction with the online model's view and the scores the policy decides on."""

    decoded: Decoded
    online: dict[str, float]
    scores: Mapping[str, float]
    score_source: ScoreOrigin
    online_prediction: str | None
    uncertainty: float


@dataclass(frozen=True, slots=True)
class Decided:
    """The policy's decision, the item view it decided on, and where a query would go.

    ``placement`` is None for an item whose request is still open (a duplicate).
    """

    scored: Scored
    item: ItemView
    decision: Decision
    placement: Placement | None


@dataclass(frozen=True, slots=True)
class Selected:
    """The admitted outcome, with the budget and queue state right after it (for evidence)."""

    decided: Decided
    admitted: Admitted
    budget: BudgetSnapshot
    queue_state: dict[str, int]


Batch = tuple[Decoded | Failed, ...]


class BatchStage(Protocol[In_contra, Out_co]):
    """A stage over a whole batch; ``Failed`` values pass through untouched."""

    def __call__(self, batch: tuple[In_contra | Failed, ...], /) -> tuple[Out_co | Failed, ...]:
        """Process the batch, in order."""


class ItemStage(Protocol[In_contra, Out_co]):
    """A stage over one item, run inside the pipeline's sequential pass."""

    def __call__(self, item: In_contra, /) -> Out_co:
        """Process one item."""


class Decoder(Protocol):
    """The first stage: records to decoded predictions (or dead letters)."""

    def __call__(self, records: Sequence[Record], /) -> Batch:
        """Decode the batch, in order."""


class Emitter(Protocol):
    """The last stage: every output of the batch, with offset tracking."""

    def __call__(self, batch: tuple[Selected | Failed, ...], /) -> int:
        """Send the batch's outputs; return the number of valid predictions emitted."""


class Rejections:
    """Turns a failure while processing one record into that record's dead letter."""

    def __init__(self, parser: Parser) -> None:
        self.parser = parser

    def failed(self, record: Record, error: Exception, now: float) -> Failed:
        """The :class:`Failed` value for ``record``: reason ``processing_error``, the exception
        type and message as detail, the record's source position and payload."""
        log.error(
            "processing_failed",
            error=f"{type(error).__name__}: {error}",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            exc_info=error,
        )
        detail = f"{type(error).__name__}: {error}"
        letter = self.parser.dead_letter(
            record, "prediction", DeadLetterReason.PROCESSING_ERROR, detail, now
        )
        return Failed(record, letter)


class Pipeline:
    """Decode → score → decide → admit → emit, for one batch at a time.

    Parameters
    ----------
    decode, score, decide, admit, emit
        The stages, chosen by the composition root.
    rejections
        Dead letters for items whose decide or admit step raised.
    metrics
        ``decision_latency`` gets the batch's processing time per valid item.
    """

    def __init__(
        self,
        decode: Decoder,
        score: BatchStage[Decoded, Scored],
        decide: ItemStage[Scored, Decided],
        admit: ItemStage[Decided, Selected],
        emit: Emitter,
        rejections: Rejections,
        metrics: Metrics,
    ) -> None:
        self.decode = decode
        self.score = score
        self.decide = decide
        self.admit = admit
        self.emit = emit
        self.rejections = rejections
        self.metrics = metrics

    def process(self, records: Sequence[Record]) -> int:
        """Run one polled batch through every stage; return the valid predictions emitted."""
        if not records:
            return 0
        started = time.perf_counter()
        scored = self.score(self.decode(records))
        selected = tuple(self._select(x) for x in scored)
        items = self.emit(selected)
        if items:
            per_item = (time.perf_counter() - started) / items
            for _ in range(items):
                self.metrics.decision_latency.observe(per_item)
        return items

    def _select(self, value: Scored | Failed) -> Selected | Failed:
        """Decide and admit one item (sequential: each query changes what the next one sees)."""
        if isinstance(value, Failed):
            return value
        try:
            return self.admit(self.decide(value))
        except Exception as exc:  # one item's failure must not stop the loop
            return self.rejections.failed(value.decoded.record, exc, value.decoded.now)
