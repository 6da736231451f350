"""The prequential backtest: budget adherence, baseline, label delay, CSV and HTML outputs."""

from __future__ import annotations

import csv
import json
import math
from html.parser import HTMLParser
from typing import ClassVar

import pytest

from daemon.tools import backtest as sim
from daemon.tools.report import render
from daemon.tools.simulate import write_outputs
from daemon.tools.streams import StreamError, open_stream, population_shares, read_history
from policies import Decision, ItemView, Reason


class AlwaysQuery:
    """A chooser that asks for every item (or only for the listed item keys)."""

    def __init__(self, keys=None):
        self.keys = keys
        self.committed = []

    def decide(self, item: ItemView, now: float) -> Decision:
        query = self.keys is None or item.key in self.keys
        return Decision(
            query=query,
            reason=Reason.UNCERTAIN if query else Reason.CONFIDENT,
            probability=1.0,
            utility=1.0,
        )

    def commit(self, decision: Decision, item: ItemView, now: float) -> None:
        self.committed.append(item.key)


def test_overshoot_is_flagged_without_the_cap():
    """A policy that queries everything is recorded as over budget when no cap refuses it."""
    stream = open_stream("stationary", 400, 0)
    run = sim.run_one(stream, AlwaysQuery(), policy="greedy", budget=0.05, seed=0, hard_cap=False)
    assert run.labels_allowed == 20
    assert run.labels_spent == 400
    assert not run.within_budget
    assert run.label_fraction == 1.0


def test_hard_cap_refuses_beyond_the_allowance_and_is_not_charged():
    """With the cap, spend stops at floor(budget*items) and refused queries are never committed."""
    stream = open_stream("stationary", 400, 0)
    chooser = AlwaysQuery()
    run = sim.run_one(stream, chooser, policy="greedy", budget=0.05, seed=0)
    assert run.labels_spent == run.labels_allowed == 20
    assert run.within_budget
    assert chooser.committed == [str(i) for i in range(20)]


def test_random_baseline_runs_at_every_budget_and_seed():
    """Random sampling is always added, once per (budget, seed), even when not asked for."""
    runs = sim.simulate(
        lambda s: open_stream("sea-drift", 300, s),
        ["variable_uncertainty"],
        budgets=[0.05, 0.1],
        seeds=[0, 1],
    )
    cells = {(r.policy, r.budget, r.seed) for r in runs}
    assert len(runs) == len(cells) == 8
    for budget in (0.05, 0.1):
        for seed in (0, 1):
            assert ("random", budget, seed) in cells
    assert sim.resolve_policies([]) == ["random"]
    assert sim.resolve_policies(["variable_uncertainty", "random"]) == [
        "random",
        "variable_uncertainty",
    ]


def test_unknown_policy_and_bad_budget_are_rejected():
    """Unknown policy names and budgets outside (0, 1] raise a labelgate error."""
    with pytest.raises(sim.SimulationError, match="unknown policy"):
        sim.resolve_policies(["nope"])
    with pytest.raises(sim.SimulationError, match="budget"):
        sim.simulate(lambda s: open_stream("stationary", 10, s), [], budgets=[1.5], seeds=[0])


@pytest.mark.parametrize("delay", [0, 7])
def test_label_is_learned_only_after_delay_items(monkeypatch, delay):
    """The label of item i reaches the model after item i+delay is scored, never earlier."""
    learned = []

    class SpyLearner(sim.Learner):
        scored = 0

        def score(self, features, group=None):
            self.scored += 1
            return super().score(features, group)

        def learn(self, features, label, group=None):
            learned.append((features["x0"], self.scored))
            super().learn(features, label, group)

    monkeypatch.setattr(sim, "Learner", SpyLearner)
    stream = open_stream("minority-concept", 60, 3)
    x0 = [ex.features["x0"] for ex in stream]
    queried = [0, 5, 17, 55]
    sim.run_one(
        stream,
        AlwaysQuery({str(i) for i in queried}),
        policy="spy",
        budget=1.0,
        seed=0,
        label_delay=delay,
    )
    expected = [(x0[i], i + delay + 1) for i in queried if i + delay < 60]
    assert learned == expected


def test_budget_and_delay_are_validated():
    """A negative label delay is refused."""
    with pytest.raises(sim.SimulationError):
        sim.run_one(
            open_stream("stationary", 10, 0),
            AlwaysQuery(),
            policy="x",
            budget=0.1,
            seed=0,
            label_delay=-1,
        )


