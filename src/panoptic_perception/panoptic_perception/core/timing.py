"""Per-stage wall-clock latencies of one frame, in milliseconds."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["StageTimer"]

_NS_PER_MS = 1e6


class StageTimer:
    """Times named stages of one frame: ``with timer.stage("fusion"): ...``.

    A stage entered twice accumulates; a stage that raises still records the time it ran. Stages
    keep the order in which they were first entered. ``clock`` returns integer nanoseconds.
    """

    def __init__(self, clock: Callable[[], int] = time.perf_counter_ns) -> None:
        self._clock = clock
        self._ms: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = self._clock()
        try:
            yield
        finally:
            self._ms[name] = self._ms.get(name, 0.0) + (self._clock() - start) / _NS_PER_MS

    def add(self, name: str, ms: float) -> None:
        """Time of ``name`` measured elsewhere (e.g. on another thread), added as if the stage had run again."""
        self._ms[name] = self._ms.get(name, 0.0) + ms

    def as_dict(self) -> dict[str, float]:
        """Stage name -> milliseconds, a copy."""
        return dict(self._ms)

    @property
    def total_ms(self) -> float:
        """Sum over the stages (time between stages is not counted)."""
        return sum(self._ms.values())

    def reset(self) -> None:
        self._ms.clear()
