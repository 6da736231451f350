#!/usr/bin/env python3
"""Profile the daemon on the real broker with py-spy and print where its main thread's time goes.

Produces ``--items`` predictions to a fresh topic, runs ``labelgate run`` under
``py-spy record --format raw`` (collapsed stacks) until every item is processed, then prints the
inclusive share of the main thread's samples for each labelgate function (and the top
self-time frames). ``pip install py-spy`` first; it needs ptrace (root or CAP_SYS_PTRACE).

    python bench/profile.py --bootstrap 127.0.0.1:9092 --items 200000
"""

from __future__ import annotations

import argparse
import collections
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import throughput as tp


def summarise(path: Path, top: int) -> str:
    """Inclusive and self shares per frame of the main thread, from py-spy's collapsed stacks."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or "MainThread" not in stack.split(";", 1)[0]:
            continue
        n = int(count)
        total += n
        frames = [
            f.split(" (", 1)[0] + " (" + f.split(" (", 1)[1].split(":")[0] + ")" if " (" in f else f
            for f in stack.split(";")[1:]
        ]
        for frame in set(frames):
            inclusive[frame] += n
        if frames:
            own[frames[-1]] += n
    lines = [f"main-thread samples: {total}", "", "inclusive (labelgate, policies, connectors):"]
    ours = ("daemon/", "policies/", "connectors/")
    for frame, n in inclusive.most_common():
        if any(o in frame for o in ours) and n / total >= 0.005:
            lines.append(f"  {n / total:6.1%}  {frame}")
    lines += ["", f"top {top} self time:"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in own.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the profile and print the summary."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--bootstrap", required=True, help="a running broker")
    p.add_argument("--items", type=int, default=200_000)
    p.add_argument("--partitions", type=int, default=3)
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--out", type=Path, default=Path("profile.txt"), help="collapsed stacks")
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="labelgate-profile-") as tmp:
        work = Path(tmp)
        stream = tp.Stream(args.items, work)
        topics = tp.create_topics(args.bootstrap, args.partitions)
        try:
            tp.produce(args.bootstrap, topics["predictions"], stream)
            daemon = tp.DaemonProcess(args.bootstrap, topics, work, 1800.0)
            daemon.start()
            spy = subprocess.Popen(
                [
                    "py-spy",
                    "record",
                    "--pid",
                    str(daemon.pid),
                    "--format",
                    "raw",
                    "--rate",
                    str(args.rate),
                    "--output",
                    str(args.out),
                    "--threads",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                started = time.monotonic()
                daemon.watch(args.items)
                print(
                    f"{args.items / (time.monotonic() - started):,.0f} items/s under py-spy",
                    file=sys.stderr,
                )
            finally:
                spy.send_signal(signal.SIGINT)
                spy.wait(60)
                daemon.stop()
        finally:
            tp.delete_topics(args.bootstrap, topics)
    print(summarise(args.out, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
