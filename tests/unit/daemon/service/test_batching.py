"""Micro-batches: the batch size follows the measured cost per item within a time budget."""

from daemon.service.batching import MicroBatches
from tests.unit.daemon.fakes import MemoryChannels, MemorySource, memory_daemon, settings


def test_the_size_fits_the_budget_at_the_measured_cost():
    """50 us per item and a 1 ms budget: 20 records per poll; cheaper items, larger batches."""
    sizes = MicroBatches(limit=500, budget=0.001, weight=1.0)
    assert sizes.size == 500  # nothing measured yet
    sizes.observe(100, 0.005)
    assert sizes.size == 20
    sizes.observe(100, 0.0001)
    assert sizes.size == 500  # 1 us per item: the configured limit caps it


def test_the_size_stays_within_floor_and_limit():
    """A very slow batch does not shrink the batch below the floor."""
    sizes = MicroBatches(limit=500, budget=0.001, floor=8, weight=1.0)
    sizes.observe(10, 1.0)
    assert sizes.size == 8


def test_the_cost_is_smoothed():
    """One slow batch moves the cost by ``weight`` of the difference, not all the way."""
    sizes = MicroBatches(limit=500, budget=0.001, weight=0.5)
    sizes.observe(10, 0.0001)  # 10 us
    sizes.observe(10, 0.0003)  # 30 us
    assert sizes.cost is not None
    assert abs(sizes.cost - 20e-6) < 1e-12
    assert sizes.size == 50


def test_without_a_budget_the_size_is_fixed():
    """File sources: the configured size whatever the cost (runs stay deterministic)."""
    sizes = MicroBatches(limit=300, budget=None)
    sizes.observe(10, 1.0)
    assert sizes.size == 300


def test_a_lasting_backlog_takes_full_batches_until_a_poll_comes_back_short():
    """Full polls for longer than ``backlog`` seconds: batches of ``limit``; a short poll
    (caught up) returns to the budget's size; a brief burst stays within the budget."""
    sizes = MicroBatches(limit=500, budget=0.001, weight=1.0, backlog=0.1)
    sizes.observe(500, 0.025, now=0.0)  # 50 us per item, a full poll of 500
    assert sizes.size == 20
    sizes.observe(20, 0.001, now=0.05)  # full again, 50 ms into the burst
    assert sizes.size == 20
    sizes.observe(20, 0.001, now=0.1)  # full for 100 ms: behind
    assert sizes.size == 500
    sizes.observe(500, 0.025, now=0.2)
    assert sizes.size == 500
    sizes.observe(7, 0.00035, now=0.3)  # short: caught up
    assert sizes.size == 20


def test_the_daemon_takes_its_batch_budget_from_the_configuration(tmp_path):
    """``kafka.batch_budget_seconds`` sizes a Kafka daemon's batches; null keeps the configured
    size; a file source always keeps it (deterministic replays)."""

    def budget(source: str, kafka: dict[str, object]) -> float | None:
        config = settings(tmp_path, source=source, kafka={"bootstrap_servers": "b:9092", **kafka})
        daemon = memory_daemon(config, MemoryChannels(MemorySource([])))
        return daemon._batches.budget

    assert budget("kafka", {"batch_budget_seconds": 0.004}) == 0.004
    assert budget("kafka", {}) == 0.001
    assert budget("kafka", {"batch_budget_seconds": None}) is None
    assert budget("file", {"batch_budget_seconds": 0.004}) is None
