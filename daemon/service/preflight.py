"""Startup checks: everything that would otherwise fail hours later, or as a traceback, is tried
before the first item is processed, and fails as one typed error naming the setting.

Order: the state directory (local and cheap), then for Kafka the librdkafka properties (local),
the broker and the topics, for files the input and output paths. The ops port is checked where
the server binds it (:func:`daemon.service.app.serve`).
"""

from __future__ import annotations

import os
from pathlib import Path

from connectors.errors import ConnectorError
from daemon.config import Settings
from daemon.errors import ConfigError, StateError


def check_state_dir(path: Path) -> None:
    """Create ``state_dir`` if needed and prove it writable with a probe file.

    The model checkpoint is written there at every commit and at shutdown; finding out at the
    first commit (or at shutdown, after hours of work) is too late.

    Raises
    ------
    StateError
        Naming ``state_dir`` and the operating system's reason.
    """
    probe = path / f".labelgate-write-probe-{os.getpid()}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise StateError(f"state_dir {str(path)!r} is not writable: {reason}") from exc


def check_files(settings: Settings) -> None:
    """File mode: the inputs can be read and the outputs appended to (created if missing).

    Raises
    ------
    ConnectorError
        Naming the ``files.*`` (or ``expert.truth``, ``queues.N.file``) setting and the reason.
    """
    f = settings.files
    inputs = {"files.predictions": f.predictions, "files.labels": f.labels}
    if settings.expert is not None:
        inputs["expert.truth"] = settings.expert.truth
    outputs = {
        "files.requests": f.requests,
        "files.audit": f.audit,
        "files.dead_letter": f.dead_letter,
        "files.state": f.state,
    }
    for i, queue in enumerate(settings.queues):
        if queue.file is not None:
            outputs[f"queues.{i}.file"] = queue.file
    for setting, path in inputs.items():
        if path is None:
            continue
        try:
            path.open("rb").close()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ConnectorError(f"{setting} {str(path)!r}: cannot read: {reason}") from exc
    for setting, path in outputs.items():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.open("ab").close()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ConnectorError(f"{setting} {str(path)!r}: cannot write: {reason}") from exc


def check_kafka_properties(settings: Settings) -> None:
    """librdkafka accepts every property labelgate will pass (``kafka.*`` and ``kafka.extra``).

    Raises
    ------
    ConfigError
        Naming the setting that supplies the refused property.
    """
    from connectors.kafka_preflight import (  # noqa: PLC0415 - keep confluent_kafka out of file mode
        PropertyError,
        check_properties,
    )

    try:
        check_properties(settings.kafka.common())
    except PropertyError as exc:
        where = settings.kafka.setting_for(exc.name) if exc.name else "kafka"
        raise ConfigError(f"{where}: librdkafka refuses it: {exc.reason}") from exc


def topic_settings(settings: Settings) -> dict[str, str]:
    """Every topic labelgate reads or writes, keyed by the setting that names it."""
    t = settings.kafka.topics
    topics = {
        "kafka.topics.predictions": t.predictions,
        "kafka.topics.labels": t.labels,
        "kafka.topics.audit": t.audit,
        "kafka.topics.dead_letter": t.dead_letter,
        "kafka.topics.state": t.state,
    }
    if any(q.topic is None for q in settings.queues):
        topics["kafka.topics.requests"] = t.requests
    for i, queue in enumerate(settings.queues):
        if queue.topic is not None:
            topics[f"queues.{i}.topic"] = queue.topic
    return topics


def check_kafka_cluster(settings: Settings) -> None:
    """A broker answers within ``kafka.startup_timeout_seconds`` and every topic exists (unless
    ``kafka.create_topics`` will create them).

    Raises
    ------
    ConnectorError
        Naming ``kafka.bootstrap_servers``, or the settings of the missing topics.
    """
    from connectors.kafka_preflight import (  # noqa: PLC0415 - keep confluent_kafka out of file mode
        BrokerUnreachableError,
        list_topics,
    )

    k = settings.kafka
    try:
        existing = list_topics(k.common(), k.startup_timeout_seconds)
    except BrokerUnreachableError as exc:
        raise ConnectorError(
            f"kafka.bootstrap_servers {k.bootstrap_servers!r}: broker unreachable: {exc} "
            "(see kafka.startup_timeout_seconds)"
        ) from exc
    if k.create_topics:
        return
    missing = {s: name for s, name in topic_settings(settings).items() if name not in existing}
    if missing:
        listed = ", ".join(f"{s}={name!r}" for s, name in missing.items())
        raise ConnectorError(
            f"missing Kafka topics: {listed}; create them or set kafka.create_topics: true"
        )


def check_startup(settings: Settings) -> None:
    """Every startup check the configured source needs, cheapest first."""
    check_state_dir(settings.state_dir)
    if settings.source == "kafka":
        check_kafka_properties(settings)
        check_kafka_cluster(settings)
    else:
        check_files(settings)
