"""Transaction errors are classified as librdkafka documents them (no broker needed)."""

import pytest
from confluent_kafka import KafkaError, KafkaException

from connectors.errors import TransactionAbortedError
from connectors.kafka import KafkaOutputs, _transact


def failing(*errors: KafkaError):
    """A call that raises the given errors in turn, then returns "ok"."""
    left = list(errors)

    def call() -> str:
        if left:
            raise KafkaException(left.pop(0))
        return "ok"

    return call


def test_retriable_errors_are_retried_until_the_call_succeeds():
    """A retriable error (a timeout) is retried; the call's result comes back."""
    timeout = KafkaError(KafkaError._TIMED_OUT, "slow", retriable=True)
    assert _transact(failing(timeout, timeout), "commit", deadline=1e18) == "ok"


def test_an_abortable_error_aborts_and_raises():
    """An error that requires an abort aborts the transaction and raises, not fatal."""
    aborted = []
    err = KafkaError(KafkaError._STATE, "fenced offsets", txn_requires_abort=True)
    with pytest.raises(TransactionAbortedError) as info:
        _transact(failing(err), "send_offsets", 1e18, lambda: aborted.append(True))
    assert aborted == [True]
    assert not info.value.fatal
    assert "must be aborted" in str(info.value)


def test_a_fatal_error_raises_fatal_without_aborting():
    """A fatal error (the producer is fenced) needs a new producer: no abort is attempted."""
    aborted = []
    err = KafkaError(KafkaError._FENCED, "fenced", fatal=True)
    with pytest.raises(TransactionAbortedError) as info:
        _transact(failing(err), "commit", 1e18, lambda: aborted.append(True))
    assert info.value.fatal
    assert aborted == []


def test_retriable_errors_past_the_deadline_abort():
    """A retriable error after the deadline is given up: abort and raise."""
    aborted = []
    timeout = KafkaError(KafkaError._TIMED_OUT, "slow", retriable=True)
    with pytest.raises(TransactionAbortedError, match="retried until the deadline"):
        _transact(failing(timeout), "commit", 0.0, lambda: aborted.append(True))
    assert aborted == [True]


def test_an_error_that_is_neither_retriable_nor_abortable_aborts_and_says_so():
    """Anything else (not retriable, no abort required) is given up at once, with the reason."""
    aborted = []
    err = KafkaError(KafkaError._TRANSPORT, "connection refused")
    with pytest.raises(TransactionAbortedError, match="not retriable"):
        _transact(failing(err), "send_offsets", 1e18, lambda: aborted.append(True))
    assert aborted == [True]


class _FencedProducer:
    """Stands in for a transactional producer fenced by a newer incarnation of its id."""

    def abort_transaction(self, timeout: float) -> None:
        raise KafkaException(KafkaError(KafkaError._FENCED, "old epoch", fatal=True))

    def flush(self, timeout: float) -> int:
        raise KafkaException(KafkaError(KafkaError._FENCED, "old epoch", fatal=True))


def test_closing_a_fenced_producer_drops_it_without_raising():
    """After a lost transaction the daemon closes its outputs: a fenced producer refuses to
    flush, which must not turn the in-process resume into a crash."""

    outputs = KafkaOutputs({"bootstrap.servers": "127.0.0.1:9"}, transactional_id="t")
    outputs._producer = _FencedProducer()
    outputs._in_transaction = True
    outputs.close(0.1)
    assert outputs._producer is None
