"""The one configuration model, read from a YAML file and ``LABELGATE_*`` environment variables.

Environment variables win over the file; nested fields use ``__``, e.g.
``LABELGATE_KAFKA__BOOTSTRAP_SERVERS``. Secrets are ``SecretStr`` and masked when printed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from daemon.errors import ConfigError

PositiveSeconds = Annotated[float, Field(gt=0.0)]
MASK = "**********"
"""What a secret looks like when printed (the same as pydantic's ``SecretStr``)."""

_SECRET_WORDS = ("password", "secret", "token", "credential", "jaas", "oauthbearer.config")
_PATH_SUFFIXES = (".location", ".keytab")
_PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
# Properties labelgate sets itself because its delivery guarantees depend on them.
_MANAGED_PROPERTIES = frozenset(
    {
        "enable.auto.commit",
        "enable.auto.offset.store",
        "enable.idempotence",
        "isolation.level",
        "transactional.id",
    }
)


def is_secret_property(name: str) -> bool:
    """Whether a librdkafka property holds a secret (a password, token, or key material).

    Conservative: anything naming a password, secret, token, credential or JAAS/OAuth config, and
    anything naming a key except a file path to one (``ssl.key.location``).

    >>> [is_secret_property(k) for k in ("sasl.password", "ssl.key.pem", "ssl.key.location")]
    [True, True, False]
    """
    lowered = name.lower()
    if any(word in lowered for word in _SECRET_WORDS):
        return True
    return "key" in lowered and not lowered.endswith(_PATH_SUFFIXES)


def _property_text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _masked_properties(props: dict[str, str]) -> dict[str, str]:
    return {k: MASK if is_secret_property(k) else v for k, v in props.items()}


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Topics(_Section):
    """Kafka topic names."""

    predictions: str = "predictions"
    labels: str = "labels"
    requests: str = "label-requests"
    audit: str = "labelgate-audit"
    dead_letter: str = "labelgate-dead-letter"
    state: str = "labelgate-state"


class KafkaSettings(_Section):
    """Kafka connection; SASL/SSL settings pass through to librdkafka."""

    bootstrap_servers: str = "localhost:9092"
    group_id: str = "labelgate"
    client_id: str = "labelgate"
    topics: Topics = Topics()
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: SecretStr | None = None
    extra: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Extra librdkafka properties, passed through; secret-looking ones (password, secret, "
            "token, key material) are masked when printed."
        ),
    )
    startup_timeout_seconds: PositiveSeconds = Field(
        default=30.0,
        description="How long startup waits for the broker (metadata) before failing.",
    )
    delivery: Literal["exactly_once", "at_least_once"] = Field(
        default="exactly_once",
        description=(
            "exactly_once: outputs, state and offsets in one transaction per commit (needs a "
            "cluster with transactions). at_least_once: for clusters without them; a crash can "
            "repeat requests and evidence produced since the last commit."
        ),
    )
    consume_batch_size: Annotated[int, Field(ge=1, le=100_000)] = 500
    batch_budget_seconds: PositiveSeconds | None = Field(
        default=0.001,
        description=(
            "Processing time one micro-batch may take: batches are sized from the measured cost "
            "per item so the last item of a batch waits at most about this long (the decision "
            "latency includes that wait); when batches of that size cannot keep up with the "
            "stream, they grow until they do, up to consume_batch_size. Larger trades latency "
            "for throughput; null: always consume_batch_size. A file source always uses "
            "consume_batch_size."
        ),
    )
    poll_timeout_seconds: PositiveSeconds = 0.2
    commit_interval_seconds: PositiveSeconds = Field(
        default=1.0,
        description="Requests and evidence become visible to read_committed readers at commit.",
    )
    session_timeout_seconds: Annotated[float, Field(ge=6.0, le=300.0)] = Field(
        default=10.0,
        description="How long a silent member keeps its partitions (static membership).",
    )
    transaction_timeout_seconds: Annotated[float, Field(ge=5.0, le=900.0)] = Field(
        default=20.0,
        description="After this, the broker aborts a crashed instance's open transaction.",
    )
    flush_timeout_seconds: PositiveSeconds = 10.0
    create_topics: bool = Field(
        default=False, description="Create missing topics at startup (the state topic compacted)."
    )
    topic_partitions: Annotated[int, Field(ge=1)] = 1
    topic_replication_factor: Annotated[int, Field(ge=1)] = 1

    @field_validator("extra", mode="before")
    @classmethod
    def _extra_as_text(cls, value: Any) -> Any:
        """YAML reads ``linger.ms: 5`` as a number; librdkafka takes every value as text."""
        if not isinstance(value, dict):
            return value
        return {key: _property_text(item) for key, item in value.items()}

    @field_validator("extra")
    @classmethod
    def _extra_names(cls, extra: dict[str, str]) -> dict[str, str]:
        for name in extra:
            if not _PROPERTY_NAME.match(name):
                raise ValueError(f"{name!r} is not a librdkafka property name")
            if name in _MANAGED_PROPERTIES:
                raise ValueError(f"{name!r} is set by labelgate (its delivery guarantees need it)")
        return extra

    @field_serializer("extra")
    def _masked_extra(self, extra: dict[str, str]) -> dict[str, str]:
        return _masked_properties(extra)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, _masked_properties(value) if name == "extra" else value

    def setting_for(self, prop: str) -> str:
        """The configuration path that sets a librdkafka property, for error messages."""
        first_class = {
            "bootstrap.servers": "bootstrap_servers",
            "client.id": "client_id",
            "group.id": "group_id",
            "security.protocol": "security_protocol",
            "sasl.mechanism": "sasl_mechanism",
            "sasl.username": "sasl_username",
            "sasl.password": "sasl_password",
            "ssl.ca.location": "ssl_ca_location",
            "ssl.certificate.location": "ssl_certificate_location",
            "ssl.key.location": "ssl_key_location",
            "ssl.key.password": "ssl_key_password",
        }
        if prop in self.extra or prop not in first_class:
            return f"kafka.extra.{prop}"
        return f"kafka.{first_class[prop]}"

    def common(self) -> dict[str, str]:
        """librdkafka properties shared by consumers, producers and the admin client."""
        conf: dict[str, str] = {
            "bootstrap.servers": self.bootstrap_servers,
            "client.id": self.client_id,
            "security.protocol": self.security_protocol,
        }
        optional = {
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": self.sasl_username,
            "sasl.password": self.sasl_password.get_secret_value() if self.sasl_password else None,
            "ssl.ca.location": self.ssl_ca_location,
            "ssl.certificate.location": self.ssl_certificate_location,
            "ssl.key.location": self.ssl_key_location,
            "ssl.key.password": (
                self.ssl_key_password.get_secret_value() if self.ssl_key_password else None
            ),
        }
        conf.update({k: v for k, v in optional.items() if v is not None})
        conf.update(self.extra)
        return conf


