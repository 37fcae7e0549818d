"""Errors raised at the message boundary."""

from __future__ import annotations


class InvalidMessage(ValueError):
    """A message that cannot be decoded or does not satisfy its schema; it goes to the DLQ."""

    def __init__(self, reason: str, *, path: str = "") -> None:
        super().__init__(f"{reason} (at {path})" if path else reason)
        self.reason = reason
        self.path = path
