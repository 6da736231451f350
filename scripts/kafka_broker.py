#!/usr/bin/env python3
"""A real single-node Apache Kafka broker (KRaft) for labelgate's tests and CI.

The broker's jars come from Maven Central (``scripts/kafka/pom.xml``) into the user
cache, ``${XDG_CACHE_HOME:-~/.cache}/labelgate/kafka-<version>/libs``; nothing is
downloaded into the repository and no Kafka distribution tarball is needed.

CLI::

    python scripts/kafka_broker.py fetch               # prints the libs dir
    python scripts/kafka_broker.py start --dir DIR     # prints the bootstrap address
    python scripts/kafka_broker.py stop --dir DIR [--kill]
    python scripts/kafka_broker.py restart --dir DIR   # same data, same ports

Importable API: :func:`fetch` and :class:`KafkaBroker` (also a context manager). Tests of
crash safety stop a started broker (``stop()`` with SIGTERM, ``stop(kill=True)`` with SIGKILL)
and ``restart()`` it on the same data directory and the same ports, so clients reconnect to the
address they know.
Standard library only, so it runs before any project dependency is installed.

Broker choices (see :func:`server_properties`): one combined broker+controller node
on 127.0.0.1 with ports picked at start, a dynamic single-voter quorum
(``format --standalone``), replication factors of 1, a small heap, few internal
topic partitions (fast first transaction / first group join), and
``auto.create.topics.enable=false`` so tests and the daemon must create the topics
they use, as on a production cluster.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TypedDict

KAFKA_VERSION = os.environ.get("LABELGATE_KAFKA_VERSION", "4.1.1")
"""Kafka version to run; the pom's default is the same (this passes -Dkafka.version)."""

POM = Path(__file__).resolve().parent / "kafka" / "pom.xml"
NODE_ID = 1
READY_LINE = "Kafka Server started"  # logged by KafkaRaftServer once the broker is unfenced
STATE_FILE = "broker.json"
STOPPED_FILE = "stopped.json"  # the last state of a stopped broker, for `restart`
LOG_FILE = "broker.log"

BROKER_JVM_OPTS: tuple[str, ...] = (
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseSerialGC",  # one GC thread: the test machine has 2 cores
    "-XX:TieredStopAtLevel=1",  # C1 only: faster start, less CPU; test traffic is light
    "-XX:-UsePerfData",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)
TOOL_JVM_OPTS: tuple[str, ...] = (
    "-Xmx256m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:-UsePerfData",
)

# Everything goes to stdout, which start() sends to DIR/broker.log.
LOG4J2_PROPERTIES = """\
# Written by scripts/kafka_broker.py: all broker logging to stdout (-> broker.log).
status = warn
# Kafka logs its own shutdown from a JVM shutdown hook: keep log4j alive for it.
shutdownHook = disable
appender.out.type = Console
appender.out.name = OUT
appender.out.target = SYSTEM_OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = OUT
logger.kafka.name = kafka
logger.kafka.level = info
logger.apache.name = org.apache.kafka
logger.apache.level = info
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.state.name = state.change.logger
logger.state.level = warn
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = warn
logger.appinfo.name = org.apache.kafka.common.utils.AppInfoParser
logger.appinfo.level = warn
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = warn
"""


class BrokerError(RuntimeError):
    """Fetching, formatting, starting or stopping the broker failed."""


# --------------------------------------------------------------------------- fetch


def cache_dir(version: str = KAFKA_VERSION) -> Path:
    """Return the user-cache directory that holds one Kafka version's jars."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "labelgate" / f"kafka-{version}"


def _fetch_stamp(version: str) -> str:
    """Identify what a fetch produces: the Kafka version and the pom's content."""
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()
    return f"{version}:{digest}"


