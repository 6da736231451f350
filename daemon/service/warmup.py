"""Kafka start-up round trips, started before the daemon's heavy imports and run beside them.

Importing the service (numpy, River, the pydantic models) takes most of a second of pure Python
work; the broker round trips of a start-up (the startup checks, the state topic's metadata, the
group join, ``init_transactions``) are mostly waiting, in librdkafka's threads and on its timers.
:class:`KafkaWarmup` does that waiting on a thread while the main thread imports, and hands the
channels over to :func:`daemon.service.app.serve`.

The order of the checks and effects is the one ``serve`` has without it: the state directory, the
librdkafka properties, the broker and the topics, then the ops port (tried with a bind that is
released at once, so a second instance started by mistake next to a running one fails on the
port before it can fence the running one), then the group join, then the transaction is started:
it fences an earlier incarnation and aborts what it left open, before the state is read, which
happens only after :meth:`KafkaWarmup.channels` returned.

This module imports only what those steps need (no numpy, no River, no policies beyond the
wiring), so that the thread starts early; everything it imports is imported here, in the main
thread, before the thread starts (two threads importing the same modules could deadlock on the
import locks or see a half-initialised module).
"""

from __future__ import annotations

import importlib
import socket
import threading

from daemon.config import Settings
from daemon.errors import ServerError
from daemon.service.preflight import check_startup
from daemon.service.wiring import Channels, build_kafka_channels


def check_port(host: str, port: int) -> None:
    """Raise :class:`ServerError` when the ops server could not listen on ``host:port``.

    The socket is bound as :class:`http.server.HTTPServer` binds it (address reuse on) and
    closed at once; the server binds it for good later.
    """
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _name, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        raise ServerError.cannot_listen(host, port, exc) from exc


class KafkaWarmup:
    """The startup checks and the Kafka channels of one daemon, made ready on a thread.

    Parameters
    ----------
    settings
        A Kafka-source configuration.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._channels: Channels | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="kafka-warmup", daemon=True)

    def start(self) -> KafkaWarmup:
        """Start the thread; return self."""
        # What the thread imports on first use (the channels and the checks import their
        # Kafka modules inside functions) is imported here, in the calling thread.
        for name in ("connectors.kafka", "connectors.kafka_preflight"):
            importlib.import_module(name)
        self._thread.start()
        return self

    def _run(self) -> None:
        settings = self.settings
        try:
            check_startup(settings)
            channels = build_kafka_channels(settings)
            self._channels = channels
            if settings.server.enabled:
                check_port(settings.server.host, settings.server.port)
            # The join runs in the consumer's background from here; the assignment is served
            # by the first poll of the loop, after the restore.
            channels.predictions.partition_count()
            if channels.transaction is not None:
                channels.transaction.start(settings.kafka.flush_timeout_seconds * 6)
        except BaseException as exc:  # handed to the main thread, which raises it
            self._error = exc

    def channels(self) -> Channels:
        """Wait for the thread; the channels, with the group joining and the transaction open.

        Raises
        ------
        LabelgateError
            Whatever a startup check or the transaction's start raised (the channels made so
            far are closed first).
        """
        self._thread.join()
        if self._error is not None:
            if self._channels is not None:
                self._channels.close(5.0)
            raise self._error
        assert self._channels is not None
        return self._channels
