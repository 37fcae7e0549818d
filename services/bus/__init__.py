"""Thin adapters for the message bus: an embedded SQLite log and Apache Kafka."""

from greenwatch.services.bus._base import DLQ_SUFFIX, Bus, Consumer, Record, dlq_topic
from greenwatch.services.bus.embedded import EmbeddedBus

__all__ = ["DLQ_SUFFIX", "Bus", "Consumer", "EmbeddedBus", "Record", "dlq_topic"]