def _complete_libs(home: Path, stamp: str) -> Path | None:
    """Return the libs dir if a previous fetch with the same stamp finished, else None."""
    libs, marker = home / "libs", home / "libs.complete.json"
    try:
        info = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
    jars = info.get("jars") or []
    if info.get("stamp") != stamp or not all((libs / jar).is_file() for jar in jars):
        return None
    return libs


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock so concurrent fetches (e.g. pytest-xdist) do not collide."""
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def fetch(version: str = KAFKA_VERSION, *, mvn: str | None = None) -> Path:
    """Assemble the broker's jars with Maven into the user cache; return the libs dir.

    Idempotent: skipped when a marker from an earlier complete fetch of the same
    version and pom is present and every jar it lists still exists.
    """
    home = cache_dir(version)
    stamp = _fetch_stamp(version)
    if (libs := _complete_libs(home, stamp)) is not None:
        return libs
    home.mkdir(parents=True, exist_ok=True)
    with _file_lock(home / ".fetch.lock"):
        if (libs := _complete_libs(home, stamp)) is not None:
            return libs
        mvn = mvn or shutil.which("mvn")
        if mvn is None:
            raise BrokerError("Maven ('mvn') is not on PATH; it is needed to fetch Kafka's jars")
        staging = home / f"libs.tmp-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        cmd = [
            mvn, "-q", "-B", "-Dstyle.color=never", "-f", str(POM),
            "dependency:copy-dependencies",
            f"-Dkafka.version={version}",
            f"-DoutputDirectory={staging}",
            "-DincludeScope=runtime",
        ]  # fmt: skip
        proc = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
        )
        main_jar = staging / f"kafka_2.13-{version}.jar"
        if proc.returncode != 0 or not main_jar.is_file():
            shutil.rmtree(staging, ignore_errors=True)
            output = (proc.stdout + proc.stderr).strip()[-4000:]
            raise BrokerError(f"mvn failed (exit {proc.returncode}): {' '.join(cmd)}\n{output}")
        libs = home / "libs"
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)
        jars = sorted(p.name for p in libs.glob("*.jar"))
        marker = home / "libs.complete.json"
        tmp_marker = marker.with_suffix(".tmp")
        tmp_marker.write_text(json.dumps({"stamp": stamp, "jars": jars}, indent=1) + "\n")
        tmp_marker.replace(marker)
        return libs


# ---------------------------------------------------------------------- broker config


def random_cluster_id() -> str:
    """Return a random cluster id shaped like Kafka's Uuid: 22 chars of base64url."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):  # Kafka avoids these too (CLI argument parsing)
            return text


def free_ports(count: int) -> list[int]:
    """Return distinct free loopback ports, found by binding port 0."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def server_properties(
    data_dir: Path, port: int, controller_port: int, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Return the config of a single combined KRaft node (broker + controller)."""
    props = {
        "process.roles": "broker,controller",
        "node.id": str(NODE_ID),
        # Dynamic quorum with this node as its only voter (storage formatted --standalone).
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": (
            f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}"
        ),
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "log.dirs": str(data_dir),
        "num.partitions": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "4",  # default 50: slow first group join
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "4",  # default 50: slow first transaction
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "false",
        "delete.topic.enable": "true",
        "num.network.threads": "2",
        "num.io.threads": "2",
        "num.recovery.threads.per.data.dir": "1",
        "background.threads": "2",
        "log.cleaner.threads": "1",
        "log.cleaner.dedupe.buffer.size": str(8 * 1024 * 1024),  # default 128 MiB of heap
    }
    props.update(extra or {})
    return props


def _write_properties(path: Path, props: Mapping[str, str]) -> None:
    """Write a Java .properties file (values here need no escaping beyond backslashes)."""
    lines = ["# Written by scripts/kafka_broker.py"]
    lines += [f"{key}={value.replace(chr(92), chr(92) * 2)}" for key, value in props.items()]
    path.write_text("\n".join(lines) + "\n")


def _java() -> str:
    """Return the java executable: $JAVA_HOME/bin/java if set, else java on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise BrokerError("java is not on PATH (Kafka 4.x needs Java 17+)")
    return found


# ---------------------------------------------------------------------- processes


def _pid_alive(pid: int) -> bool:
    """Return True if pid exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _is_our_broker(pid: int, properties: Path) -> bool:
    """Return True if pid runs kafka.Kafka with this properties file (guards pid reuse)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return _pid_alive(pid)  # no /proc: trust the state file
    return b"kafka.Kafka" in argv and str(properties).encode() in argv


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """Send sig to pid's process group if pid leads one, else to pid alone."""
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def _terminate(pid: int, timeout: float, popen: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM pid's group, wait up to timeout seconds, then SIGKILL it."""
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen is not None and popen.poll() is not None:
            break
        if popen is None and not _pid_alive(pid):
            break
        time.sleep(0.1)
    else:
        _signal_group(pid, signal.SIGKILL)
    if popen is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=10)
    # The JVM's own children (none expected) would share its group: clean them up too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _die_with_parent_prefix() -> list[str]:
    """Return a command prefix that SIGKILLs the child when its parent dies, if available.

    util-linux's setpriv sets PR_SET_PDEATHSIG and execs the command (same pid); unlike
    a subprocess preexec_fn it is safe in a threaded parent. Elsewhere: no prefix.
    """
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


