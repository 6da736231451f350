"""Compact decision evidence: one small record per item, the policy's parameters once per config.

A decision record used to repeat the whole ``policy_params`` mapping (about 500 B of 1.25 kB)
on every item. Here the parameters go into one ``kind: "config"`` record per configuration hash
(written at start-up), and each decision record carries only ``config_hash``; fields that are
null are left out, which the :class:`~daemon.contracts.messages.EvidenceRecord` schema allows
(absent = null). Every field of the old record is still derivable: the policy parameters by
joining on ``config_hash`` (see :func:`expand`), the nulls from the schema's defaults.

Records are msgspec structs encoded by one reusable encoder, about three times cheaper than
serialising a dict with pydantic, which matters because this runs for every item.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec

_encoder = msgspec.json.Encoder()
encode = _encoder.encode


class Source(msgspec.Struct, frozen=True, gc=False):
    """Where the input came from (topic, partition, offset)."""

    topic: str
    partition: int
    offset: int


class DecisionRecord(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    """One decision, as in :class:`~daemon.contracts.messages.EvidenceRecord` (kind decision).

    The field order is the order of the keys in the JSON; optional fields at their default
    (null, or an empty mapping) are omitted.
    """

    schema_version: int
    kind: str
    id: str
    source: Source
    recorded_at: datetime
    config_hash: str
    event_time: datetime
    decided_at: datetime
    policy: str
    scores: dict[str, float]
    uncertainty: float
    probability: float
    query: bool
    reason: str
    budget_spent: float
    queue_state: dict[str, int]
    production_prediction: str
    score_source: str
    online_model_version: int
    model_version: str | None = None
    online_prediction: str | None = None
    threshold: float | None = None
    budget_limit: float | None = None
    budget_remaining: float | None = None
    budget_fraction: float | None = None
    queue: str | None = None
    route_rule: str | None = None
    request_id: str | None = None
    instructions_id: str | None = None
    redaction: dict[str, str] = {}
    group: dict[str, str] = {}


def utc(ts: float) -> datetime:
    """An epoch timestamp as an aware UTC datetime."""
    return datetime.fromtimestamp(ts, UTC)


def config_record(
    config_hash: str, policy: str, policy_params: Mapping[str, Any], now: float
) -> bytes:
    """The record that carries a configuration's policy parameters, once per config hash."""
    when = utc(now)
    return encode(
        {
            "schema_version": 1,
            "kind": "config",
            "id": config_hash,
            "source": {"topic": "", "partition": -1, "offset": -1},
            "recorded_at": when,
            "config_hash": config_hash,
            "policy": policy,
            "policy_params": dict(policy_params),
        }
    )


def expand(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Decision records with ``policy_params`` filled in from their config record.

    For readers that want the old self-contained form; records of other kinds pass through.

    >>> cfg = {"kind": "config", "config_hash": "h", "policy_params": {"seed": 0}}
    >>> expand([cfg, {"kind": "decision", "config_hash": "h"}])[1]["policy_params"]
    {'seed': 0}
    """
    params: dict[str, Any] = {}
    out = []
    for record in records:
        row = dict(record)
        if row.get("kind") == "config":
            params[row["config_hash"]] = row.get("policy_params", {})
        elif row.get("kind", "decision") == "decision" and "policy_params" not in row:
            row["policy_params"] = params.get(row.get("config_hash", ""), {})
        out.append(row)
    return out
