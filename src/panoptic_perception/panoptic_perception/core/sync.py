"""Pairs every LiDAR sweep with the nearest image of each camera, never blocking.

Stamps are integer nanoseconds (sensor clock); payloads are opaque (messages, arrays, anything).
``now_ns`` is the receive clock the caller passes in (steady or ROS time), used only for timeouts.

Matching: camera ``c`` with ``offset_ns`` o and ``slop_ns`` w may pair with sweep stamp t when
``|stamp - (t + o)| <= w``; the nearest such image wins (ties: the earlier one). Images are not
consumed: each sweep chooses independently, so a 5 Hz camera with a wide slop serves two 10 Hz
sweeps, and 10 Hz cameras with a 10 Hz LiDAR pair 1:1 because each sweep's nearest image differs.

Release: a camera is *resolved* for a sweep once no future image can beat its current choice,
which, with every camera publishing in stamp order, is when an image at least as far past
``t + o`` as the choice is before it has arrived (an exact hit resolves at once); a camera with no
image in the window is resolved as missing once an image newer than ``t + o + w`` has arrived. A
sweep is released when every camera is resolved, or when the ``timeout_ns`` of each unresolved
camera has passed on the receive clock since the sweep (or any newer queued sweep) arrived: it then
carries the images it has, the others are listed in ``missing`` and ``late`` is set. An image that
arrives out of stamp order is still used by sweeps not yet released. Sweeps are released in stamp
order; a sweep at or before the last released (or evicted) stamp is dropped on arrival.

Bounds: at most ``lidar_queue_size`` pending sweeps (the oldest is dropped beyond that) and
``queue_size`` images per camera (oldest first); images that no pending or future sweep (all newer
than the last released one) could use are pruned. ``queue_size`` should cover the camera's rate
times its timeout.

Thread safety: every public method holds one lock, so callbacks of a multi-threaded executor may
call it concurrently; the single-threaded executor the nodes use pays only an uncontended lock.
"""

from __future__ import annotations

import bisect
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

__all__ = ["CameraSyncConfig", "LidarCameraSynchronizer", "SyncConfig", "SyncCounters", "SyncHealthWindow", "SyncedSet"]

_MS = 1_000_000


@dataclass(frozen=True)
class CameraSyncConfig:
    """How one camera's stamps relate to the LiDAR's, and how long and how much to wait for it."""

    offset_ns: int = 0  # expected camera stamp minus LiDAR stamp
    slop_ns: int = 50 * _MS  # max |camera stamp - (LiDAR stamp + offset_ns)|
    timeout_ns: int = 100 * _MS  # receive-clock wait for this camera after the sweep arrived
    queue_size: int = 10  # images kept for this camera

    def __post_init__(self) -> None:
        for name in ("offset_ns", "slop_ns", "timeout_ns", "queue_size"):
            if not isinstance(getattr(self, name), int):
                raise TypeError(f"CameraSyncConfig.{name} must be an int, got {getattr(self, name)!r}")
        if self.slop_ns < 0:
            raise ValueError(f"CameraSyncConfig.slop_ns must be >= 0, got {self.slop_ns}")
        if self.timeout_ns < 0:
            raise ValueError(f"CameraSyncConfig.timeout_ns must be >= 0, got {self.timeout_ns}")
        if self.queue_size < 1:
            raise ValueError(f"CameraSyncConfig.queue_size must be >= 1, got {self.queue_size}")


@dataclass(frozen=True)
class SyncConfig:
    """Per-camera settings (by camera name) and the bound on pending LiDAR sweeps."""

    cameras: Mapping[str, CameraSyncConfig]
    lidar_queue_size: int = 5

    def __post_init__(self) -> None:
        cameras = dict(self.cameras)
        for name, camera in cameras.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"SyncConfig.cameras: camera names must be non-empty strings, got {name!r}")
            if not isinstance(camera, CameraSyncConfig):
                raise TypeError(f"SyncConfig.cameras[{name!r}] must be a CameraSyncConfig, got {type(camera).__name__}")
        if not isinstance(self.lidar_queue_size, int) or self.lidar_queue_size < 1:
            raise ValueError(f"SyncConfig.lidar_queue_size must be an int >= 1, got {self.lidar_queue_size!r}")
        object.__setattr__(self, "cameras", MappingProxyType(cameras))

    @classmethod
    def uniform(cls, cameras: Iterable[str], offset_ns: int = 0, slop_ns: int = 50 * _MS, timeout_ns: int = 100 * _MS,
                queue_size: int = 10, lidar_queue_size: int = 5) -> SyncConfig:  # fmt: skip
        """The same camera settings for every named camera."""
        camera = CameraSyncConfig(offset_ns, slop_ns, timeout_ns, queue_size)
        return cls({name: camera for name in cameras}, lidar_queue_size)


