"""Sources and sinks: Kafka (confluent-kafka), JSONL files, and a simulated expert."""

from connectors.expert import Labeler, SimulatedExpert, load_truth
from connectors.jsonl import JsonlSink, JsonlSource, read_keyed
from connectors.protocols import CommittingSource, DeliveryCallback, Sink, Source, TopicPartition
from connectors.record import Record

__all__ = [
    "CommittingSource",
    "DeliveryCallback",
    "JsonlSink",
    "JsonlSource",
    "Labeler",
    "Record",
    "SimulatedExpert",
    "Sink",
    "Source",
    "TopicPartition",
    "load_truth",
    "read_keyed",
]
