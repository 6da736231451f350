"""Backtest acquisition policies on a labeled stream: the prequential (test-then-train) protocol.

For every item, in stream order: the online model (:class:`~daemon.model.learner.Learner`)
predicts and the prediction is scored against the true label; the policy decides from the model's
probabilities; a queried label becomes available ``label_delay`` items later, and the model learns
only from those labels. Every policy runs at every budget and seed, and random sampling at the same
budget always runs too, as the baseline. Labels spent are compared with the labels allowed
(``floor(budget * items)``); by default a hard cap refuses queries beyond that, as the daemon's
absolute ``budget.limit`` would, so adherence is a guarantee and the flag shows it held.

>>> from daemon.tools.streams import open_stream
>>> runs = simulate(lambda seed: open_stream("stationary", 300, seed), ["default"],
...                 budgets=[0.1], seeds=[0])
>>> sorted(r.policy for r in runs)
['default', 'random']
>>> all(r.within_budget for r in runs)
True
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, Protocol

from prometheus_client import CollectorRegistry
from river import compose, metrics
from tqdm import tqdm

from connectors.expert import SimulatedExpert
from connectors.protocols import DeliveryCallback, Sink
from daemon.config import Classifier, ModelSettings, PolicySettings, QuotaSettings, Settings
from daemon.contracts.evidence import EvidenceBuilder
from daemon.contracts.fast_decode import Prediction
from daemon.contracts.messages import LabelEvent, RequestOutcome
from daemon.errors import ConfigError, LabelgateError
from daemon.labeling.admission import AdmissionStep, Placement
from daemon.labeling.intake import LabelIntake, LabelUse
from daemon.labeling.queues import ExpertQueues
from daemon.labeling.spend import SpendLedger
from daemon.model.learner import Groups, Learner
from daemon.monitoring.burn import BurnRate
from daemon.monitoring.metrics import Metrics
from daemon.service.policy_builder import PRESETS, build_policy, preset
from daemon.tools.streams import Example, Features, LabeledStream
from policies import AbsoluteBudget, Decision, ItemView, Policy, Reason, least_confidence

BASELINE = "random"
DEFAULT = "default"
"""The daemon's default policy (``PolicySettings()``), or the configured one with ``--config``."""

_metrics: Any = metrics  # River's metric constructors are untyped


class SimulationError(LabelgateError):
    """A simulation was asked for something it cannot do (unknown policy, bad budget)."""


class Chooser(Protocol):
    """What the simulation needs of a policy: decide without spending, then commit the spend."""

    def decide(self, item: ItemView, now: float) -> Decision:
        """Decide for one item."""

    def commit(self, decision: Decision, item: ItemView, now: float) -> None:
        """Charge a query that was made."""


PolicyFactory = Callable[[float, int], Chooser]
"""Builds a fresh policy from (budget fraction, seed)."""

MINORITY_FLOORS = QuotaSettings(floors={"segment": {"minority": 0.25}})
"""``default_quotas`` floors when none are given: the built-in minority-concept stream's 10%
segment at 25% of queries, well above its population share, so the quota visibly acts."""


def preset_factory(
    name: str, base: PolicySettings | None = None, floors: QuotaSettings | None = None
) -> PolicyFactory:
    """A factory for preset ``name`` on ``base`` (the daemon's defaults unless given).

    Every policy comes from :func:`daemon.service.policy_builder.build_policy`, the daemon's own
    builder; ``default_quotas`` gets ``floors`` (or the base's quotas, or
    :data:`MINORITY_FLOORS`).
    """
    if name not in PRESETS:
        raise SimulationError(f"unknown policy {name!r}; choose from {', '.join(PRESETS)}")
    settings = base if base is not None else PolicySettings()
    quotas = floors or settings.quotas or MINORITY_FLOORS
    changes: dict[str, Any] = {}
    if name == "default_quotas":
        changes["quotas"] = quotas.model_dump(mode="json")

    def make(fraction: float, seed: int) -> Chooser:
        try:
            return build_policy(preset(name, settings, fraction, seed, **changes))
        except ConfigError as exc:
            raise SimulationError(str(exc)) from exc

    return make