class FileSettings(_Section):
    """JSONL files: the embedded default, no broker needed."""

    predictions: Path = Path("predictions.jsonl")
    labels: Path | None = Field(
        default=None, description="Label events to read; none when a simulated expert answers."
    )
    requests: Path = Path("out/label-requests.jsonl")
    audit: Path = Path("out/audit.jsonl")
    dead_letter: Path = Path("out/dead-letter.jsonl")
    state: Path = Path("out/state.jsonl")


class LabelerSettings(_Section):
    """One labeler of the simulated expert panel."""

    id: Annotated[str, Field(min_length=1, max_length=128)]
    role: Annotated[str, Field(min_length=1, max_length=128)] = Field(
        default="simulated",
        description="labeler_role of its answers (see monitoring.non_human_roles).",
    )
    accuracy: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        default=1.0, description="Chance of the true label; otherwise another class, uniformly."
    )
    queues: list[str] | None = Field(default=None, description="Queues it serves; none: all.")
    delay_seconds: Annotated[float, Field(ge=0.0)] | None = Field(
        default=None, description="Its answer delay; none: the expert's delay_seconds."
    )


class ExpertSettings(_Section):
    """A stand-in expert that answers label requests from a ground-truth file after a delay.

    It is a panel of labelers: a request that asks for ``labels_required`` labels (overlap) is
    answered by that many distinct labelers of its queue.
    """

    truth: Path
    delay_seconds: Annotated[float, Field(ge=0.0)] = 3600.0
    labelers: Annotated[list[LabelerSettings], Field(min_length=1)] = Field(
        default_factory=lambda: [LabelerSettings(id="sim-1")]
    )
    seed: int = Field(default=0, description="Fixes which labelers answer and their mistakes.")

    @model_validator(mode="after")
    def _unique_labelers(self) -> ExpertSettings:
        ids = [x.id for x in self.labelers]
        if len(set(ids)) != len(ids):
            raise ValueError("expert labeler ids must be unique")
        return self


