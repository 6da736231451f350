"""Feedback-loop and sampling-bias statistics, checked against independent computations."""

from __future__ import annotations

import math
import random
import re
import statistics
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

from daemon.monitoring.drift import DriftMonitor
from daemon.monitoring.estimates import ErrorEstimates
from daemon.monitoring.feedback import FeedbackMonitor
from daemon.monitoring.shift import ShiftMonitor, jensen_shannon, psi
from daemon.monitoring.subgroups import OTHER, SubgroupMonitor


def test_starved_subgroup_has_low_representation_ratio():
    """A policy that rarely queries subgroup B drives B's representation ratio below 0.5."""
    rng = random.Random(3)
    monitor = SubgroupMonitor(window=4000)
    log = []
    for _ in range(10_000):
        group = "A" if rng.random() < 0.6 else "B"
        queried = rng.random() < (0.10 if group == "A" else 0.02)
        monitor.observe({"segment": group}, queried)
        log.append((group, queried))
    window = log[-4000:]
    queries = [g for g, q in window if q]
    expected = {}
    for g in ("A", "B"):
        population = sum(1 for x, _ in window if x == g) / len(window)
        expected[g] = (queries.count(g) / len(queries)) / population
    got = {s.group: s.representation_ratio for s in monitor.shares()}
    assert got == pytest.approx(expected)
    assert got["B"] < 0.5 < 1.0 < got["A"]
    disparity = SubgroupMonitor.disparity(monitor.shares())["segment"]
    rates = {  # Laplace-smoothed selection rates, as docs/metrics.md defines them
        g: (sum(1 for x, q in window if x == g and q) + 1)
        / (sum(1 for x, _ in window if x == g) + 2)
        for g in ("A", "B")
    }
    assert disparity == pytest.approx(rates["A"] / rates["B"])


def test_subgroup_cardinality_is_bounded():
    """10,000 distinct subgroup values fold into top-K series plus 'other'."""
    monitor = SubgroupMonitor(window=1000, top_k=5)
    for i in range(10_000):
        monitor.observe({"customer": f"c{i}", "region": "EU"}, queried=i % 7 == 0)
    series = set(monitor.items_total)
    assert len([k for k in series if k[0] == "customer"]) == 6
    assert ("customer", OTHER) in series
    assert monitor.items_total[("customer", OTHER)] == 10_000 - 5
    monitor2 = SubgroupMonitor(window=100, max_attributes=2)
    for i in range(50):
        monitor2.observe({f"attr{i}": "x"}, queried=False)
    assert len({a for a, _ in monitor2.items_total}) == 2


def _numpy_psi(stream: np.ndarray, labeled: np.ndarray, edges: np.ndarray) -> float:
    bins = np.concatenate(([-np.inf], edges, [np.inf]))
    s = np.histogram(stream, bins)[0] / len(stream)
    lab = np.histogram(labeled, bins)[0] / len(labeled)
    s, lab = np.maximum(s, 1e-4), np.maximum(lab, 1e-4)
    return float(np.sum((lab - s) * np.log(lab / s)))


