"""What happens to a message when its handler fails: one exception per outcome.

| exception              | outcome                                                        |
|------------------------|----------------------------------------------------------------|
| InvalidMessage         | dead-letter at once (bad bytes or schema)                      |
| PermanentError         | dead-letter at once (the input can never succeed: bad href...) |
| TransientError         | retry with backoff up to `max_attempts`, then dead-letter      |
| any other exception    | treated as transient (a bug or an unexpected fault)            |
"""

from __future__ import annotations

from greenwatch.schemas import InvalidMessage


class PermanentError(Exception):
    """The message can never be processed as it is; retrying is pointless."""


class TransientError(Exception):
    """A fault that may pass (network, storage); the message is retried."""


__all__ = ["InvalidMessage", "PermanentError", "TransientError"]