def presets(
    base: PolicySettings | None = None, floors: QuotaSettings | None = None
) -> dict[str, PolicyFactory]:
    """Every preset as a factory on ``base`` (see :func:`preset_factory`)."""
    return {name: preset_factory(name, base, floors) for name in PRESETS}


@dataclass(frozen=True)
class QueueModel:
    """The daemon's expert queues in a backtest, answered by a simulated expert.

    Every query goes through the daemon's own admission code (:mod:`daemon.labeling`): the
    routing rules, the cheapest queue with room, each queue's cost, capacity, capacity gate and
    overflow (skip, spill to another queue, or replace a less useful waiting request), the TTL
    with re-routing on expiry, and label intake (overlap, resolution, audit labels kept for
    evaluation). The expert (:class:`connectors.expert.SimulatedExpert`, as in the daemon's
    replays) answers each request ``delay_seconds`` of event time after it was made. Built
    from a configuration by :func:`queue_model`.
    """

    settings: Settings
    delay_seconds: float = 0.0
    batch: int = 1
    """Items per batch: as the daemon reading a backlog, answers are taken in (at most
    ``batch`` of them) before each batch and requests expire after it."""


def queue_model(settings: Settings) -> QueueModel:
    """The configured queues and routing, answered after the configured expert's delay, in
    the daemon's batches (``kafka.consume_batch_size``)."""
    delay = settings.expert.delay_seconds if settings.expert is not None else 0.0
    return QueueModel(settings, delay, settings.kafka.consume_batch_size)