@dataclass(frozen=True)
class SyncedSet:
    """One released sweep: its images by camera as ``(stamp_ns, payload)``, and the cameras it lacks."""

    lidar_stamp_ns: int
    lidar: Any
    images: dict[str, tuple[int, Any]]
    missing: tuple[str, ...]
    late: bool  # released by a timeout rather than because every camera was resolved

    @property
    def degraded(self) -> bool:
        return bool(self.missing)


@dataclass(frozen=True)
class SyncCounters:
    """Sweeps released (``processed``), lost to overflow or late arrival (``dropped``), released with missing cameras."""

    processed: int = 0
    dropped: int = 0
    degraded: int = 0


class SyncHealthWindow:
    """Dropped and degraded ratios over the last ``size`` sweeps, fed with successive counter snapshots."""

    _OK, _DEGRADED, _DROPPED = 0, 1, 2

    def __init__(self, size: int = 100) -> None:
        if size < 1:
            raise ValueError(f"SyncHealthWindow size must be >= 1, got {size}")
        self.size = size
        self._outcomes: deque[int] = deque(maxlen=size)
        self._last: SyncCounters | None = None

    def update(self, counters: SyncCounters) -> None:
        last = self._last or SyncCounters()
        self._last = counters
        dropped = max(counters.dropped - last.dropped, 0)
        degraded = max(counters.degraded - last.degraded, 0)
        ok = max(counters.processed - last.processed - degraded, 0)
        # Order within one update is unknowable; at most `size` of each kind can matter.
        for outcome, count in ((self._DROPPED, dropped), (self._OK, ok), (self._DEGRADED, degraded)):
            self._outcomes.extend([outcome] * min(count, self.size))

    @property
    def sweeps(self) -> int:
        """Sweeps (released or dropped) in the window."""
        return len(self._outcomes)

    @property
    def dropped_ratio(self) -> float:
        """Dropped sweeps over all sweeps in the window (0 when empty)."""
        return self._outcomes.count(self._DROPPED) / len(self._outcomes) if self._outcomes else 0.0

    @property
    def degraded_ratio(self) -> float:
        """Sweeps released with a missing camera over released sweeps in the window (0 when none)."""
        released = len(self._outcomes) - self._outcomes.count(self._DROPPED)
        return self._outcomes.count(self._DEGRADED) / released if released else 0.0


@dataclass
class _Sweep:
    stamp_ns: int
    payload: Any
    wait_start_ns: int  # receive time the timeout counts from; non-decreasing along the queue


class _ImageQueue:
    """One camera's images, sorted by stamp."""

    def __init__(self) -> None:
        self.stamps: list[int] = []
        self.payloads: list[Any] = []
        self.latest_ns: int | None = None  # newest stamp ever received, pruned or not

    def add(self, stamp_ns: int, payload: Any) -> None:
        i = bisect.bisect_left(self.stamps, stamp_ns)
        if i < len(self.stamps) and self.stamps[i] == stamp_ns:
            self.payloads[i] = payload  # a re-sent image replaces the earlier copy
        else:
            self.stamps.insert(i, stamp_ns)
            self.payloads.insert(i, payload)
        self.latest_ns = stamp_ns if self.latest_ns is None else max(self.latest_ns, stamp_ns)

    def nearest(self, target_ns: int, slop_ns: int) -> int | None:
        """Index of the image nearest ``target_ns`` within the slop (the earlier on a tie), or None."""
        i = bisect.bisect_left(self.stamps, target_ns)
        best = None
        for j in (i - 1, i):  # i - 1 first: it wins ties
            if 0 <= j < len(self.stamps):
                distance = abs(self.stamps[j] - target_ns)
                if distance <= slop_ns and (best is None or distance < abs(self.stamps[best] - target_ns)):
                    best = j
        return best

    def drop_before(self, stamp_ns: int) -> None:
        i = bisect.bisect_left(self.stamps, stamp_ns)
        del self.stamps[:i], self.payloads[:i]

    def keep_newest(self, count: int) -> None:
        excess = len(self.stamps) - count
        if excess > 0:
            del self.stamps[:excess], self.payloads[:excess]