def _log_tail(path: Path, lines: int = 40) -> str:
    """Return the last lines of a log file, or a note that it is missing."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"({path} not found)"
    return "\n".join(text.splitlines()[-lines:])


def _tcp_ok(port: int) -> bool:
    """Return True if something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _metadata_ok(bootstrap: str) -> bool | None:
    """Ask the broker for metadata through confluent_kafka, if installed (else None)."""
    try:
        from confluent_kafka.admin import AdminClient  # noqa: PLC0415 - optional dependency
    except ImportError:
        return None
    try:
        admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
        metadata = admin.list_topics(timeout=5)
    except Exception:  # any client error means "not ready yet"
        return False
    return NODE_ID in metadata.brokers


# ------------------------------------------------------------------------- broker


class KafkaBroker:
    """One single-node KRaft broker process in a directory of its own.

    ``start(dir)`` writes ``server.properties``, ``log4j2.properties``, formats
    ``dir/data`` afresh, starts the JVM in its own process group (output in
    ``dir/broker.log``), waits until it serves metadata, writes ``dir/broker.json``
    and returns the bootstrap address. ``stop()`` ends it. With
    ``die_with_parent=True`` (the default; Linux) the JVM is killed if the process
    that started it dies, so a crashed test session leaves no broker behind.
    """

    def __init__(
        self,
        version: str = KAFKA_VERSION,
        *,
        ready_timeout: float = 120.0,
        jvm_opts: Sequence[str] = BROKER_JVM_OPTS,
        extra_config: Mapping[str, str] | None = None,
        die_with_parent: bool = True,
    ) -> None:
        """Configure (not start) a broker; extra_config overrides server.properties."""
        self.version = version
        self.ready_timeout = ready_timeout
        self.jvm_opts = tuple(jvm_opts)
        self.extra_config = dict(extra_config or {})
        self.die_with_parent = die_with_parent
        self.directory: Path | None = None
        self.bootstrap: str | None = None
        self.controller_port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """Return the broker JVM's pid while it was started by this object."""
        return self._proc.pid if self._proc is not None else None

    def start(self, directory: str | Path, attempts: int = 3) -> str:
        """Start the broker in directory; return its bootstrap address "127.0.0.1:port"."""
        if self._proc is not None:
            raise BrokerError("this KafkaBroker is already started")
        directory = Path(directory).resolve()
        directory.mkdir(parents=True, exist_ok=True)
        running = read_state(directory)
        if running and _is_our_broker(running["pid"], directory / "server.properties"):
            raise BrokerError(
                f"a broker is already running in {directory} (pid {running['pid']}); stop it first"
            )
        libs = fetch(self.version)
        self.directory = directory
        for attempt in range(1, attempts + 1):
            try:
                return self._start_once(directory, libs)
            except _PortTakenError:
                if attempt == attempts:
                    raise BrokerError(
                        f"broker could not bind its ports in {attempts} attempts:\n"
                        + _log_tail(directory / LOG_FILE)
                    ) from None
        raise AssertionError("unreachable")

    def _start_once(self, directory: Path, libs: Path) -> str:
        """Format fresh storage and start the JVM once; raise _PortTakenError on a bind race."""
        java = _java()
        classpath = str(libs / "*")  # expanded by java itself
        port, controller_port = free_ports(2)
        data_dir = directory / "data"
        shutil.rmtree(data_dir, ignore_errors=True)
        props_path = directory / "server.properties"
        log4j_path = directory / "log4j2.properties"
        props = server_properties(data_dir, port, controller_port, self.extra_config)
        _write_properties(props_path, props)
        log4j_path.write_text(LOG4J2_PROPERTIES)
        log4j_opt = f"-Dlog4j2.configurationFile={log4j_path}"
        fmt = subprocess.run(
            [java, *TOOL_JVM_OPTS, log4j_opt, "-cp", classpath, "kafka.tools.StorageTool",
             "format", "-t", random_cluster_id(), "-c", str(props_path), "--standalone"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip
        if fmt.returncode != 0:
            raise BrokerError(f"kafka storage format failed:\n{fmt.stdout}{fmt.stderr}")
        return self._launch(directory, libs, port, controller_port, "wb")

    def _launch(
        self, directory: Path, libs: Path, port: int, controller_port: int, mode: str
    ) -> str:
        """Start the JVM on the written properties and wait until it serves metadata."""
        java = _java()
        classpath = str(libs / "*")
        props_path = directory / "server.properties"
        log4j_opt = f"-Dlog4j2.configurationFile={directory / 'log4j2.properties'}"
        log_path = directory / LOG_FILE
        prefix = _die_with_parent_prefix() if self.die_with_parent else []
        command = [java, *self.jvm_opts, log4j_opt, "-cp", classpath, "kafka.Kafka"]
        offset = log_path.stat().st_size if mode == "ab" and log_path.exists() else 0
        with open(log_path, mode) as log:
            self._proc = subprocess.Popen(
                [*prefix, *command, str(props_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=directory,
                start_new_session=True,  # own process group: stop() signals all of it
            )
        bootstrap = f"127.0.0.1:{port}"
        state: BrokerState = {
            "bootstrap": bootstrap,
            "pid": self._proc.pid,
            "controller_port": controller_port,
            "ready": False,
        }
        _write_state(directory, state)  # lets `stop` find a half-started JVM
        try:
            self._wait_ready(log_path, port, bootstrap, offset)
        except BaseException:
            self._kill_failed()
            raise
        _write_state(directory, {**state, "ready": True})
        self.bootstrap, self.controller_port = bootstrap, controller_port
        return bootstrap

    def _wait_ready(self, log_path: Path, port: int, bootstrap: str, offset: int = 0) -> None:
        """Wait for the ready log line (after ``offset``), an open port and served metadata."""
        assert self._proc is not None
        deadline = time.monotonic() + self.ready_timeout
        seen_ready = False
        carry = b""
        while time.monotonic() < deadline:
            if not seen_ready:
                with open(log_path, "rb") as log:
                    log.seek(offset)
                    chunk = log.read()
                offset += len(chunk)
                text = carry + chunk
                seen_ready = READY_LINE.encode() in text
                carry = text[-len(READY_LINE) :]
                if b"BindException" in text or b"Address already in use" in text:
                    raise _PortTakenError()
            if self._proc.poll() is not None:
                raise BrokerError(
                    f"broker exited with code {self._proc.returncode} before it was ready; "
                    f"tail of {log_path}:\n{_log_tail(log_path)}"
                )
            if seen_ready and _tcp_ok(port) and _metadata_ok(bootstrap) is not False:
                return
            time.sleep(0.2)
        raise BrokerError(
            f"broker not ready after {self.ready_timeout:g}s; tail of {log_path}:\n"
            + _log_tail(log_path)
        )

    def _kill_failed(self) -> None:
        """Kill a broker that did not come up and forget it."""
        if self._proc is not None:
            _terminate(self._proc.pid, timeout=5, popen=self._proc)
            self._proc = None
        if self.directory is not None:
            (self.directory / STATE_FILE).unlink(missing_ok=True)

    def stop(self, timeout: float = 30.0, *, kill: bool = False) -> None:
        """Stop the broker: SIGTERM its process group, SIGKILL after timeout seconds.

        ``kill=True`` sends SIGKILL at once (a crash: no controlled shutdown, unflushed log
        segments recovered at the next start). The data directory and the ports are kept, so
        :meth:`restart` brings the same broker back.
        """
        if self._proc is None:
            return
        if kill:
            _signal_group(self._proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=30)
        else:
            _terminate(self._proc.pid, timeout, popen=self._proc)
        self._proc = None
        if self.directory is not None:
            (self.directory / STATE_FILE).unlink(missing_ok=True)

    @property
    def running(self) -> bool:
        """Whether the broker process started by this object is alive."""
        return self._proc is not None and self._proc.poll() is None

    def restart(self, attempts: int = 20) -> str:
        """Start a stopped broker again on the same data directory and ports.

        Retries while the old ports are still held by the dying process (a port in TIME_WAIT
        or a JVM that has not exited yet); returns the same bootstrap address as before.
        """
        if self._proc is not None:
            raise BrokerError("the broker is still running; stop it first")
        if self.directory is None or self.bootstrap is None or self.controller_port is None:
            raise BrokerError("restart() needs a broker that was started by this object")
        port = int(self.bootstrap.rsplit(":", 1)[1])
        libs = fetch(self.version)
        for attempt in range(1, attempts + 1):
            try:
                return self._launch(self.directory, libs, port, self.controller_port, "ab")
            except _PortTakenError:
                if attempt == attempts:
                    raise BrokerError(
                        "broker could not bind its old ports again:\n"
                        + _log_tail(self.directory / LOG_FILE)
                    ) from None
                time.sleep(1.0)
        raise AssertionError("unreachable")

    def restart_dir(self, directory: str | Path) -> str:
        """Restart the broker that ``stop --dir`` stopped in ``directory`` (CLI use)."""
        directory = Path(directory).resolve()
        try:
            state = json.loads((directory / STOPPED_FILE).read_text())
        except (OSError, ValueError):
            raise BrokerError(f"no stopped broker recorded in {directory}") from None
        self.directory = directory
        self.bootstrap = str(state["bootstrap"])
        self.controller_port = int(state["controller_port"])
        return self.restart()

    def __enter__(self) -> KafkaBroker:
        """Return self; call start(dir) inside the with block (or before it)."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the broker."""
        self.stop()


class _PortTakenError(Exception):
    """The picked ports were taken before the broker bound them; retry with new ones."""


class BrokerState(TypedDict):
    """Content of DIR/broker.json."""

    bootstrap: str
    pid: int
    controller_port: int
    ready: bool


def _write_state(directory: Path, state: BrokerState) -> None:
    """Atomically write DIR/broker.json."""
    tmp = directory / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=1) + "\n")
    tmp.replace(directory / STATE_FILE)


def read_state(directory: str | Path) -> BrokerState | None:
    """Return the content of DIR/broker.json, or None if absent or unreadable."""
    try:
        state = json.loads((Path(directory) / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or not isinstance(state.get("pid"), int):
        return None
    return BrokerState(
        bootstrap=str(state.get("bootstrap", "")),
        pid=state["pid"],
        controller_port=int(state.get("controller_port", 0)),
        ready=bool(state.get("ready", True)),
    )


def stop_dir(directory: str | Path, timeout: float = 30.0, *, kill: bool = False) -> bool:
    """Stop the broker recorded in DIR/broker.json; return False if none was running.

    The ports are remembered in DIR/stopped.json, so ``restart`` can bring it back.
    """
    directory = Path(directory).resolve()
    state = read_state(directory)
    if state is None:
        return False
    pid = state["pid"]
    stopped = False
    if _pid_alive(pid) and _is_our_broker(pid, directory / "server.properties"):
        if kill:
            _signal_group(pid, signal.SIGKILL)
        else:
            _terminate(pid, timeout)
        stopped = True
    (directory / STOPPED_FILE).write_text(json.dumps(state) + "\n")
    (directory / STATE_FILE).unlink(missing_ok=True)
    return stopped


# ---------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fetch / start / stop command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kafka-version", default=KAFKA_VERSION, help="default %(default)s")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="assemble the broker jars in the user cache; print the libs dir")
    start = sub.add_parser("start", help="start a broker in DIR; print its bootstrap address")
    start.add_argument("--dir", required=True, type=Path)
    start.add_argument("--timeout", type=float, default=120.0, help="readiness timeout (s)")
    stop = sub.add_parser("stop", help="stop the broker started in DIR")
    stop.add_argument("--dir", required=True, type=Path)
    stop.add_argument("--timeout", type=float, default=30.0, help="SIGTERM grace period (s)")
    stop.add_argument("--kill", action="store_true", help="SIGKILL at once (a crash)")
    restart = sub.add_parser("restart", help="start a stopped broker again (same data, ports)")
    restart.add_argument("--dir", required=True, type=Path)
    restart.add_argument("--timeout", type=float, default=120.0, help="readiness timeout (s)")
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            print(fetch(args.kafka_version))
        elif args.command == "start":
            broker = KafkaBroker(
                args.kafka_version, ready_timeout=args.timeout, die_with_parent=False
            )
            print(broker.start(args.dir), flush=True)
        elif args.command == "restart":
            broker = KafkaBroker(
                args.kafka_version, ready_timeout=args.timeout, die_with_parent=False
            )
            print(broker.restart_dir(args.dir), flush=True)
        elif not stop_dir(args.dir, args.timeout, kill=args.kill):
            print(f"no running broker recorded in {args.dir}", file=sys.stderr)
    except BrokerError as exc:
        print(f"kafka_broker: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