class _Recorder:
    """A queue's sink: notes each request opened (item id, queue), then hands it to the
    expert, as the daemon's file channels tee requests into the simulated expert."""

    def __init__(self, queue: str, expert: SimulatedExpert, log: list[tuple[str, str]]) -> None:
        self.name = queue
        self.expert = expert
        self.log = log

    def send(
        self,
        value: bytes | None,
        key: bytes | None = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> None:
        if value is not None and b'"withdrawn":false' in value.replace(b" ", b""):
            self.log.append((key.decode() if key else "", self.name))
        self.expert.send(value, key, on_delivery)

    def serve_deliveries(self) -> None:
        return None

    def flush(self, timeout: float) -> int:
        return 0

    def close(self) -> None:
        return None


class _Discard:
    """The evidence trail of a backtest: nothing is kept."""

    name = "discard"

    def send(
        self,
        value: bytes | None,
        key: bytes | None = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> None:
        if on_delivery is not None:
            on_delivery(None)

    def serve_deliveries(self) -> None:
        return None

    def flush(self, timeout: float) -> int:
        return 0

    def close(self) -> None:
        return None


class _Desk:
    """One run's queues: the daemon's admission, queues and label intake, and the expert."""

    def __init__(self, model: QueueModel, policy: Policy, truth: dict[str, str]) -> None:
        settings = model.settings
        self.now = 0.0
        self.truth = truth
        self.expert = SimulatedExpert(truth, model.delay_seconds, lambda: self.now)
        self.opened: list[tuple[str, str]] = []
        sinks: dict[str, Sink] = {
            q.name: _Recorder(q.name, self.expert, self.opened) for q in settings.queues
        }
        self.queues = ExpertQueues(settings, sinks)
        registry = Metrics(CollectorRegistry())
        ledger = SpendLedger(policy, registry, BurnRate())
        self.admission = AdmissionStep(
            settings, self.queues, ledger, policy.id, vectors=settings.policy.diversity is not None
        )
        evidence = EvidenceBuilder(settings.fingerprint(), policy.id, {})
        self.intake = LabelIntake(self.queues, self.admission, registry, evidence, _Discard())
        self.expired = 0
        self.evicted = 0
        self.batch = model.batch

    def answers(self, now: float, most: int) -> list[tuple[str, Features, Groups, str]]:
        """The expert's answers due by ``now`` (at most ``most``), through intake: (item,
        features, group, label) of each label that trains the model."""
        self.now = now
        learned: list[tuple[str, Features, Groups, str]] = []
        for record in self.expert.poll(most):
            assert record.value is not None
            event = LabelEvent.model_validate_json(record.value)
            verdict = self.intake.take(event, record, now)
            if verdict.use is LabelUse.LEARN and verdict.request is not None:
                assert verdict.label is not None
                request = verdict.request
                learned.append((request.id, request.features, request.group, verdict.label))
        return learned

    def place(
        self, key: str, ex: Example, proba: dict[str, float], predicted: str, now: float
    ) -> tuple[Prediction, Placement]:
        """The item as the daemon's admission sees it (the online model's scores and
        prediction stand in for the production model's), and where a query would go."""
        event = Prediction(
            key,
            datetime.fromtimestamp(now, UTC),
            ex.features,
            predicted,
            proba or None,
            None,
            ex.group,
        )
        return event, self.admission.place(event, least_confidence(proba))

    def admit(
        self,
        event: Prediction,
        item: ItemView,
        decision: Decision,
        placement: Placement,
        now: float,
    ) -> bool:
        """Admit a decision as the daemon does; send its request (the expert gets it)."""
        self.now = now
        admitted = self.admission.admit(event, item, decision, placement, now)
        if admitted.evicted is not None:
            self.evicted += 1
            self.intake.close(admitted.evicted, now, RequestOutcome.EVICTED)
        if admitted.request is None:
            return False
        message, _ = self.queues.prepare(admitted.request)
        self.queues.send(admitted.request, message, None)
        return True

    def expire(self, now: float) -> None:
        """Close the requests whose TTL ran out (re-routed where the queue says so)."""
        self.now = now
        for request in self.queues.expire(now):
            self.expired += 1
            self.intake.close(request, now, RequestOutcome.EXPIRED)


@dataclass(frozen=True, slots=True)
class CurvePoint:
    """Learning-curve sample: after ``items`` items and ``labels`` labels, recent accuracy."""

    items: int
    labels: int
    accuracy: float


@dataclass(frozen=True, slots=True)
class GroupResult:
    """Outcome for one ``attribute=value`` subgroup."""

    items: int
    correct: int
    queries: int

    @property
    def accuracy(self) -> float:
        """Prequential accuracy on the subgroup's items."""
        return self.correct / self.items if self.items else math.nan


@dataclass(frozen=True)
class RunResult:
    """One policy at one budget and seed on one stream."""

    stream: str
    policy: str
    policy_id: str
    budget: float
    seed: int
    items: int
    label_delay: int
    accuracy: float
    macro_f1: float
    labels_spent: int
    labels_allowed: int
    decide_seconds: float
    groups: Mapping[str, GroupResult] = field(default_factory=dict)
    curve: Sequence[CurvePoint] = ()
    nonfinite_scores: int = 0
    requests: Sequence[tuple[str, str]] = ()
    """With a queue model: (item id, queue) of every request opened, re-asks included."""
    expired: int = 0
    """With a queue model: requests closed by their queue's TTL."""
    evicted: int = 0
    """With a queue model: waiting requests replaced by more useful ones (overflow replace)."""

    @property
    def label_fraction(self) -> float:
        """Labels spent per streamed item."""
        return self.labels_spent / self.items if self.items else 0.0

    @property
    def within_budget(self) -> bool:
        """Whether the run spent no more labels than ``floor(budget * items)``."""
        return self.labels_spent <= self.labels_allowed

    @property
    def decisions_per_second(self) -> float:
        """Policy decisions per second of decision time (model time excluded)."""
        return self.items / self.decide_seconds if self.decide_seconds > 0 else math.inf

    def query_share(self, group: str) -> float:
        """Share of all queries that went to ``group``."""
        g = self.groups.get(group)
        return g.queries / self.labels_spent if g is not None and self.labels_spent else 0.0


def model_settings(classes: Sequence[str], classifier: str = "auto") -> ModelSettings:
    """The model for a stream: ``auto`` is logistic regression for two classes, else softmax."""
    if classifier == "auto":
        chosen = (
            Classifier.LOGISTIC_REGRESSION if len(classes) == 2 else Classifier.SOFTMAX_REGRESSION
        )
    else:
        try:
            chosen = Classifier(classifier)
        except ValueError:
            names = ", ".join(c.value for c in Classifier)
            raise SimulationError(f"unknown classifier {classifier!r}; auto or {names}") from None
    return ModelSettings(classifier=chosen)


def run_one(
    stream: LabeledStream,
    chooser: Chooser,
    *,
    policy: str,
    budget: float,
    seed: int,
    label_delay: int = 0,
    settings: ModelSettings | None = None,
    hard_cap: bool = True,
    curve_points: int = 50,
    policy_id: str | None = None,
    progress: Callable[[int], None] | None = None,
    queue: QueueModel | None = None,
) -> RunResult:
    """Run the prequential protocol for one policy; see the module docstring.

    ``label_delay`` is in items: the label of item ``i`` is learned after item ``i + delay`` has
    been predicted, so it can first help with item ``i + delay + 1``. Event time is the
    example's ``time`` (item index in seconds when it has none). Without a ``queue`` every
    query is answered (the benchmark's protocol); with one, queries go through the daemon's
    queues (:class:`QueueModel`), and ``chooser`` must be a :class:`~policies.Policy`.
    ``progress`` is called with the number of items done since its last call.
    """
    if label_delay < 0:
        raise SimulationError("label_delay must be >= 0")
    info = stream.info
    learner = Learner(settings or model_settings(info.classes), list(info.classes))
    allowed = math.floor(budget * info.n + 1e-9)
    cap = AbsoluteBudget(allowed, period_seconds=math.inf) if hard_cap else None
    score = _Scorekeeper(info.n, curve_points)
    desk: _Desk | None = None
    if queue is None:
        decide_seconds = _run_direct(stream, chooser, learner, cap, score, label_delay, progress)
    else:
        if not isinstance(chooser, Policy):
            raise SimulationError(f"{policy}: a queue model needs a labelgate policy")
        desk = _Desk(queue, chooser, {})
        decide_seconds = _run_queued(
            stream, chooser, learner, cap, score, label_delay, progress, desk
        )
    return RunResult(
        stream=info.name,
        policy=policy,
        policy_id=policy_id or str(getattr(chooser, "id", policy)),
        budget=budget,
        seed=seed,
        items=score.items,
        label_delay=label_delay,
        accuracy=float(score.accuracy.get()),
        macro_f1=float(score.macro_f1.get()),
        labels_spent=score.spent,
        labels_allowed=allowed,
        decide_seconds=decide_seconds,
        groups={k: GroupResult(*v) for k, v in sorted(score.groups.items())},
        curve=score.finish(),
        nonfinite_scores=learner.nonfinite_scores,
        requests=tuple(desk.opened) if desk is not None else (),
        expired=desk.expired if desk is not None else 0,
        evicted=desk.evicted if desk is not None else 0,
    )


def _run_direct(
    stream: LabeledStream,
    chooser: Chooser,
    learner: Learner,
    cap: AbsoluteBudget | None,
    score: _Scorekeeper,
    label_delay: int,
    progress: Callable[[int], None] | None,
) -> float:
    """Every query is answered, ``label_delay`` items later; returns the decision time."""
    fallback = stream.info.classes[0]
    pending: deque[tuple[int, Features, Groups, str]] = deque()
    tick = max(1, stream.info.n // 100)
    decide_seconds = 0.0
    clock = time.perf_counter
    with compose.learn_during_predict():
        for i, ex in enumerate(stream):
            now = float(i) if ex.time is None else ex.time
            proba = learner.score(ex.features, ex.group)
            predicted = learner.predict(proba) or fallback
            key = str(i) if ex.id is None else ex.id
            item = ItemView(key, proba, classes_seen=learner.classes_seen, group=ex.group)
            started = clock()
            queried = _decide(chooser, cap, item, now)
            decide_seconds += clock() - started
            if queried:
                pending.append((i + label_delay, ex.features, ex.group, ex.label))
            score.record(ex, predicted, queried)
            while pending and pending[0][0] <= i:
                _, features, group, label = pending.popleft()
                learner.learn(features, label, group)
            if progress is not None and (i + 1) % tick == 0:
                progress(tick)
    return decide_seconds


def _run_queued(
    stream: LabeledStream,
    chooser: Policy,
    learner: Learner,
    cap: AbsoluteBudget | None,
    score: _Scorekeeper,
    label_delay: int,
    progress: Callable[[int], None] | None,
    desk: _Desk,
) -> float:
    """The daemon's order: before each batch the expert's answers due by the last item's time
    are taken in; each item is scored, decided and admitted; after the batch, requests whose
    TTL ran out are closed."""
    fallback = stream.info.classes[0]
    asked: dict[str, int] = {}  # item id -> index, until its label is learned
    held: deque[tuple[int, Features, Groups, str]] = deque()  # answered, waiting out label_delay
    tick = max(1, stream.info.n // 100)
    decide_seconds = 0.0
    clock = time.perf_counter
    last = 0.0
    batch = desk.batch
    with compose.learn_during_predict():
        for i, ex in enumerate(stream):
            now = float(i) if ex.time is None else ex.time
            if i % batch == 0:
                for key, features, group, label in desk.answers(last, batch):
                    held.append((asked.pop(key, i) + label_delay, features, group, label))
            while held and held[0][0] < i:
                _, features, group, label = held.popleft()
                learner.learn(features, label, group)
            proba = learner.score(ex.features, ex.group)
            predicted = learner.predict(proba) or fallback
            key = str(i) if ex.id is None else ex.id
            started = clock()
            event, placement = desk.place(key, ex, proba, predicted, now)
            item = ItemView(key, proba, placement.cost, learner.classes_seen, ex.group)
            decision = chooser.decide(item, now)
            if decision.query and cap is not None and not cap.allows(1.0, now):
                decision = decision.refused(Reason.BUDGET_EXHAUSTED)
            desk.truth[key] = ex.label
            queried = desk.admit(event, item, decision, placement, now)
            decide_seconds += clock() - started
            if queried:
                asked[key] = i
                if cap is not None:
                    cap.charge(1.0, now)
            score.record(ex, predicted, queried)
            if (i + 1) % batch == 0 or i + 1 == stream.info.n:
                desk.expire(now)
            last = now
            if progress is not None and (i + 1) % tick == 0:
                progress(tick)
    return decide_seconds


def _decide(chooser: Chooser, cap: AbsoluteBudget | None, item: ItemView, now: float) -> bool:
    """Decide, let the hard cap refuse, and charge only a query really made."""
    decision = chooser.decide(item, now)
    if decision.query and cap is not None and not cap.allows(1.0, now):
        decision = decision.refused(Reason.BUDGET_EXHAUSTED)
    if decision.query:
        chooser.commit(decision, item, now)
        if cap is not None:
            cap.charge(1.0, now)
    return decision.query


class _Scorekeeper:
    """Prequential scores of one run: overall, per subgroup, and a sampled learning curve."""

    def __init__(self, n: int, curve_points: int) -> None:
        self.accuracy: Any = _metrics.Accuracy()
        self.macro_f1: Any = _metrics.MacroF1()
        self.groups: dict[str, list[int]] = {}
        self.items = 0
        self.spent = 0
        self._recent: deque[bool] = deque(maxlen=max(50, n // 20))
        self._every = max(1, n // max(1, curve_points))
        self._curve: list[CurvePoint] = []

    def record(self, ex: Example, predicted: str, queried: bool) -> None:
        """Score one prediction and count its query."""
        hit = predicted == ex.label
        self.accuracy.update(ex.label, predicted)
        self.macro_f1.update(ex.label, predicted)
        self._recent.append(hit)
        self.items += 1
        self.spent += queried
        for k, v in ex.group.items():
            g = self.groups.setdefault(f"{k}={v}", [0, 0, 0])
            g[0] += 1
            g[1] += hit
            g[2] += queried
        if self.items % self._every == 0:
            self._point()

    def _point(self) -> None:
        recent = sum(self._recent) / max(1, len(self._recent))
        self._curve.append(CurvePoint(self.items, self.spent, recent))

    def finish(self) -> list[CurvePoint]:
        """The learning curve, ending at the last item."""
        if self.items and (not self._curve or self._curve[-1].items != self.items):
            self._point()
        return self._curve


def resolve_policies(
    names: Iterable[str], registry: Mapping[str, PolicyFactory] | None = None
) -> list[str]:
    """The baseline first, then the named policies (deduplicated, order kept)."""
    known = registry if registry is not None else PRESETS
    chosen = [BASELINE]
    for name in names:
        if name not in known:
            raise SimulationError(f"unknown policy {name!r}; choose from {', '.join(known)}")
        if name not in chosen:
            chosen.append(name)
    return chosen


def simulate(
    stream_for_seed: Callable[[int], LabeledStream],
    policies: Sequence[str],
    budgets: Sequence[float],
    seeds: Sequence[int],
    *,
    label_delay: int = 0,
    classifier: str = "auto",
    hard_cap: bool = True,
    progress: IO[str] | None = None,
    factories: Mapping[str, PolicyFactory] | None = None,
    model: ModelSettings | None = None,
    queue: QueueModel | None = None,
) -> list[RunResult]:
    """Every policy (plus the random baseline) at every budget and seed.

    ``stream_for_seed`` gives the stream of one seed (a built-in stream varies with it; a history
    file does not, unless shuffled per seed). ``factories`` defaults to :func:`presets` on the
    daemon's default policy; ``model`` (the configured model) overrides ``classifier``. A tqdm
    progress bar is drawn on ``progress`` when given.
    """
    registry = factories if factories is not None else presets()
    names = resolve_policies(policies, registry)
    for b in budgets:
        if not 0.0 < b <= 1.0:
            raise SimulationError(f"budget {b} is not a fraction in (0, 1]")
    runs: list[RunResult] = []
    bar: Any = None
    for seed in seeds:
        stream = stream_for_seed(seed)
        if bar is None and progress is not None:
            total = len(seeds) * len(budgets) * len(names) * stream.info.n
            bar = tqdm(total=total, file=progress, unit="item", unit_scale=True, mininterval=0.5)
        settings = model or model_settings(stream.info.classes, classifier)
        for budget in budgets:
            for name in names:
                if bar is not None:
                    bar.set_description(f"{name} b={budget:g} seed={seed}")
                runs.append(
                    run_one(
                        stream,
                        registry[name](budget, seed),
                        policy=name,
                        budget=budget,
                        seed=seed,
                        label_delay=label_delay,
                        settings=settings,
                        hard_cap=hard_cap,
                        progress=bar.update if bar is not None else None,
                        queue=queue,
                    )
                )
    if bar is not None:
        bar.close()
    return runs


def summarize(runs: Sequence[RunResult]) -> list[dict[str, Any]]:
    """Mean over seeds per (policy, budget), with the accuracy gain over random at that budget."""
    keyed: dict[tuple[float, str], list[RunResult]] = {}
    for r in runs:
        keyed.setdefault((r.budget, r.policy), []).append(r)
    rows: list[dict[str, Any]] = []
    for (budget, policy), rs in sorted(
        keyed.items(), key=lambda kv: (kv[0][0], kv[0][1] != BASELINE)
    ):
        base = keyed.get((budget, BASELINE), rs)
        acc = _mean(r.accuracy for r in rs)
        rows.append(
            {
                "policy": policy,
                "budget": budget,
                "seeds": len(rs),
                "accuracy": acc,
                "macro_f1": _mean(r.macro_f1 for r in rs),
                "label_fraction": _mean(r.label_fraction for r in rs),
                "within_budget": all(r.within_budget for r in rs),
                "vs_random": acc - _mean(r.accuracy for r in base),
                "decisions_per_second": _mean(r.decisions_per_second for r in rs),
            }
        )
    return rows


def _mean(values: Iterable[float]) -> float:
    vs = list(values)
    return sum(vs) / len(vs) if vs else math.nan


def format_table(runs: Sequence[RunResult]) -> str:
    """The terminal table: one line per (budget, policy), means over seeds."""
    header = (
        f"{'budget':>7}  {'policy':<28} {'seeds':>5} {'accuracy':>8} {'macroF1':>8} "
        f"{'labels':>7} {'in budget':>9} {'vs random':>9}"
    )
    lines = [header, "-" * len(header)]
    for row in summarize(runs):
        lines.append(
            f"{row['budget']:>7.2%}  {row['policy']:<28} {row['seeds']:>5} "
            f"{row['accuracy']:>8.4f} {row['macro_f1']:>8.4f} {row['label_fraction']:>7.2%} "
            f"{'yes' if row['within_budget'] else 'NO':>9} {row['vs_random']:>+9.4f}"
        )
    return "\n".join(lines)


CSV_COLUMNS = [
    "stream", "policy", "policy_id", "budget", "seed", "items", "label_delay", "accuracy",
    "macro_f1", "labels_spent", "labels_allowed", "label_fraction", "within_budget",
    "decisions_per_second",
]  # fmt: skip
"""Fixed CSV columns. With a queue model ``expired``, ``evicted`` and ``requests[<queue>]``
follow; then ``query_share[<group>]`` and ``accuracy[<group>]`` per subgroup."""


def csv_rows(runs: Sequence[RunResult]) -> tuple[list[str], list[dict[str, Any]]]:
    """Column names and one row per run (policy x budget x seed)."""
    groups = sorted({g for r in runs for g in r.groups})
    queues = sorted({q for r in runs for _, q in r.requests})
    columns = [*CSV_COLUMNS]
    if queues:
        columns += ["expired", "evicted", *(f"requests[{q}]" for q in queues)]
    for g in groups:
        columns += [f"query_share[{g}]", f"accuracy[{g}]"]
    rows = []
    for r in runs:
        row: dict[str, Any] = {
            "stream": r.stream,
            "policy": r.policy,
            "policy_id": r.policy_id,
            "budget": r.budget,
            "seed": r.seed,
            "items": r.items,
            "label_delay": r.label_delay,
            "accuracy": round(r.accuracy, 6),
            "macro_f1": round(r.macro_f1, 6),
            "labels_spent": r.labels_spent,
            "labels_allowed": r.labels_allowed,
            "label_fraction": round(r.label_fraction, 6),
            "within_budget": r.within_budget,
            "decisions_per_second": round(r.decisions_per_second, 1),
        }
        if queues:
            opened = Counter(q for _, q in r.requests)
            row["expired"], row["evicted"] = r.expired, r.evicted
            row.update({f"requests[{q}]": opened[q] for q in queues})
        for g in groups:
            res = r.groups.get(g)
            row[f"query_share[{g}]"] = round(r.query_share(g), 6)
            row[f"accuracy[{g}]"] = round(res.accuracy, 6) if res is not None else ""
        rows.append(row)
    return columns, rows
