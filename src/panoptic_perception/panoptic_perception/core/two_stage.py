"""Two pipeline stages on two threads, in arrival order.

A job's first stage (fusion: conversions and the network) runs on one thread and returns its
second stage (tracking and publishing), which runs on another; while sweep n is tracked and
published, sweep n + 1 is already in the network, and the ROS executor thread stays free to take
in messages. ONNX Runtime, numpy and torch release the GIL in their heavy loops, so on two cores
the stages overlap. Jobs wait in a bounded queue in front of the first stage: when it is full, the
oldest waiting job is dropped (the freshest data wins) and its ``on_drop`` (the worker's, unless the
job brought its own) is told, so that it is counted. ``threaded=False`` runs both stages at once
inside ``submit`` (the same code path, no threads).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

SecondStage = Callable[[], None]
FirstStage = Callable[[], SecondStage | None]


class TwoStageWorker:
    def __init__(self, depth: int, on_drop: Callable[[], None], on_error: Callable[[BaseException], None],
                 threaded: bool = True) -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self.depth, self.on_drop, self.on_error, self.threaded = depth, on_drop, on_error, threaded
        # both queues hold (stage, on_drop); only the first stage's jobs can be dropped
        self._waiting: deque[tuple[FirstStage, Callable[[], None]]] = deque()
        self._second: deque[tuple[SecondStage, None]] = deque()
        self._lock = threading.Condition()
        self._busy = 0  # jobs taken from a queue and not yet finished, both stages
        self._closed = False
        self._threads: list[threading.Thread] = []  # started with the first job: an idle worker holds no thread

    def submit(self, first: FirstStage, on_drop: Callable[[], None] | None = None) -> None:
        if not self.threaded:
            second = self._call(first)
            if second is not None:
                self._call(second)
            return
        with self._lock:
            if self._closed:
                raise RuntimeError("the worker is closed")
            if not self._threads:
                self._threads = [threading.Thread(target=self._run, args=(self._waiting, self._first_done), daemon=True,
                                                  name="fusion"),
                                 threading.Thread(target=self._run, args=(self._second, lambda _: None), daemon=True,
                                                  name="publish")]
                for thread in self._threads:
                    thread.start()
            if len(self._waiting) >= self.depth:
                _, dropped = self._waiting.popleft()
                dropped()
            self._waiting.append((first, on_drop or self.on_drop))
            self._lock.notify_all()

    def idle(self) -> bool:
        """Nothing waiting and nothing running."""
        with self._lock:
            return self._idle()

    def wait_idle(self, timeout: float) -> bool:
        with self._lock:
            return self._lock.wait_for(self._idle, timeout)

    def _idle(self) -> bool:  # under the lock
        return not self._waiting and not self._second and self._busy == 0

    def close(self, timeout: float = 5.0) -> None:
        """Stop taking jobs; the threads finish what they hold and end."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    def _call(self, stage: Callable[[], SecondStage | None]) -> SecondStage | None:
        try:
            return stage()
        except Exception as err:  # a job must never end its thread
            self.on_error(err)
            return None

    def _first_done(self, second: SecondStage | None) -> None:
        if second is not None:
            with self._lock:  # queued before the first stage's job stops counting as busy: never seen idle between
                self._second.append((second, None))
                self._lock.notify_all()

    def _run(self, queue: deque, hand_over: Callable[[SecondStage | None], None]) -> None:
        while True:
            with self._lock:
                self._lock.wait_for(lambda: queue or self._closed)
                if not queue:
                    return
                job, _ = queue.popleft()
                self._busy += 1
            try:
                hand_over(self._call(job))
            finally:
                with self._lock:
                    self._busy -= 1
                    self._lock.notify_all()