class LidarCameraSynchronizer:
    """Non-blocking LiDAR/camera synchroniser: feed it with ``add_*``, collect sets with ``poll``."""

    def __init__(self, config: SyncConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._pending: list[_Sweep] = []
        self._images = {name: _ImageQueue() for name in config.cameras}
        self._floor_ns: int | None = None  # newest stamp released or evicted; older arrivals are dropped
        self._processed = self._dropped = self._degraded = 0

    @property
    def counters(self) -> SyncCounters:
        with self._lock:
            return SyncCounters(self._processed, self._dropped, self._degraded)

    @property
    def pending_sweeps(self) -> int:
        with self._lock:
            return len(self._pending)

    def queued_images(self) -> dict[str, int]:
        """Images held per camera."""
        with self._lock:
            return {name: len(queue.stamps) for name, queue in self._images.items()}

    def add_lidar(self, stamp_ns: int, payload: Any, now_ns: int) -> bool:
        """Queue a sweep; False when it is dropped (not newer than the last released sweep, or a duplicate)."""
        stamp_ns, now_ns = int(stamp_ns), int(now_ns)
        with self._lock:
            i = bisect.bisect_left(self._pending, stamp_ns, key=lambda sweep: sweep.stamp_ns)
            duplicate = i < len(self._pending) and self._pending[i].stamp_ns == stamp_ns
            if duplicate or (self._floor_ns is not None and stamp_ns <= self._floor_ns):
                self._dropped += 1
                return False
            # A sweep queued behind a newer one that is already waiting waits no longer than that one.
            wait_start = min(now_ns, self._pending[i].wait_start_ns) if i < len(self._pending) else now_ns
            self._pending.insert(i, _Sweep(stamp_ns, payload, wait_start))
            if len(self._pending) > self.config.lidar_queue_size:
                evicted = self._pending.pop(0)
                self._dropped += 1
                self._raise_floor(evicted.stamp_ns)
                self._prune()
            return True

    def count_missed_lidar(self, count: int) -> None:
        """Count ``count`` sweeps as dropped that never reached ``add_lidar`` (lost in transport or in a full
        subscription queue, as the transport's sequence numbers tell)."""
        if count < 0:
            raise ValueError(f"missed sweep count must be >= 0, got {count}")
        with self._lock:
            self._dropped += int(count)

    def drop_released(self) -> None:
        """A released set that its consumer dropped unprocessed (its own queue was full): counted as dropped,
        no longer as processed."""
        with self._lock:
            self._processed -= 1
            self._dropped += 1

    def add_image(self, camera: str, stamp_ns: int, payload: Any, now_ns: int) -> None:
        """Queue one camera image (``now_ns`` is accepted for symmetry; images carry no timeout)."""
        with self._lock:
            queue = self._images.get(camera)
            if queue is None:
                raise KeyError(f"unknown camera {camera!r}; configured cameras: {sorted(self._images)}")
            queue.add(int(stamp_ns), payload)
            self._prune_camera(camera)
            queue.keep_newest(self.config.cameras[camera].queue_size)

    def poll(self, now_ns: int) -> list[SyncedSet]:
        """Every sweep that is ready at ``now_ns``, oldest first; never waits."""
        now_ns = int(now_ns)
        released: list[SyncedSet] = []
        with self._lock:
            while self._pending:
                synced = self._try_release(self._pending[0], now_ns)
                if synced is None:
                    break  # later sweeps wait behind the head to keep stamp order
                self._pending.pop(0)
                self._raise_floor(synced.lidar_stamp_ns)
                self._processed += 1
                self._degraded += synced.degraded
                released.append(synced)
            if released:
                self._prune()
        return released

    def next_deadline_ns(self, now_ns: int) -> int | None:
        """When ``poll`` should look again without new input: the next timeout of the oldest waiting sweep (the
        others wait behind it), ``now_ns`` when every timeout has passed; None while no sweep waits."""
        with self._lock:
            if not self._pending:
                return None
            start = self._pending[0].wait_start_ns
            ahead = [start + c.timeout_ns for c in self.config.cameras.values() if start + c.timeout_ns > now_ns]
            return min(ahead, default=int(now_ns))

    def reset(self) -> None:
        """Forget queued sweeps and images and the release order (after a clock jump back); counters stay."""
        with self._lock:
            self._pending.clear()
            self._images = {name: _ImageQueue() for name in self.config.cameras}
            self._floor_ns = None

    def _try_release(self, sweep: _Sweep, now_ns: int) -> SyncedSet | None:
        images: dict[str, tuple[int, Any]] = {}
        missing: list[str] = []
        late = False
        for name, camera in self.config.cameras.items():
            queue = self._images[name]
            target = sweep.stamp_ns + camera.offset_ns
            best = queue.nearest(target, camera.slop_ns)
            if best is not None:
                resolved = queue.latest_ns >= target + abs(queue.stamps[best] - target)
            else:
                resolved = queue.latest_ns is not None and queue.latest_ns > target + camera.slop_ns
            if not resolved:
                if now_ns - sweep.wait_start_ns < camera.timeout_ns:
                    return None
                late = True
            if best is None:
                missing.append(name)
            else:
                images[name] = (queue.stamps[best], queue.payloads[best])
        return SyncedSet(sweep.stamp_ns, sweep.payload, images, tuple(missing), late)

    def _raise_floor(self, stamp_ns: int) -> None:
        self._floor_ns = stamp_ns if self._floor_ns is None else max(self._floor_ns, stamp_ns)

    def _prune(self) -> None:
        for name in self._images:
            self._prune_camera(name)

    def _prune_camera(self, name: str) -> None:
        # Pending and future sweeps are all newer than the floor; before the first release any stamp
        # may still come, so only the queue bound applies.
        if self._floor_ns is not None:
            camera = self.config.cameras[name]
            self._images[name].drop_before(self._floor_ns + 1 + camera.offset_ns - camera.slop_ns)