def test_registered_policies_stay_within_budget():
    """Every preset honours its budget on a drifting stream (cap off: own pacing)."""
    stream = open_stream("hyperplane-drift", 3000, 0)
    for name, factory in sim.presets().items():
        run = sim.run_one(
            stream, factory(0.05, 0), policy=name, budget=0.05, seed=0, hard_cap=False
        )
        # The window pacing may run a few labels over floor(b*n); the cap removes that.
        assert run.labels_spent <= 1.15 * 0.05 * 3000, (name, run.labels_spent)
        assert run.labels_spent >= 0.5 * 0.05 * 3000, (name, run.labels_spent)


class _Checker(HTMLParser):
    VOID: ClassVar[set[str]] = {
        "meta",
        "br",
        "img",
        "hr",
        "input",
        "link",
        "line",
        "rect",
        "polyline",
    }

    def __init__(self):
        super().__init__()
        self.stack, self.tags, self.text, self.errors = [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def test_html_report_is_well_formed_with_svgs_and_policy_names():
    """The report parses with balanced tags, has three SVG charts per budget and names policies."""
    runs = sim.simulate(
        lambda s: open_stream("minority-concept", 400, s),
        ["variable_uncertainty"],
        budgets=[0.05, 0.2],
        seeds=[0],
    )
    stream = open_stream("minority-concept", 400, 0)
    page = render(runs, stream.info, population_shares(stream), "labelgate simulate ...")
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert not checker.errors
    assert not checker.stack
    assert checker.tags.count("svg") == 3 * 2
    assert "polyline" in checker.tags
    assert "rect" in checker.tags
    text = " ".join(checker.text)
    for name in ("random", "variable_uncertainty", "segment=minority"):
        assert name in text
    assert "<script" not in page
    assert "http://" not in page.replace("http://www.w3.org", "")


def test_csv_has_one_row_per_run_and_the_documented_columns(tmp_path):
    """results.csv has the fixed columns plus per-subgroup share and accuracy, one row per run."""
    stream_for = lambda s: open_stream("minority-concept", 300, s)  # noqa: E731
    runs = sim.simulate(stream_for, ["variable_uncertainty"], budgets=[0.1], seeds=[0, 1])
    results, report = write_outputs(tmp_path, runs, stream_for(0), "cmd")
    with results.open() as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
    assert reader.fieldnames == [
        *sim.CSV_COLUMNS,
        "query_share[segment=majority]",
        "accuracy[segment=majority]",
        "query_share[segment=minority]",
        "accuracy[segment=minority]",
    ]
    assert len(rows) == 4
    for row in rows:
        shares = float(row["query_share[segment=majority]"]) + float(
            row["query_share[segment=minority]"]
        )
        assert math.isclose(shares, 1.0, abs_tol=1e-5)
        assert row["within_budget"] == "True"
        assert int(row["labels_spent"]) <= int(row["labels_allowed"]) == 30
    assert report.read_text().startswith("<!DOCTYPE html>")


def test_builtin_streams_are_deterministic_by_seed():
    """Same name and seed give the same items; another seed gives other items."""
    for name in ("hyperplane-drift", "sea-drift", "imbalanced", "multiclass"):
        a = list(open_stream(name, 50, 1))
        assert a == list(open_stream(name, 50, 1))
        assert a != list(open_stream(name, 50, 2))
        assert len(a) == 50
    with pytest.raises(StreamError):
        open_stream("nope")


def test_history_files_jsonl_and_csv(tmp_path):
    """Labeled history is read from JSONL events, flat JSONL and CSV with group columns."""
    events = tmp_path / "h.jsonl"
    events.write_text(
        json.dumps(
            {"id": "a", "features": {"x": 1.0, "c": "u"}, "group": {"region": "EU"}, "label": "yes"}
        )
        + "\n\n"
        + json.dumps({"id": "b", "features": {"x": 2.0, "c": "v"}, "label": "no"})
        + "\n"
    )
    s = read_history(events)
    assert s.info.classes == ("no", "yes")
    assert s.info.n == 2
    first = next(iter(s))
    assert first.features == {"x": 1.0, "c": "u"}
    assert first.group == {"region": "EU"}

    flat = tmp_path / "f.jsonl"
    flat.write_text(
        json.dumps({"x": 1, "y": True, "seg": "a"})
        + "\n"
        + json.dumps({"x": 2, "y": False, "seg": "b"})
        + "\n"
    )
    ex = next(iter(read_history(flat, "y", ["seg"])))
    assert ex == ({"x": 1}, "1", {"seg": "a"}, None, None)

    table = tmp_path / "t.csv"
    table.write_text("x,kind,target,region\n1.5,a,pos,EU\n2,b,neg,US\n")
    rows = list(read_history(table, "target", ["region"]))
    assert rows[0] == ({"x": 1.5, "kind": "a"}, "pos", {"region": "EU"}, None, None)
    with pytest.raises(StreamError, match="no column"):
        list(read_history(table, "missing"))
