"""Replay LabeledFrames at sensor rate, ROS-free; the player node and offline tools share it."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator

from .frame import LabeledFrame


def shift_stamps(frame: LabeledFrame, offset_ns: int) -> LabeledFrame:
    """A copy of ``frame`` with every stamp moved by ``offset_ns`` (arrays are shared, not copied)."""
    if offset_ns == 0:
        return frame
    sensor = frame.sensor
    cameras = {name: dataclasses.replace(image, stamp_ns=image.stamp_ns + offset_ns) for name, image in sensor.cameras.items()}
    return dataclasses.replace(frame, sensor=dataclasses.replace(sensor, stamp_ns=sensor.stamp_ns + offset_ns, cameras=cameras))


class Player:
    """Iterate ``(time_ns, frame)`` paced by the frames' stamps.

    ``rate`` scales playback speed (2.0 = twice real time; 0 = as fast as possible). With
    ``loop`` the source is replayed forever; each pass is shifted in time by the previous
    pass's span plus one sweep period, so stamps (and a published /clock) never go backwards.
    """

    def __init__(
        self,
        source: Iterable[LabeledFrame],
        rate: float = 1.0,
        loop: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate < 0:
            raise ValueError(f"rate must be >= 0 (0 = as fast as possible); got {rate}")
        if loop and iter(source) is source:
            raise ValueError("loop needs a re-iterable source (a reader or a list), not a one-shot iterator")
        self.source = source
        self.rate = rate
        self.loop = loop
        self._clock = clock
        self._sleep = sleep

    def schedule(self) -> Iterator[tuple[float, int, LabeledFrame]]:
        """``(due [s after start, wall clock], time_ns, frame)`` without waiting."""
        offset = 0
        first: int | None = None
        while True:
            last = previous = None
            period = 0
            for frame in self.source:
                stamp = frame.sensor.stamp_ns
                if previous is not None:
                    period = stamp - previous
                previous = stamp
                if first is None:
                    first = stamp
                shifted = stamp + offset
                due = 0.0 if self.rate == 0 else (shifted - first) / 1e9 / self.rate
                last = shifted
                yield due, shifted, shift_stamps(frame, offset)
            if not self.loop or last is None:
                return
            offset = last + period - first  # next pass starts one period after this pass ended

    def __iter__(self) -> Iterator[tuple[int, LabeledFrame]]:
        start = self._clock()
        for due, time_ns, frame in self.schedule():
            wait = start + due - self._clock()
            if wait > 0:
                self._sleep(wait)
            yield time_ns, frame
