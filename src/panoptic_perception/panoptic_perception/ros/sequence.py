"""Messages a subscription never delivered, from the publisher's sequence numbers.

A keep-last subscription queue overwrites the oldest message when its callback falls behind, and best
effort transport may lose a message outright; neither reaches the callback. The middleware's
``publication_sequence_number`` (rclpy ``MessageInfo``) counts up by one per message of a publisher, so
a gap is the number of messages that were published but not delivered. Assumes one publisher per
topic (a LiDAR driver); a number that goes back (a restarted publisher) starts a new count.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["SequenceGapCounter"]


class SequenceGapCounter:
    """Feed every delivered message's ``MessageInfo``; ``update`` returns how many were skipped before it."""

    def __init__(self) -> None:
        self._last: int | None = None
        self.missed = 0

    def update(self, info: Mapping[str, Any] | None) -> int:
        sequence = None if info is None else info.get("publication_sequence_number")
        if sequence is None:  # the middleware does not report sequence numbers
            return 0
        sequence = int(sequence)
        gap = 0 if self._last is None or sequence <= self._last else sequence - self._last - 1
        self._last = sequence
        self.missed += gap
        return gap