class Classifier(StrEnum):
    """Online River classifiers to choose from."""

    LOGISTIC_REGRESSION = "logistic_regression"
    SOFTMAX_REGRESSION = "softmax_regression"
    GAUSSIAN_NB = "gaussian_nb"
    HOEFFDING_TREE = "hoeffding_tree"
    ADAPTIVE_RANDOM_FOREST = "adaptive_random_forest"


class ScoreSource(StrEnum):
    """Which probabilities the policy judges uncertainty from."""

    ONLINE = "online"
    PRODUCTION = "production"


class Optimizer(StrEnum):
    """River optimisers for the linear classifiers."""

    SGD = "sgd"
    ADAGRAD = "adagrad"
    ADAM = "adam"


INTERACTION_VALUES = 100
"""Default ``model.interaction_values``: values of a crossed attribute that get interactions."""


class ModelSettings(_Section):
    """The online River model that learns from expert labels.

    The defaults need no per-stream tuning: numeric features are standardised with robust,
    clipped statistics (0/1 columns are left as they are) and the optimiser is SGD at River's
    step (0.01), the only one measured within noise of River's defaults on every stream; see
    docs/benchmarks.md "Default learner" for the comparison behind this choice.

    ``interactions`` (off: empty) crosses group attributes with the numeric features, so the one
    linear model can fit a subgroup whose concept differs from the majority's (its own weights,
    not only its own bias). The value comes from the item's ``group`` (else from a string
    feature of that name), so it works whether or not the group column is also a feature.
    Turn it on for an attribute you put a floor on in ``policy.quotas`` when that subgroup's
    labels follow other features than the rest: a floor buys the subgroup labels, but a shared
    linear model cannot use them beyond a bias. On the built-in ``minority-concept`` stream it
    lifts the floored segment from random's 0.59 to 0.76-0.91 (1-20% budgets) and overall
    accuracy with it. It is off by default, and not derived from the floors, because it adds
    (1 + numeric features) weights per attribute value, which small budgets pay for: where
    subgroups only shift the boundary (the ``subgroups`` stream) it loses accuracy at a 1%
    budget. Measured in docs/benchmarks.md "minority-concept: what limits the floored
    segment". Only the first ``interaction_values`` values seen of each crossed attribute are
    crossed (items with later values are counted in ``labelgate_model_uncrossed_items``), so an
    identifier crossed by mistake cannot grow the model without bound. A model checkpoint keeps
    the interactions it was saved with (changing them takes a fresh model).
    """

    classifier: Classifier = Classifier.LOGISTIC_REGRESSION
    scale: bool = Field(
        default=True, description="Standardise numeric features (robust, clipped; 0/1 unscaled)."
    )
    clip: Annotated[float, Field(gt=0.0)] = Field(
        default=5.0, description="Standardised values are clipped to +-clip."
    )
    optimizer: Optimizer = Optimizer.SGD
    learning_rate: Annotated[float, Field(gt=0.0)] | None = Field(
        default=None, description="Optimiser step; null: the optimiser's default."
    )
    score_source: ScoreSource = ScoreSource.ONLINE
    interactions: tuple[str, ...] = Field(
        default=(),
        description="Group attributes crossed with the numeric features: an item whose "
        "attribute a has value v also gets a=v (1) and a=v*x for every numeric feature x.",
    )
    interaction_values: Annotated[int, Field(ge=1)] = Field(
        default=INTERACTION_VALUES,
        description="Values of each crossed attribute that get interactions: the first ones "
        "seen; an item with a later value is scored and learned without them.",
    )

    @field_validator("interactions")
    @classmethod
    def _attributes(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            if not name or "=" in name:
                raise ValueError(f"interaction attribute {name!r}: a non-empty name without '='")
        if len(set(names)) != len(names):
            raise ValueError(f"interaction attributes are listed twice: {list(names)}")
        return names


class StrategyName(StrEnum):
    """Names of the query strategies available to the daemon (the strategies are in
    ``policies``; :class:`policies.Strategy` is their protocol)."""

    RANDOM = "random"
    FIXED_UNCERTAINTY = "fixed_uncertainty"
    VARIABLE_UNCERTAINTY = "variable_uncertainty"
    RANDOMIZED_VARIABLE_UNCERTAINTY = "randomized_variable_uncertainty"
    SPLIT = "split"
    ENTROPY_SAMPLING = "entropy_sampling"
    SELECTIVE_SAMPLING = "selective_sampling"
    QUERY_BY_COMMITTEE = "query_by_committee"


class Pacing(StrEnum):
    """How the fraction budget is paced."""

    WINDOW = "window"  # Zliobaite's sliding estimate with a hard window cap
    QUANTILE = "quantile"  # balanced incremental quantile filter (Kottke et al. 2015)


class BudgetSettings(_Section):
    """Label budget: a stream fraction, optionally under an absolute cap per period."""

    fraction: Annotated[float, Field(gt=0.0, le=1.0)] = 0.05
    window: Annotated[int, Field(ge=10)] = 1000
    pacing: Pacing = Field(
        default=Pacing.QUANTILE, description="Random sampling always paces itself (window)."
    )
    max_carry: Annotated[float, Field(ge=0.0)] = Field(
        default=5.0, description="Quantile pacing: most labels of under-spending carried over."
    )
    head_start: Annotated[float, Field(ge=0.0)] = Field(
        default=50.0,
        description="Quantile pacing: labels lent to a fresh filter, repaid at half the rate.",
    )
    limit: Annotated[float, Field(ge=0.0)] | None = Field(
        default=None, description="Absolute cap in cost units per period; never overshot."
    )
    period_seconds: PositiveSeconds = 86400.0


class DiversitySettings(_Section):
    """Skip near-duplicates of recent queries (numeric features as the vector)."""

    radius: Annotated[float, Field(gt=0.0)]
    memory: Annotated[int, Field(ge=1, le=10_000)] = 50
    metric: Literal["euclidean", "cosine"] = "euclidean"


Share = Annotated[float, Field(ge=0.0, le=1.0)]
Floor = Share | Literal["population"]


class QuotaSettings(_Section):
    """Subgroup floors (minimum shares of recent queries) and ceilings, on one or more attributes.

    Off by default (``policy.quotas: null``): which subgroups must not be starved of labels is the
    operator's call, and labelgate cannot know which of a stream's attributes matter. Turn them on
    per attribute and value, e.g. ``floors: {sex: {Female: population}, race: {Black: 0.12}}``;
    ``population`` is the subgroup's observed share of the stream (times ``population_factor``),
    so it is queried at least as often as uniform random sampling would.
    ``attribute`` with ``min_share``/``max_share`` is the one-attribute form of the same.
    """

    attribute: str | None = None
    min_share: dict[str, Floor] = Field(default_factory=dict)
    max_share: dict[str, Share] = Field(default_factory=dict)
    floors: dict[str, dict[str, Floor]] = Field(
        default_factory=dict, description="attribute -> value -> share, or 'population'."
    )
    ceilings: dict[str, dict[str, Share]] = Field(
        default_factory=dict, description="attribute -> value -> most share of queries."
    )
    population_factor: Annotated[float, Field(gt=0.0, le=4.0)] = Field(
        default=1.0, description="A 'population' floor is this times the observed share."
    )
    window: Annotated[int, Field(ge=10)] = Field(
        default=500,
        description="Shares are of the last this many queries. A short window forces queries "
        "whenever a share dips by chance (and holds the others back meanwhile).",
    )
    warmup: Annotated[int, Field(ge=0)] = Field(
        default=50, description="Queries made before the floors act (early shares are noise)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> QuotaSettings:
        if (self.min_share or self.max_share) and self.attribute is None:
            raise ValueError("min_share/max_share need attribute (or use floors/ceilings)")
        if self.warmup > self.window:
            raise ValueError("warmup must be <= window")
        floors, _ = self.bounds()
        for attr, values in floors.items():
            if sum(v for v in values.values() if v is not None) > 1.0:
                raise ValueError(f"floors of {attr!r} add up to more than 1")
        return self

    def bounds(self) -> tuple[dict[str, dict[str, float | None]], dict[str, dict[str, float]]]:
        """Floors (None: the population share) and ceilings by attribute and value."""
        floors: dict[str, dict[str, float | None]] = {
            a: {v: None if f == "population" else float(f) for v, f in vs.items()}
            for a, vs in self.floors.items()
        }
        ceilings = {a: dict(vs) for a, vs in self.ceilings.items()}
        if self.attribute is not None:
            floors.setdefault(self.attribute, {}).update(
                {v: None if f == "population" else float(f) for v, f in self.min_share.items()}
            )
            ceilings.setdefault(self.attribute, {}).update(self.max_share)
        return floors, ceilings


FIXED_THRESHOLD = 0.8
"""``fixed_uncertainty``'s confidence threshold when ``policy.threshold`` is null.

Below 1.0 so that a large budget is not spent on items the model is sure of: on the built-in
``imbalanced`` stream (5% positives) the widening uncertain band of a 20% budget is mostly
confident negatives, which pull a linear model's boundary into the minority class (0.978 against
0.988 at 5%, 50,000 items); at 0.8 that cell gives 0.980 and no other cell of the
label-efficiency benchmark (20,000 and 50,000 items) moves by more than 0.0003
(docs/benchmarks.md "Label efficiency")."""


class PolicySettings(_Section):
    """How items are chosen: a strategy, optional wrappers, a budget."""

    strategy: StrategyName = Field(
        default=StrategyName.FIXED_UNCERTAINTY,
        description="With quantile pacing: the filter ranks uncertainty among the items whose "
        "confidence is below the threshold.",
    )
    seed: int = 0
    budget: BudgetSettings = BudgetSettings()
    threshold: Annotated[float, Field(gt=0.0, le=1.0)] | None = Field(
        default=None,
        description="Initial (or fixed) threshold on the confidence; null: the strategy's own "
        f"(fixed_uncertainty {FIXED_THRESHOLD}: items the model is surer of are never ranked in, "
        "only explored; the adaptive rules start at 1.0; query_by_committee 0.5).",
    )
    uncertainty_measure: Literal["least_confidence", "margin"] = Field(
        default="margin",
        description="fixed_uncertainty's confidence: the top class probability, or the gap to "
        "the runner-up (the same for two classes; better with more).",
    )
    step: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.01
    delta: Annotated[float, Field(gt=0.0)] = Field(
        default=1.0, description="Randomized VU: spread of the threshold's random multiplier."
    )
    random_share: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        default=0.5, description="Split: share of items decided by random sampling."
    )
    discount_factor: Annotated[float, Field(gt=0.0)] = 3.0
    selective_b: Annotated[float, Field(gt=0.0)] = Field(
        default=0.1, description="Selective sampling: query probability b / (b + margin)."
    )
    committee_measure: Literal["vote_entropy", "consensus_entropy", "max_kl"] = "vote_entropy"
    cost_sensitive: bool = Field(default=False, description="Utility per unit of label cost.")
    audit_share: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        default=0.0, description="Share of the budget for a uniform random audit slice."
    )
    explore_share: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        default=0.05,
        description="Budget share for uniform random training queries, never ranked out.",
    )
    diversity: DiversitySettings | None = None
    quotas: QuotaSettings | None = Field(
        default=None,
        description="Subgroup floors; off by default, since only the operator knows which "
        "subgroups must not be starved (see QuotaSettings).",
    )
    queue_gate_exponent: Annotated[float, Field(gt=0.0)] | None = Field(
        default=2.0,
        description="Query probability times (1 - depth/capacity)^k as a queue fills; null: off.",
    )
    cold_start_items: Annotated[int, Field(ge=0)] = 10


