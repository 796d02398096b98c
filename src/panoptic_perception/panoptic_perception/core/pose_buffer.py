"""Recent stamped poses (e.g. odom -> base_link from /tf), looked up at a sensor stamp."""

from __future__ import annotations

import bisect

import numpy as np


class PoseBuffer:
    """Poses by stamp, oldest dropped beyond ``capacity``; ``at`` returns the nearest within ``tolerance_ns``."""

    def __init__(self, capacity: int = 200, tolerance_ns: int = 20_000_000) -> None:
        if capacity < 1 or tolerance_ns < 0:
            raise ValueError(f"capacity must be >= 1 and tolerance_ns >= 0, got {capacity}, {tolerance_ns}")
        self.capacity = capacity
        self.tolerance_ns = tolerance_ns
        self._stamps: list[int] = []
        self._poses: list[np.ndarray] = []

    def add(self, stamp_ns: int, T: np.ndarray) -> None:
        k = bisect.bisect_left(self._stamps, stamp_ns)
        if k < len(self._stamps) and self._stamps[k] == stamp_ns:
            self._poses[k] = np.asarray(T, dtype=np.float64)
            return
        self._stamps.insert(k, stamp_ns)
        self._poses.insert(k, np.asarray(T, dtype=np.float64))
        if len(self._stamps) > self.capacity:
            del self._stamps[0], self._poses[0]

    def at(self, stamp_ns: int) -> np.ndarray | None:
        k = bisect.bisect_left(self._stamps, stamp_ns)
        best = min((i for i in (k - 1, k) if 0 <= i < len(self._stamps)),
                   key=lambda i: abs(self._stamps[i] - stamp_ns), default=None)
        if best is None or abs(self._stamps[best] - stamp_ns) > self.tolerance_ns:
            return None
        return self._poses[best]

    @property
    def newest_ns(self) -> int | None:
        return self._stamps[-1] if self._stamps else None

    def clear(self) -> None:
        self._stamps.clear()
        self._poses.clear()
