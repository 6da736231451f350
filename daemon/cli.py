"""The ``labelgate`` command line: run, bridge, demo, simulate, evidence, check-config, schema."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from daemon.config import Settings, load_settings
from daemon.contracts.messages import CONTRACTS
from daemon.errors import (
    ERRORS,
    ConfigError,
    ConnectorError,
    EncodingError,
    LabelgateError,
    ServerError,
    StateError,
)
from daemon.service.logs import configure_logging
from daemon.tools.evidence_queries import add_parser as add_evidence_parser

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_CONFIG = 2
EXIT_STATE = 3
EXIT_IO = 4
EXIT_SERVER = 5
EXIT_INTERRUPTED = 130

EXIT_CODES: tuple[tuple[type[Exception], int], ...] = (
    (ConfigError, EXIT_CONFIG),
    (StateError, EXIT_STATE),
    (ConnectorError, EXIT_IO),
    (ServerError, EXIT_SERVER),
    (EncodingError, EXIT_INTERNAL),  # labelgate produced a NaN: a bug, not the user's input
    (LabelgateError, EXIT_CONFIG),  # the commands' own argument errors (simulate, evidence)
)
"""Error family -> exit status, first match wins (documented in ``--help`` and the README)."""

EPILOG = """\
exit status:
  0    success (run: stopped by SIGTERM/SIGINT or the end of a file source)
  1    internal error (an unexpected exception, with a traceback: a bug, please report it)
  2    usage or configuration error (invalid setting, unknown kafka.extra property,
       bad arguments to simulate or evidence)
  3    state error (state_dir not writable, checkpoint or state log unreadable)
  4    input/output unavailable (broker unreachable, topic missing, file unreadable,
       output not delivered)
  5    ops server cannot start (server.port in use or not bindable)
  130  interrupted (second SIGINT)
Except for 1, errors are reported without a traceback as "labelgate: error: <setting>: <reason>"
(an invalid config file: one line per problem).
"""


def exit_code(error: Exception) -> int:
    """The exit status for an error raised on purpose (see :data:`EXIT_CODES`)."""
    return next((code for kind, code in EXIT_CODES if isinstance(error, kind)), EXIT_CONFIG)


def _cmd_run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    configure_logging(settings.log_level, settings.log_format)
    warmup = None
    if settings.source == "kafka":
        # The broker round trips of the start-up run on a thread while the service is imported.
        from daemon.service.warmup import KafkaWarmup  # noqa: PLC0415 - loads confluent_kafka

        warmup = KafkaWarmup(settings).start()
    from daemon.service.app import serve  # noqa: PLC0415 - keep `labelgate schema` light

    serve(settings, warmup=warmup)
    return 0


def _cmd_bridge(args: argparse.Namespace) -> int:
    from daemon.bridge.app import serve_bridge  # noqa: PLC0415 - only the bridge needs it

    settings = load_settings(args.config)
    configure_logging(settings.log_level, settings.log_format)
    serve_bridge(settings, args.queue)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from daemon.tools.demo import run_demo  # noqa: PLC0415 - only the demo needs the replay generator

    configure_logging("error", "console")
    run_demo(Path(args.out), items=args.items, fraction=args.budget, delay=args.delay)
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from daemon.tools.simulate import run  # noqa: PLC0415 - only the backtest needs the report code

    return run(args)


def _cmd_check_config(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    if settings.source == "kafka":
        from daemon.service.preflight import (  # noqa: PLC0415 - loads confluent_kafka
            check_kafka_properties,
        )

        check_kafka_properties(settings)
    json.dump(settings.masked(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write(f"\n# config OK, hash {settings.fingerprint()}\n")
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    names = [args.name] if args.name else [*CONTRACTS, "config"]
    schemas = {}
    for name in names:
        if name == "config":
            schemas[name] = Settings.model_json_schema(by_alias=True)
        else:
            schemas[name] = CONTRACTS[name].model_json_schema()
    doc = schemas[names[0]] if args.name else schemas
    json.dump(doc, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


def _simulate_arguments(p: argparse.ArgumentParser) -> None:
    from daemon.tools.simulate import add_arguments  # noqa: PLC0415 - see _cmd_simulate

    add_arguments(p)


def parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs).

    With ``command`` (the subcommand about to run) the simulate subcommand gets its arguments
    only when it is the one: they come from the backtest's module, which imports River's
    metrics and scipy.stats (seconds of start-up ``labelgate run`` does not need).
    """
    p = argparse.ArgumentParser(
        prog="labelgate",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="run the daemon",
        description="Run the daemon. Startup checks state_dir, the Kafka properties, the broker, "
        "the topics (or the files) and the ops port before anything is consumed.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--config", type=Path, required=False, help="YAML config file")
    run.set_defaults(func=_cmd_run)
    bridge = sub.add_parser("bridge", help="run a bridge to an annotation tool")
    tools = bridge.add_subparsers(dest="tool", required=True)
    label_studio = tools.add_parser(
        "label-studio", help="label requests become Label Studio tasks, answers label events"
    )
    label_studio.add_argument("--config", type=Path, required=False, help="YAML config file")
    label_studio.add_argument(
        "--queue", default=None, help="queue to bridge (default: the one with label_studio)"
    )
    label_studio.set_defaults(func=_cmd_bridge)
    demo = sub.add_parser("demo", help="run on the bundled replay with a simulated expert")
    demo.add_argument("--out", default="run/demo", help="working directory for outputs")
    demo.add_argument("--items", type=int, default=20_000)
    demo.add_argument("--budget", type=float, default=0.05, help="share of items to label")
    demo.add_argument(
        "--delay", type=float, default=1800.0, help="expert answer delay in seconds of event time"
    )
    demo.set_defaults(func=_cmd_demo)
    simulate = sub.add_parser("simulate", help="backtest policies on a labeled stream or file")
    if command is None or command == "simulate":
        _simulate_arguments(simulate)
    simulate.set_defaults(func=_cmd_simulate)
    add_evidence_parser(sub)
    check = sub.add_parser(
        "check-config",
        help="validate a config file and print it, masked",
        description="Validate a config file (for source kafka also every librdkafka property) "
        "and print the effective configuration with secrets masked.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("config", type=Path)
    check.set_defaults(func=_cmd_check_config)
    schema = sub.add_parser("schema", help="print the JSON Schemas of the messages and config")
    schema.add_argument("name", nargs="?", choices=[*CONTRACTS, "config"])
    schema.set_defaults(func=_cmd_schema)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; the only place that turns errors into exit codes."""
    given = sys.argv[1:] if argv is None else argv
    command = next((a for a in given if not a.startswith("-")), None)
    args = parser(command).parse_args(given)
    try:
        return int(args.func(args))
    except ERRORS as exc:
        sys.stderr.write(f"labelgate: error: {exc}\n")
        return exit_code(exc)
    except KeyboardInterrupt:
        sys.stderr.write("labelgate: interrupted\n")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
