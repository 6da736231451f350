"""The group source's poll: buffered records at once, else the first to arrive, never a wait
for a full batch."""

from connectors.kafka import KafkaGroupSource


class _Message:
    def __init__(self, offset: int) -> None:
        self._offset = offset

    def error(self) -> None:
        return None

    def value(self) -> bytes:
        return b"{}"

    def key(self) -> None:
        return None

    def topic(self) -> str:
        return "t"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset


class _Consumer:
    """Holds ``buffered`` messages now and ``later`` ones that arrive during a blocking call."""

    def __init__(self, buffered: int, later: int) -> None:
        self.buffered = [_Message(i) for i in range(buffered)]
        self.later = [_Message(buffered + i) for i in range(later)]
        self.calls: list[tuple[int, float]] = []

    def consume(self, num_messages: int, timeout: float) -> list[_Message]:
        self.calls.append((num_messages, timeout))
        if not self.buffered and timeout > 0:
            self.buffered, self.later = self.later, []
        out, self.buffered = self.buffered[:num_messages], self.buffered[num_messages:]
        return out


def source(consumer: _Consumer) -> KafkaGroupSource:
    s = KafkaGroupSource({}, "t", "g")
    s._consumer = consumer
    return s


def test_buffered_records_come_back_without_waiting():
    """Records already buffered are returned by a non-blocking call, up to the batch size."""
    consumer = _Consumer(buffered=700, later=0)
    records = source(consumer).poll(500, timeout=5.0)
    assert [r.offset for r in records] == list(range(500))
    assert consumer.calls == [(500, 0)]


def test_an_empty_buffer_waits_for_the_first_record_then_takes_the_rest():
    """Nothing buffered: block for one record only, then drain what came with it."""
    consumer = _Consumer(buffered=0, later=30)
    records = source(consumer).poll(500, timeout=5.0)
    assert [r.offset for r in records] == list(range(30))
    assert consumer.calls == [(500, 0), (1, 5.0), (499, 0)]


def test_a_quiet_stream_returns_nothing_after_the_timeout():
    """No records at all: one blocking call bounded by the timeout, an empty batch."""
    consumer = _Consumer(buffered=0, later=0)
    assert source(consumer).poll(500, timeout=0.2) == []
    assert consumer.calls == [(500, 0), (1, 0.2)]