QueueName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


class Overflow(StrEnum):
    """What a full queue does with a new request."""

    SKIP = "skip"  # not queried (counted as queue_full), nothing charged
    SPILL = "spill"  # sent to ``spill_to`` instead, if that queue has room
    REPLACE = "replace"  # evicts the lowest-utility waiting request if the new one is better


class RedactionMode(StrEnum):
    """How a field is minimised before a request leaves for an annotation queue."""

    DROP = "drop"
    MASK = "mask"
    HASH = "hash"


class Resolution(StrEnum):
    """How several labels for one item become one."""

    FIRST = "first"
    MAJORITY = "majority"


class LabelStudioSettings(_Section):
    """A Label Studio project that serves one queue, through ``labelgate bridge label-studio``.

    The token is a personal access token (or a legacy token where the organisation enabled
    them); give it here or, better, in the environment variable named by ``token_env`` (Helm
    sets that from a Secret).
    """

    url: Annotated[str, Field(pattern=r"^https?://")] = Field(
        description="Base URL of the Label Studio server, e.g. http://label-studio:8080."
    )
    token: SecretStr | None = Field(
        default=None, description="API token; default: the variable named by token_env."
    )
    token_env: str = Field(
        default="LABEL_STUDIO_TOKEN", description="Environment variable holding the token."
    )
    auth: Literal["auto", "personal", "legacy"] = Field(
        default="auto",
        description="personal: JWT refresh -> access (Bearer); legacy: 'Token'; auto: by shape.",
    )
    project_id: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="Existing project; default: found or created by title."
    )
    project_title: str | None = Field(
        default=None, description="Project title; default 'labelgate <queue>'."
    )
    label_config: str | None = Field(
        default=None,
        description="Labeling config (XML); its <Choices> must be exactly the classes. "
        "Default: generated from classes.",
    )
    webhook_url: str | None = Field(
        default=None,
        description="URL at which Label Studio reaches the bridge's /webhook; none: polling only.",
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="Shared secret Label Studio sends with every webhook call; "
        "default: the variable named by webhook_secret_env, if set.",
    )
    webhook_secret_env: str = Field(
        default="LABEL_STUDIO_WEBHOOK_SECRET",
        description="Environment variable holding the webhook secret.",
    )
    roles: dict[str, str] = Field(
        default_factory=dict,
        description="Label Studio user (email or username) or group (@domain) -> labeler_role; "
        "default: the queue's role.",
    )
    group_id: str | None = Field(
        default=None, description="Consumer group of the bridge; default labelgate-bridge-<queue>."
    )
    cursor_topic: str = Field(
        default="labelgate-bridge-state",
        description="Compacted topic keeping the bridge's durable annotation cursor.",
    )
    poll_interval_seconds: PositiveSeconds = Field(
        default=10.0, description="Catch-up poll of annotations (webhooks are the fast path)."
    )
    timeout_seconds: PositiveSeconds = 10.0
    retries: Annotated[int, Field(ge=0, le=20)] = Field(
        default=3, description="Extra attempts per HTTP call while Label Studio is down or 5xx."
    )
    backoff_seconds: PositiveSeconds = 0.5
    backoff_max_seconds: PositiveSeconds = 30.0
    host: str = Field(default="0.0.0.0", description="Bridge's HTTP server (webhook, metrics).")
    port: Annotated[int, Field(ge=0, le=65535)] = 8081


