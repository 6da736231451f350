"""Checks made before the first message is read: does librdkafka accept the configuration, does a
broker answer, which topics exist.

Each check builds a short-lived client whose log goes to a discarding logger, so a failed check
prints none of librdkafka's own lines and surfaces as one typed error instead.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from connectors.errors import ConnectorError

_QUIET = logging.getLogger("labelgate.preflight.librdkafka")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


class PropertyError(ConnectorError):
    """librdkafka refused a configuration property (unknown name or invalid value).

    ``name`` is the offending property when it could be singled out, else ``None``.
    """

    def __init__(self, name: str | None, reason: str) -> None:
        super().__init__(f"{name}: {reason}" if name else reason)
        self.name = name
        self.reason = reason


class BrokerUnreachableError(ConnectorError):
    """No broker answered a metadata request in time."""


def _refusal(conf: Mapping[str, str]) -> str | None:
    """Why librdkafka refuses ``conf`` for a producer or a consumer, or ``None`` if neither does."""
    quiet: dict[str, Any] = {**conf, "logger": _QUIET}
    try:
        producer = Producer(quiet)
        producer.flush(0)
        del producer
        consumer = Consumer({"group.id": "labelgate-preflight", **quiet})
        consumer.close()
    except KafkaException as exc:
        return str(exc.args[0].str()) if exc.args else str(exc)
    return None


def check_properties(conf: Mapping[str, str]) -> None:
    """Raise :class:`PropertyError` if librdkafka refuses any property of ``conf``.

    Clients are created and destroyed at once (creation validates every property; nothing is
    produced or consumed). When the whole configuration is refused, each property is then tried
    alone to name the culprit, because librdkafka reports aliases (``linger.ms`` as
    ``queue.buffering.max.ms``) and some errors name no property at all.
    """
    reason = _refusal(conf)
    if reason is None:
        return
    # The culprit is the property refused alone for the same reason; a reason that only the
    # combination causes (a SASL mechanism with a protocol) is reported without one.
    culprit = next((k for k, v in conf.items() if _refusal({k: v}) == reason), None)
    for value in conf.values():
        if value and value not in conf:
            # librdkafka may quote a value, and a value may be a secret.
            reason = reason.replace(f'"{value}"', '"***"')
    raise PropertyError(culprit, reason)


def list_topics(conf: Mapping[str, str], timeout: float) -> set[str]:
    """The names of the topics the cluster shows to this client.

    Raises
    ------
    BrokerUnreachableError
        When no broker answers within ``timeout`` seconds (wrong address, broker down, TLS or
        SASL failing before metadata can be read).
    """
    quiet: dict[str, Any] = {**conf, "logger": _QUIET}
    admin = AdminClient(quiet)
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        detail = exc.args[0].str() if exc.args else str(exc)
        raise BrokerUnreachableError(f"no broker answered within {timeout:g}s ({detail})") from exc
    return set(metadata.topics)
