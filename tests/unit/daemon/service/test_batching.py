"""Micro-batches: the batch size follows the measured cost per item within a time budget."""

from daemon.service.batching import MicroBatches
from tests.unit.daemon.fakes import MemoryChannels, MemorySource, memory_daemon, settings


def test_the_size_fits_the_budget_at_the_measured_cost():
    """50 us per item and a 1 ms budget: 20 records per poll; cheaper items, larger batches."""
    sizes = MicroBatches(limit=500, budget=0.001, weight=1.0)
    assert sizes.size == 8  # nothing measured yet: the floor
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
    # The first measurement (10 us) sized the batch at 100; the smoothed cost's size is 50, and
    # a short poll takes an eighth of the way there.
    assert sizes.size == 100 - (100 - 50) // 8


def test_without_a_budget_the_size_is_fixed():
    """File sources: the configured size whatever the cost (runs stay deterministic)."""
    sizes = MicroBatches(limit=300, budget=None)
    sizes.observe(10, 1.0)
    assert sizes.size == 300


def test_full_polls_grow_the_size_after_patience_and_short_polls_take_it_back():
    """Polls full for ``patience`` seconds: the size grows by ``growth``, again after each
    further ``patience``; a brief burst does not grow it; short polls take it back to the
    budget's size an eighth of the way at a time."""
    sizes = MicroBatches(limit=500, budget=0.001, weight=1.0, patience=0.1, growth=2.0)
    sizes.observe(10, 0.0005, now=0.0)  # 50 us per item, short: the budget's size
    assert sizes.size == 20
    sizes.observe(20, 0.001, now=0.01)  # full: a burst begins
    sizes.observe(20, 0.001, now=0.05)
    assert sizes.size == 20  # 40 ms of full polls: still the budget's size
    sizes.observe(20, 0.001, now=0.11)
    assert sizes.size == 40
    sizes.observe(40, 0.002, now=0.15)
    assert sizes.size == 40  # the next growth waits another patience
    sizes.observe(40, 0.002, now=0.22)
    assert sizes.size == 80
    sizes.observe(30, 0.0015, now=0.23)  # short: caught up
    assert sizes.size == 80 - (80 - 20) // 8
    for k in range(100):
        sizes.observe(5, 0.00025, now=0.3 + k / 100)
    assert sizes.size == 20  # back at the budget's size, never below it


def test_a_lasting_backlog_reaches_the_limit():
    """Catching up after a start or an outage: the first batch takes the floor, then full
    polls grow the size up to ``limit`` within about half a second, and it stays there while
    the polls stay full."""
    sizes = MicroBatches(limit=500, budget=0.001, weight=1.0, patience=0.05)
    assert sizes.size == 8
    now, reached = 0.0, None
    for _ in range(100):
        now += 0.01
        sizes.observe(sizes.size, sizes.size * 50e-6, now=now)  # always full, 50 us per item
        if reached is None and sizes.size == 500:
            reached = now
    assert reached is not None
    assert reached <= 0.6
    assert sizes.size == 500


def test_a_steady_rate_settles_near_the_smallest_size_that_keeps_up():
    """A simulated stream: 10,000 items/s, 50 us per item and 1 ms per batch of fixed cost.
    The budget's size (20) cannot keep up (20 items in 2 ms); the size settles where it does,
    not at the limit, and the backlog stays bounded."""
    rate, per_item, fixed = 10_000.0, 50e-6, 0.001
    sizes = MicroBatches(limit=500, budget=0.001, weight=1.0)
    now, queued, seen = 0.0, 0.0, []
    for _ in range(20_000):
        n = min(sizes.size, int(queued))
        if n == 0:  # idle until the next item arrives
            now += 1 / rate
            queued += 1
            continue
        seconds = n * per_item
        now += seconds + fixed
        queued += (seconds + fixed) * rate - n
        sizes.observe(n, seconds, now=now)
        seen.append(sizes.size)
    late = seen[len(seen) // 2 :]
    # Keeping up needs n / (fixed + n * per_item) >= rate: n >= 20 items.
    assert min(late) >= 20
    assert max(late) <= 60
    assert queued < 200


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