class QueueSettings(_Section):
    """One expert (oracle) queue."""

    name: QueueName
    role: str = Field(default="specialist", description="e.g. crowd, specialist, adjudicator.")
    cost: Annotated[float, Field(gt=0.0)] = Field(
        default=1.0, description="Budget units per label (times the item's own cost hint)."
    )
    capacity: Annotated[int, Field(ge=1)] = 10_000
    ttl_seconds: PositiveSeconds = 7 * 86400.0
    instructions_id: str | None = None
    instructions_version: str | None = None
    topic: str | None = Field(
        default=None, description="Kafka topic; default kafka.topics.requests."
    )
    file: Path | None = Field(default=None, description="JSONL file; default files.requests.")
    overflow: Overflow = Overflow.SKIP
    spill_to: QueueName | None = None
    fallback_on_expiry: QueueName | None = None
    labels_required: Annotated[int, Field(ge=1, le=15)] = Field(
        default=1, description="Overlap: labels collected per item before resolving."
    )
    resolution: Resolution = Resolution.FIRST
    escalate_to: QueueName | None = Field(
        default=None, description="Adjudicator queue for items whose labels disagree."
    )
    fields: list[str] | None = Field(
        default=None, description="Allow-list of feature names sent to this queue (None = all)."
    )
    redact: dict[str, RedactionMode] = Field(
        default_factory=dict,
        description="Per field (feature name or group.<attr>): drop, mask or hash.",
    )
    label_studio: LabelStudioSettings | None = Field(
        default=None, description="Serve this queue from a Label Studio project (the bridge)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> QueueSettings:
        if self.overflow is Overflow.SPILL and self.spill_to is None:
            raise ValueError("overflow 'spill' needs spill_to")
        if self.resolution is Resolution.MAJORITY and self.labels_required < 2:
            raise ValueError("resolution 'majority' needs labels_required >= 2")
        return self


class Condition(_Section):
    """One test on an item: ``field`` is group.<attr>, features.<name>, proba.<class>,
    prediction, uncertainty, cost or model_version."""

    field: str = Field(
        pattern=r"^(group|features|proba)\.[^.]+$|^(prediction|uncertainty|cost|model_version)$"
    )
    op: Literal["eq", "ne", "in", "not_in", "gt", "ge", "lt", "le", "exists"] = "eq"
    value: Any = None


class Rule(_Section):
    """Route items matching all of ``all`` and any of ``any`` (when given) to ``queues``."""

    name: str
    all: list[Condition] = Field(default_factory=list)
    any: list[Condition] = Field(default_factory=list)
    queues: Annotated[list[QueueName], Field(min_length=1)]


class RoutingSettings(_Section):
    """Ordered rules; the first that matches names the candidate queues."""

    rules: list[Rule] = Field(default_factory=list)
    default: Annotated[list[QueueName], Field(min_length=1)] = Field(
        default_factory=lambda: ["default"]
    )


class SchemaSettings(_Section):
    """Input validation."""

    strict: bool = Field(default=False, description="Reject unknown fields in predictions.")
    max_message_bytes: Annotated[int, Field(ge=256)] = 1_000_000
    max_abs_feature: Annotated[float, Field(gt=0.0, allow_inf_nan=False)] = Field(
        default=1e12,
        description=(
            "Largest magnitude of a numeric feature (and of a cost hint); beyond it: out_of_range."
        ),
    )
    max_string_length: Annotated[int, Field(ge=1)] = Field(
        default=4096, description="Longest string feature value or feature name; beyond: too_long."
    )


class MonitoringSettings(_Section):
    """Feedback-loop and sampling-bias statistics (metrics, /status)."""

    window: Annotated[int, Field(ge=100)] = Field(
        default=5000, description="Sliding window (items, or labels) of the statistics."
    )
    subgroup_attributes: list[str] | None = Field(
        default=None, description="Group attributes to track; default: the first 5 seen."
    )
    subgroup_top_k: Annotated[int, Field(ge=1, le=100)] = Field(
        default=10, description="Values per attribute with their own series; the rest: other."
    )
    shift_features: list[str] = Field(
        default_factory=list, description="Numeric features whose labeled-vs-stream shift to track."
    )
    shift_bins: Annotated[int, Field(ge=2, le=100)] = 10
    shift_warmup: Annotated[int, Field(ge=10)] = 500
    drift_delta: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.002
    audit_reasons: list[str] = Field(
        default_factory=lambda: ["audit"],
        description="Decision reasons whose labels form the audit-slice estimate.",
    )
    non_human_roles: list[str] = Field(
        default_factory=lambda: ["model", "llm", "heuristic", "rule"],
        description="Labeler roles counted as non-human oracles.",
    )
    refresh_seconds: PositiveSeconds = Field(
        default=2.0, description="How often the expensive statistics are recomputed."
    )
    burn_window_seconds: PositiveSeconds = Field(
        default=3600.0, description="Trailing window of the budget burn rate."
    )


class ServerSettings(_Section):
    """HTTP server for /metrics, /healthz and /readyz."""

    enabled: bool = True
    host: str = "0.0.0.0"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    heartbeat_timeout_seconds: PositiveSeconds = 30.0


class Settings(BaseSettings):
    """labelgate's whole configuration.

    >>> Settings(classes=["ok", "fraud"]).policy.budget.fraction
    0.05
    """

    model_config = SettingsConfigDict(
        env_prefix="LABELGATE_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    source: Literal["kafka", "file"] = "file"
    classes: Annotated[list[str], Field(min_length=2)]
    kafka: KafkaSettings = KafkaSettings()
    files: FileSettings = FileSettings()
    expert: ExpertSettings | None = None
    model: ModelSettings = ModelSettings()
    policy: PolicySettings = PolicySettings()
    queues: Annotated[list[QueueSettings], Field(min_length=1)] = Field(
        default_factory=lambda: [QueueSettings(name="default")]
    )
    routing: RoutingSettings = RoutingSettings()
    redaction_salt: SecretStr | None = Field(
        default=None, description="Salt for hashed fields, so hashes cannot be looked up."
    )
    schema_: SchemaSettings = Field(default=SchemaSettings(), alias="schema")
    server: ServerSettings = ServerSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    state_dir: Path = Field(
        default=Path("state"), description="Model checkpoints; a persistent volume in Kubernetes."
    )
    instance_id: str = Field(
        default="0",
        description=(
            "Scopes this replica's keys in the shared state log; also its static group member "
            "id and transactional id, so it must be stable across restarts and unique."
        ),
    )
    closed_request_horizon_seconds: PositiveSeconds = Field(
        default=7 * 86400.0,
        description="How long a closed request is remembered, so a redelivery is not re-asked.",
    )
    closed_request_memory: Annotated[int, Field(ge=0)] = Field(
        default=100_000, description="At most this many closed requests remembered per partition."
    )
    clock: Literal["wall", "event"] = Field(
        default="wall",
        description="'event' uses item event time as now (replays); 'wall' the system clock.",
    )
    shutdown_grace_seconds: PositiveSeconds = 25.0
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console"] = "json"

    @model_validator(mode="after")
    def _classes_unique(self) -> Settings:
        if len(set(self.classes)) != len(self.classes):
            raise ValueError("classes must be unique")
        names = [q.name for q in self.queues]
        if len(set(names)) != len(names):
            raise ValueError("queue names must be unique")
        known = set(names)
        refs = [*self.routing.default]
        for rule in self.routing.rules:
            refs += rule.queues
        for q in self.queues:
            refs += [n for n in (q.spill_to, q.fallback_on_expiry, q.escalate_to) if n]
        unknown = sorted(set(refs) - known)
        if unknown:
            raise ValueError(f"unknown queue(s) referenced: {unknown}; defined: {names}")
        if self.expert is not None:
            self._check_panel(self.expert, known)
        if self.model.classifier is Classifier.LOGISTIC_REGRESSION and len(self.classes) > 2:
            # A binary learner cannot serve more classes; fail at load time, not on first label.
            raise ValueError("logistic_regression is binary; use softmax_regression or a tree")
        return self

    def _check_panel(self, expert: ExpertSettings, known: set[str]) -> None:
        """Every queue's overlap can be met (it has ``labels_required`` labelers), and labelers
        name only configured queues."""
        for labeler in expert.labelers:
            unknown = sorted(set(labeler.queues or ()) - known)
            if unknown:
                raise ValueError(f"expert labeler {labeler.id!r}: unknown queue(s) {unknown}")
        for q in self.queues:
            serving = sum(1 for x in expert.labelers if x.queues is None or q.name in x.queues)
            if serving < q.labels_required:
                raise ValueError(
                    f"queue {q.name!r} wants {q.labels_required} labels per item but "
                    f"{serving} expert labeler(s) serve it"
                )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment first, then the values passed in (the YAML file), then defaults."""
        return env_settings, init_settings, file_secret_settings

    def masked(self) -> dict[str, Any]:
        """The effective configuration as JSON-compatible data, secrets masked."""
        return self.model_dump(mode="json", by_alias=True)

    def fingerprint(self) -> str:
        """A short hash of the effective configuration, recorded in every evidence record."""
        text = json.dumps(self.masked(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def format_validation_error(error: ValidationError) -> str:
    """One line per problem: the dotted field path and the reason."""
    lines = []
    for item in error.errors():
        path = ".".join(str(part) for part in item["loc"]) or "<root>"
        lines.append(f"{path}: {item['msg']}")
    return "\n".join(lines)


def _yaml_problem(error: yaml.YAMLError) -> str:
    """Where and what, on one line, without PyYAML's snippet of the file: that line may hold a
    secret."""
    if not isinstance(error, yaml.MarkedYAMLError):
        return type(error).__name__
    parts = []
    for text, mark in ((error.context, error.context_mark), (error.problem, error.problem_mark)):
        if text:
            at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            parts.append(f"{text}{at}")
    return "; ".join(parts) or type(error).__name__


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Load and validate settings from a YAML file (optional) plus the environment.

    Raises
    ------
    ConfigError
        With one line per invalid field, naming its path.
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text())
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {_yaml_problem(exc)}") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the config file must hold a mapping at the top level")
        data = loaded
        base = Path(path).resolve().parent
        data = _resolve_paths(data, base)
    data.update(overrides)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from exc
    except SettingsError as exc:
        # A LABELGATE_* variable holding a value that is not JSON where JSON is expected; the
        # value itself is not repeated (it may be a secret).
        raise ConfigError(f"environment: {exc}") from exc


def _resolve_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Relative file paths in a config file are relative to the file, as users expect."""
    out = dict(data)
    files = out.get("files")
    if isinstance(files, dict):
        out["files"] = {
            k: (str(base / v) if isinstance(v, str) and not Path(v).is_absolute() else v)
            for k, v in files.items()
        }
    expert = out.get("expert")
    if isinstance(expert, dict) and isinstance(expert.get("truth"), str):
        truth = Path(expert["truth"])
        out["expert"] = {**expert, "truth": str(truth if truth.is_absolute() else base / truth)}
    state_dir = out.get("state_dir")
    if isinstance(state_dir, str) and not Path(state_dir).is_absolute():
        out["state_dir"] = str(base / state_dir)
    return out
