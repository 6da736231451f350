"""The path of one consumed batch: decode → score → decide → admit → emit.

The unit between stages is the batch of records from one poll, as a tuple of frozen values in
record order; a record that cannot go on becomes a :class:`Failed` value in its place and is
dead-lettered by the emit stage, in order, so offsets still advance over it. Every stage works
on the whole batch. Selection (decide, then admit) decides what is independent per item for the
whole batch at once, but admits item by item in one pass, because each admitted query changes
the budget and the queues that the next decision sees (:class:`ItemSelect` is the
straightforward form: decide and admit one item after the other).

Stages are chosen at construction (see :mod:`daemon.service.stages`); nothing here branches on
configuration. A failure while processing one item dead-letters that item with reason
``processing_error`` and the batch goes on.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Protocol, TypeVar

import msgspec
import structlog

from connectors.record import Record
from daemon.contracts.evidence import ScoreOrigin
from daemon.contracts.fast_decode import Prediction
from daemon.contracts.messages import DeadLetterReason, DeadLetterRecord
from daemon.contracts.parsing import Parser
from daemon.contracts.pending_request import PendingRequest
from daemon.labeling.admission import Admitted, Placement
from daemon.monitoring.metrics import Metrics
from policies import BudgetSnapshot, Decision, ItemView, Reason

log = structlog.get_logger("labelgate.pipeline")

In_contra = TypeVar("In_contra", contravariant=True)
Out_co = TypeVar("Out_co", covariant=True)


# ---------------------------------------------------------------------- values between stages
class Failed(msgspec.Struct, frozen=True, gc=False):
    """A record that left the pipeline early: its dead letter (bad input or a failure)."""

    record: Record
    dead_letter: DeadLetterRecord


class Decoded(msgspec.Struct, frozen=True, gc=False):
    """A valid prediction, with the clock's time once its event time was observed."""

    record: Record
    event: Prediction
    now: float


class Scored(msgspec.Struct, frozen=True, gc=False):
    """A prediction with the online model's view and the scores the policy decides on."""

    decoded: Decoded
    online: dict[str, float]
    scores: Mapping[str, float]
    score_source: ScoreOrigin
    online_prediction: str | None
    uncertainty: float


class Decided(msgspec.Struct, frozen=True, gc=False):
    """The policy's decision, the item view it decided on, and where a query would go.

    ``placement`` is None for an item whose request is still open (a duplicate).
    """

    scored: Scored
    item: ItemView
    decision: Decision
    placement: Placement | None


class Selected(msgspec.Struct, frozen=True, gc=False):
    """The final decision of an item (the fields of :class:`~policies.Decision` that evidence
    records), the request it opened and one it evicted, with the budget and queue state right
    after its admission (for evidence).

    Flat, without a decision object: most items are not queried, and the hot path decides
    them as rows (:meth:`policies.Policy.batch`).
    """

    scored: Scored
    query: bool
    reason: Reason
    probability: float
    utility: float
    threshold: float | None
    budget: BudgetSnapshot
    queue_state: dict[str, int]
    request: PendingRequest | None = None
    evicted: PendingRequest | None = None

    @classmethod
    def of(
        cls,
        scored: Scored,
        admitted: Admitted,
        budget: BudgetSnapshot,
        queue_state: dict[str, int],
    ) -> Selected:
        """The selected value of an item admitted with decision objects."""
        d = admitted.decision
        return cls(
            scored,
            d.query,
            d.reason,
            d.probability,
            d.utility,
            d.threshold,
            budget,
            queue_state,
            admitted.request,
            admitted.evicted,
        )


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

    def __call__(self, batch: tuple[Selected | Failed, ...], arrived: float, /) -> int:
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


class ItemSelect:
    """Selection item by item: decide one item, admit it, then the next (the reference form).

    Parameters
    ----------
    decide, admit
        The item stages.
    rejections
        Dead letters for items whose decide or admit step raised.
    """

    def __init__(
        self,
        decide: ItemStage[Scored, Decided],
        admit: ItemStage[Decided, Selected],
        rejections: Rejections,
    ) -> None:
        self.decide = decide
        self.admit = admit
        self.rejections = rejections

    def __call__(self, batch: tuple[Scored | Failed, ...]) -> tuple[Selected | Failed, ...]:
        """Decide and admit every item, in order."""
        return tuple(self._select(x) for x in batch)

    def _select(self, value: Scored | Failed) -> Selected | Failed:
        if isinstance(value, Failed):
            return value
        try:
            return self.admit(self.decide(value))
        except Exception as exc:  # one item's failure must not stop the loop
            return self.rejections.failed(value.decoded.record, exc, value.decoded.now)


class Pipeline:
    """Decode → score → select (decide, admit) → emit, for one batch at a time.

    Parameters
    ----------
    decode, score, select, emit
        The stages, chosen by the composition root.
    metrics
        The service's metrics (the emit stage observes the decision latency).
    """

    def __init__(
        self,
        decode: Decoder,
        score: BatchStage[Decoded, Scored],
        select: BatchStage[Scored, Selected],
        emit: Emitter,
        metrics: Metrics,
    ) -> None:
        self.decode = decode
        self.score = score
        self.select = select
        self.emit = emit
        self.metrics = metrics

    def process(self, records: Sequence[Record], arrived: float | None = None) -> int:
        """Run one polled batch through every stage; return the valid predictions emitted.

        ``arrived`` is when the batch reached the process (``time.perf_counter()``; now when not
        given): the decision latency of each item is measured from there.
        """
        if not records:
            return 0
        if arrived is None:
            arrived = time.perf_counter()
        return self.emit(self.select(self.score(self.decode(records))), arrived)