@pytest.mark.parametrize(("shift", "low", "high"), [(0.0, 0.0, 0.1), (0.4, 0.2, math.inf)])
def test_labeled_covariate_shift_moves_psi(shift, low, high):
    """A shifted labeled set raises PSI above 0.2; an unshifted one stays below 0.1."""
    rng = np.random.default_rng(11)
    stream = rng.uniform(0, 1, 5000)
    labeled = rng.uniform(0, 1, 1000) + shift
    monitor = ShiftMonitor(features=["x"], bins=10, window=5000, warmup=500)
    for v in stream:
        monitor.observe_stream(0.5, {"x": float(v)})
    for v in labeled:
        monitor.observe_labeled(0.5, {"x": float(v)})
    got_psi, got_js = monitor.compute()["x"]
    warm = np.sort(stream[:500])
    edges = np.unique([warm[500 * i // 10] for i in range(1, 10)])
    expected = _numpy_psi(stream, labeled, edges)
    assert got_psi == pytest.approx(expected, rel=1e-6)
    assert low <= got_psi < high
    assert 0.0 <= got_js <= 1.0


def test_psi_and_js_basic_properties():
    """PSI and JS are zero for identical distributions and JS is symmetric and bounded."""
    p, q = [0.2, 0.3, 0.5], [0.5, 0.3, 0.2]
    assert psi(p, p) == pytest.approx(0.0)
    assert jensen_shannon(p, q) == pytest.approx(jensen_shannon(q, p))
    assert 0 < jensen_shannon(p, q) <= 1


def test_abrupt_concept_change_detected_within_bounded_labels():
    """ADWIN on oracle-vs-production disagreement flags an abrupt change within 300 labels."""
    rng = random.Random(5)
    monitor = DriftMonitor(delta=0.002)
    before = [monitor.observe_disagreement(rng.random() < 0.1) for _ in range(3000)]
    assert not any(before), "no false alarm on a stationary error rate"
    after = [monitor.observe_disagreement(rng.random() < 0.5) for _ in range(1000)]
    assert any(after)
    assert after.index(True) < 300
    assert monitor.detections["oracle_disagreement"] >= 1


def test_ipw_error_is_unbiased_where_naive_is_not():
    """Uncertainty-driven sampling over-samples hard items: naive error is biased, IPW is not."""
    rng = random.Random(17)
    estimates = ErrorEstimates(window=100_000)
    errors = []
    b = 0.05
    for _ in range(60_000):
        margin = rng.random()  # 0 = on the boundary, 1 = confident
        wrong = rng.random() < 0.45 * (1 - margin) ** 2
        errors.append(wrong)
        p = b / (b + margin)  # selective sampling: hard items far more likely to be asked
        if rng.random() < p:
            estimates.add(wrong, probability=p, confidence=0.5 + margin / 2, audit=False)
    true_error = sum(errors) / len(errors)
    got = estimates.compute()
    assert got["naive"].error_rate > true_error * 1.5, "naive over-states the error"
    assert got["ipw"].error_rate == pytest.approx(true_error, abs=0.02)
    ess = estimates.effective_sample_size()
    assert 0 < ess < got["ipw"].n, "weights reduce the effective sample size"
    assert "audit" not in got


def test_audit_estimate_uses_only_audit_labels():
    """The audit estimator sees only labels from the random audit slice."""
    estimates = ErrorEstimates(window=100)
    for i in range(20):
        estimates.add(error=i < 15, probability=1.0, confidence=None, audit=False)
    for i in range(10):
        estimates.add(error=i < 2, probability=0.1, confidence=None, audit=True)
    got = estimates.compute()
    assert got["audit"].error_rate == pytest.approx(0.2)
    assert got["audit"].n == 10
    assert got["naive"].error_rate == pytest.approx(17 / 30)
    assert got["naive"].calibration_error is None


def test_top_k_are_the_most_frequent_values_not_the_first_seen():
    """Rare values seen first do not take the top-K series from frequent values seen later."""
    monitor = SubgroupMonitor(window=2000, top_k=2)
    for i in range(5):
        monitor.observe({"region": f"rare{i}"}, queried=True)
    for i in range(1000):
        monitor.observe({"region": "EU" if i % 3 else "US"}, queried=i % 10 == 0)
    window = {s.group: s for s in monitor.shares()}
    assert set(window) == {"EU", "US", OTHER}
    assert window[OTHER].items == 5
    assert window[OTHER].queries == 5
    totals = monitor.items_total
    assert totals[("region", "EU")] == 666
    assert totals[("region", "US")] == 334
    assert totals[("region", OTHER)] == 5
    assert monitor.queries_total[("region", OTHER)] == 5


def test_disparity_is_finite_when_a_group_gets_no_queries():
    """A group with no queries gives a finite, documented disparity; small groups and other
    are left out."""
    monitor = SubgroupMonitor(window=1000, top_k=3)
    for i in range(300):
        monitor.observe({"region": "A"}, queried=i % 10 == 0)
        monitor.observe({"region": "B"}, queried=False)
    for _ in range(10):
        monitor.observe({"region": "tiny"}, queried=False)
    got = SubgroupMonitor.disparity(monitor.shares())
    assert got == {"region": pytest.approx((31 / 302) / (1 / 302))}
    assert math.isfinite(got["region"])


def test_shift_windows_cover_the_same_period():
    """Labels that arrived before the last ``window`` streamed items leave the labeled histogram."""
    monitor = ShiftMonitor(features=[], bins=10, window=1000, min_labeled=50)
    for i in range(1000):
        monitor.observe_stream(0.1, {})
        if i < 100:
            monitor.observe_labeled(0.45, {})  # early labels: very uncertain
    assert monitor.compute()["uncertainty"][0] > 1.0
    for i in range(1000):
        monitor.observe_stream(0.1, {})
        if i % 10 == 0:
            monitor.observe_labeled(0.1, {})  # labels of this period: like the stream
    got_psi, got_js = monitor.compute()["uncertainty"]
    assert got_psi == pytest.approx(0.0)
    assert got_js == pytest.approx(0.0)


def test_cold_start_does_not_feed_uncertainty_statistics():
    """Cold-start decisions (a forced utility of 1.0) feed neither the uncertainty histogram
    nor the uncertainty drift detector; their features still count."""
    monitor = FeedbackMonitor(window=100, shift_features=["x"], shift_warmup=10, classes=2)
    for i in range(20):
        monitor.observe_item({}, True, 1.0, {"x": float(i)}, reason="cold_start")
    tracked = monitor.shift._tracked
    assert not tracked["uncertainty"].stream.recent
    assert len(tracked["x"].stream.recent) == 20
    assert monitor.drift._uncertainty.n_detections == 0
    assert monitor.drift._uncertainty.width == 0


def test_uncertainty_bins_span_the_range_of_least_confidence():
    """With two classes least confidence is at most 0.5: the bins cover [0, 0.5], none wasted."""
    monitor = FeedbackMonitor(window=1000, classes=2)
    assert monitor.shift._tracked["uncertainty"].edges == pytest.approx(
        [0.05 * i for i in range(1, 10)]
    )


def test_model_updates_count_trained_labels_by_who_gave_them():
    """Audit labels never count as model updates; a consensus is human if a human agreed."""
    monitor = FeedbackMonitor(non_human_roles=frozenset({"llm"}))
    common = {
        "label": "a",
        "production_prediction": "a",
        "production_confidence": 0.9,
        "probability": 0.5,
        "uncertainty": 0.2,
        "features": {},
    }
    monitor.observe_label(reason="uncertain", roles=("llm", "expert"), **common)
    monitor.observe_label(reason="uncertain", roles=("llm",), **common)
    monitor.observe_label(reason="audit", roles=("llm",), trained=False, **common)
    assert dict(monitor.model_updates) == {"human": 1, "non_human": 1}


def test_audit_estimate_defaults_to_audit_labels_only():
    """Exploration labels (reason random) count in naive and IPW, not in the audit estimate."""
    monitor = FeedbackMonitor()
    common = {"production_confidence": None, "uncertainty": 0.2, "features": {}}
    for i in range(10):
        monitor.observe_label(
            label="a",
            production_prediction="b" if i < 5 else "a",
            probability=0.1,
            reason="random",
            **common,
        )
        monitor.observe_label(
            label="a",
            production_prediction="b" if i < 1 else "a",
            probability=0.1,
            reason="audit",
            trained=False,
            **common,
        )
    got = monitor.estimates.compute()
    assert (got["audit"].n, got["audit"].error_rate) == (10, pytest.approx(0.1))
    assert got["naive"].n == 20


# ------------------------------------------------------------------ recomputed from the records
# Every exported feedback metric of the biased replay run, recomputed from its evidence records
# (decisions and labels, in the order the daemon wrote them) and the prediction inputs, by code
# written from docs/metrics.md rather than by calling the monitors.


def _recompute_psi_js(stream: list[float], labeled: list[float], edges: list[float]):
    def shares(values):
        counts = [0] * (len(edges) + 1)
        for v in values:
            counts[sum(v >= e for e in edges)] += 1
        return [c / len(values) for c in counts]

    s, lab = shares(stream), shares(labeled)
    psi_value = sum(
        (max(a, 1e-4) - max(e, 1e-4)) * math.log(max(a, 1e-4) / max(e, 1e-4))
        for e, a in zip(s, lab, strict=True)
    )
    m = [(a + b) / 2 for a, b in zip(s, lab, strict=True)]

    def kl(p, q):
        return sum(x * math.log2(x / y) for x, y in zip(p, q, strict=True) if x > 0)

    return psi_value, math.sqrt((kl(s, m) + kl(lab, m)) / 2)


def test_exported_feedback_metrics_recomputed_from_the_records(biased_run):
    """Subgroup counts and shares, disparity, shift, error and calibration estimates, effective
    sample size, model updates, label outcomes and drift detections all match a recomputation
    from the run's evidence and label records."""
    from river.drift import ADWIN  # noqa: PLC0415 - the reference detector for this test only

    run = biased_run
    window = run.settings.monitoring.window
    top_k = run.settings.monitoring.subgroup_top_k
    decisions, labels, position = [], [], 0
    for r in run.records:
        if r["kind"] == "decision":
            decisions.append(r)
            position += 1
        elif r["kind"] == "label" and r.get("used_for"):
            labels.append((position, r))
    by_id = {d["id"]: d for d in decisions}
    checked: set[str] = set()

    def get(name, labels=None):
        checked.add(name)
        return run.sample(name, labels)

    # Cumulative subgroup counters: the K most frequent values, the rest summed as "other".
    for attribute in ("region", "tier"):
        items, queries = Counter(), Counter()
        for d in decisions:
            items[d["group"][attribute]] += 1
            queries[d["group"][attribute]] += d["query"]
        named = sorted(items, key=lambda v: (-items[v], v))[:top_k]
        for value in named:
            key = {"attribute": attribute, "group": value}
            assert get("labelgate_subgroup_items_total", key) == items[value]
            assert get("labelgate_subgroup_queries_total", key) == queries[value]
        other = {"attribute": attribute, "group": "other"}
        rest = [v for v in items if v not in named]
        assert get("labelgate_subgroup_items_total", other) == (
            sum(items[v] for v in rest) if rest else None
        )

    # Window shares and the smoothed selection-rate disparity, over the last `window` items.
    recent = decisions[-window:]
    n_queries = sum(d["query"] for d in recent)
    for attribute in ("region", "tier"):
        items = Counter(d["group"][attribute] for d in recent)
        queries = Counter(d["group"][attribute] for d in recent if d["query"])
        named = sorted(items, key=lambda v: (-items[v], v))[:top_k]
        groups = {v: (items[v], queries[v]) for v in named}
        rest = [v for v in items if v not in named]
        if rest:
            groups["other"] = (sum(items[v] for v in rest), sum(queries[v] for v in rest))
        for value, (n, q) in groups.items():
            key = {"attribute": attribute, "group": value}
            population, share = n / len(recent), q / n_queries
            assert get("labelgate_subgroup_population_share", key) == pytest.approx(population)
            assert get("labelgate_subgroup_queried_share", key) == pytest.approx(share)
            assert get("labelgate_subgroup_representation_ratio", key) == pytest.approx(
                share / population
            )
        rates = [(q + 1) / (n + 2) for v, (n, q) in groups.items() if v != "other" and n >= 30]
        assert get(
            "labelgate_subgroup_selection_rate_disparity", {"attribute": attribute}
        ) == pytest.approx(max(rates) / min(rates))

    # Shift of the labeled set against the stream over the same period (the last `window`
    # items; labels by arrival), without cold-start uncertainties.
    horizon = len(decisions) - window
    period_labels = [r for pos, r in labels if pos > horizon]
    stream_u = [d["uncertainty"] for d in recent if d["reason"] != "cold_start"]
    labeled_u = [
        by_id[r["id"]]["uncertainty"] for r in period_labels if r["reason"] != "cold_start"
    ]
    edges = [0.5 * i / 10 for i in range(1, 10)]  # two classes: least confidence <= 0.5
    psi_u, js_u = _recompute_psi_js(stream_u, labeled_u, edges)
    assert get("labelgate_labeled_shift_psi", {"feature": "uncertainty"}) == pytest.approx(psi_u)
    assert get("labelgate_labeled_shift_jensen_shannon", {"feature": "uncertainty"}) == (
        pytest.approx(js_u)
    )
    assert psi_u > 0.2, "uncertainty sampling shifts the labeled set"
    xs = [run.predictions[d["id"]]["features"]["x"] for d in decisions]
    warm = sorted(xs[:500])
    x_edges = sorted({warm[500 * i // 10] for i in range(1, 10)})
    psi_x, js_x = _recompute_psi_js(
        xs[-window:], [run.predictions[r["id"]]["features"]["x"] for r in period_labels], x_edges
    )
    assert get("labelgate_labeled_shift_psi", {"feature": "x"}) == pytest.approx(psi_x)
    assert get("labelgate_labeled_shift_jensen_shannon", {"feature": "x"}) == pytest.approx(js_x)

    # Error and calibration, three ways, over the last `window` resolved labels.
    last = [r for _, r in labels][-window:]
    wrong = [float(r["production_prediction"] != r["label"]) for r in last]
    conf = [max(run.predictions[r["id"]]["proba"].values()) for r in last]
    weights = [1.0 / max(r["probability"], 1e-6) for r in last]
    audit = [r["reason"] == "audit" for r in last]
    for name, rows in (
        ("naive", [(1.0, e, c) for e, c in zip(wrong, conf, strict=True)]),
        ("ipw", list(zip(weights, wrong, conf, strict=True))),
        ("audit", [(1.0, e, c) for e, c, a in zip(wrong, conf, audit, strict=True) if a]),
    ):
        total = sum(w for w, _, _ in rows)
        error = sum(w * e for w, e, _ in rows) / total
        assert get("labelgate_error_rate", {"estimator": name}) == pytest.approx(error)
        bins = defaultdict(lambda: [0.0, 0.0, 0.0])
        for w, e, c in rows:
            b = bins[min(9, int(c * 10))]
            b[0] += w * (1 - e)
            b[1] += w * c
            b[2] += w
        ece = sum(abs(a - c) for a, c, _ in bins.values()) / total
        assert get("labelgate_calibration_error", {"estimator": name}) == pytest.approx(ece)
    ess = sum(weights) ** 2 / sum(w * w for w in weights)
    assert get("labelgate_effective_sample_size") == pytest.approx(ess)

    # Every answer that joined a request, in arrival order: what the labeler said is the record's
    # `answer` where the label that stands (its `label`) differs, else its `label`.
    answers = [r for r in run.records if r["kind"] == "label" and r.get("request_id")]
    said = {id(r): r["answer"] if r.get("answer") is not None else r["label"] for r in answers}
    assert {r["resolution"] for r in answers} >= {"escalated", "adjudicated", "majority"}
    assert any(said[id(r)] != r["label"] for r in answers), "an outvoted answer"

    # Agreement: one value per request of an overlapping queue once it holds its labels_required
    # answers (the share equal to the most common one); the mean of the queue's last 500.
    required = {q.name: q.labels_required for q in run.settings.queues}
    given: dict[str, list[str]] = defaultdict(list)
    agreement: dict[str, list[float]] = defaultdict(list)
    for r in answers:
        got = given[r["request_id"]]
        got.append(said[id(r)])
        if required[r["queue"]] >= 2 and len(got) == required[r["queue"]]:
            agreement[r["queue"]].append(max(Counter(got).values()) / len(got))
    assert len(agreement["crowd"]) > 500, "the window of 500 values is full"
    assert 0.5 < statistics.fmean(agreement["crowd"]) < 1.0, "the panel disagrees at times"
    assert 2 / 3 in agreement["trio"]
    for queue in required:
        values = agreement[queue][-500:]
        assert get("labelgate_label_agreement_ratio", {"queue": queue}) == (
            pytest.approx(statistics.fmean(values)) if values else None
        )

    # Model updates: labels that trained the model, by who gave them (the labelers whose answer,
    # on the item's original or escalated request, equals the label that stands); label outcomes.
    non_human_roles = set(run.settings.monitoring.non_human_roles)
    chain: dict[str, list[tuple[str, str]]] = defaultdict(list)
    oracle: Counter[str] = Counter()
    for r in answers:
        chain[r["id"]].append((r["labeler_role"], said[id(r)]))
        if r.get("used_for") == "training":
            roles = {role for role, answer in chain[r["id"]] if answer == r["label"]}
            oracle["human" if roles - non_human_roles else "non_human"] += 1
    trained = [r for _, r in labels if r["used_for"] == "training"]
    assert oracle["non_human"] > 0
    assert oracle["human"] > 0
    assert get("labelgate_model_updates_total", {"oracle": "human"}) == oracle["human"]
    assert get("labelgate_model_updates_total", {"oracle": "non_human"}) == oracle["non_human"]
    assert oracle.total() == len(trained)
    assert get("labelgate_labels_total", {"outcome": "learned"}) == len(trained)
    evaluation = [r for _, r in labels if r["used_for"] == "evaluation"]
    assert evaluation
    assert all(r["reason"] == "audit" for r in evaluation)
    assert get("labelgate_labels_total", {"outcome": "evaluation"}) == len(evaluation)
    for reason, n in Counter(d["reason"] for d in decisions).items():
        assert get("labelgate_decisions_total", {"reason": reason}) == n

    # Drift detections: a reference ADWIN fed the same two signals.
    disagreement, uncertainty = ADWIN(delta=0.002), ADWIN(delta=0.002)
    hits = Counter()
    for r in (r for _, r in labels):
        disagreement.update(float(r["production_prediction"] != r["label"]))
        hits["oracle_disagreement"] += disagreement.drift_detected
    for d in decisions:
        if d["reason"] != "cold_start":
            uncertainty.update(d["uncertainty"])
            hits["uncertainty"] += uncertainty.drift_detected
    for signal in ("oracle_disagreement", "uncertainty"):
        assert get("labelgate_drift_detections_total", {"signal": signal}) == hits[signal]

    # Nothing in docs/metrics.md's feedback table escapes this recomputation.
    assert checked >= _feedback_table_metrics()


def _feedback_table_metrics() -> set[str]:
    """The families of the "Feedback-loop and sampling-bias metrics" table of docs/metrics.md."""
    doc = (Path(__file__).resolve().parents[4] / "docs" / "metrics.md").read_text()
    section = doc.split("## Feedback-loop and sampling-bias metrics", 1)[1].split("\n## ", 1)[0]
    table = section.split("\n### ", 1)[0]
    names = re.findall(r"^\| ([a-z_]+) \|", table, flags=re.M)
    assert len(names) > 10
    return {f"labelgate_{n}" for n in names if n != "metric"}


def _wrong_label(m: FeedbackMonitor, reason: str, x: float) -> None:
    """A label "1" where production said "0" (0.9 sure), for an item with feature ``x``."""
    m.observe_label(
        label="1",
        production_prediction="0",
        production_confidence=0.9,
        probability=0.5,
        reason=reason,
        uncertainty=0.4,
        features={"x": x},
    )


@pytest.mark.parametrize(("values", "batch"), [(4, 500), (300, 64), (30, 1)])
def test_a_batch_of_items_gives_the_figures_of_one_item_at_a_time(values, batch):
    """observe_items over batches (window smaller than the stream, cold starts, a tracked
    feature, and subgroup values beyond the sketch's capacity when ``values`` is large) gives
    the same snapshot and the same internal counts as observe_item per item."""
    rng = random.Random(values)
    one = FeedbackMonitor(window=700, top_k=3, shift_features=["x"], shift_warmup=50, classes=2)
    many = FeedbackMonitor(window=700, top_k=3, shift_features=["x"], shift_warmup=50, classes=2)
    rows = []
    for i in range(6000):
        group = {"region": f"r{int(rng.paretovariate(1.2)) % values}", "tier": rng.choice("ab")}
        reason = "cold_start" if i < 40 else rng.choice(["uncertain", "audit", "below"])
        rows.append((group, rng.random() < 0.2, rng.random() / 2, {"x": rng.gauss(0, 1)}, reason))
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        for row in chunk:
            one.observe_item(*row)
        many.observe_items(*(list(column) for column in zip(*chunk, strict=True)))
        if start % 1000 == 0:  # labels between batches
            for m in (one, many):
                _wrong_label(m, "uncertain", 0.5)
    assert many.snapshot() == one.snapshot()
    assert dict(many.subgroups._items) == dict(one.subgroups._items)
    assert dict(many.subgroups._queries) == dict(one.subgroups._queries)
    for attribute, sketch in one.subgroups._sketches.items():
        assert many.subgroups._sketches[attribute]._entries == sketch._entries
    for name, tracked in one.shift._tracked.items():
        assert many.shift._tracked[name].stream.counts == tracked.stream.counts
        assert list(many.shift._tracked[name].stream.recent) == list(tracked.stream.recent)
    assert many.drift.detections == one.drift.detections


def test_small_batches_are_held_and_every_read_sees_them():
    """Fewer than PENDING_ITEMS items are held (the monitors' per-call cost is paid once per
    chunk), yet a snapshot, a monitor read, a label and a single item all see every item
    decided before them, as if each had been observed at once."""
    from daemon.monitoring.feedback import PENDING_ITEMS  # noqa: PLC0415

    def three(m: FeedbackMonitor) -> None:
        m.observe_items(
            [{"region": "EU"}] * 3, [True, False, False], [0.5] * 3, [{"x": 1.0}] * 3, ["u"] * 3
        )

    held = FeedbackMonitor(window=100, shift_features=["x"], shift_warmup=2, classes=2)
    three(held)
    assert held._subgroups.items_total == {}  # held, not yet passed on
    assert held.snapshot().subgroup_items_total == {("region", "EU"): 3}
    labeled, direct = (
        FeedbackMonitor(window=100, shift_features=["x"], shift_warmup=2, classes=2) for _ in "ab"
    )
    three(labeled)
    for _ in range(3):
        direct.observe_item({"region": "EU"}, False, 0.5, {"x": 1.0}, "u")
    for m in (labeled, direct):
        _wrong_label(m, "u", 1.0)
    assert list(labeled._shift._tracked["x"].labeled.recent) == list(
        direct._shift._tracked["x"].labeled.recent
    )
    full = FeedbackMonitor(window=10_000)
    n = PENDING_ITEMS
    full.observe_items([{"a": "b"}] * n, [False] * n, [0.1] * n, [{}] * n, ["u"] * n)
    assert full._subgroups.items_total == {("a", "b"): n}  # a full chunk goes on at once
