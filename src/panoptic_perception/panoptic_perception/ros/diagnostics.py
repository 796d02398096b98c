"""``perception/status`` (``panoptic_msgs/PipelineStatus``) and ``/diagnostics`` messages for one frame.

``/diagnostics`` carries one status per pipeline stage, graded against latency limits, and one for
sensor synchronisation, graded by the dropped and degraded ratios over a sliding window of sweeps.
A value strictly above a limit raises the level.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from panoptic_msgs.msg import PipelineStatus, StageLatency

from ..core.sync import SyncCounters, SyncHealthWindow
from .stamps import make_header

__all__ = [
    "MODES",
    "DiagnosticsConfig",
    "LatencyLimits",
    "diagnostic_array",
    "latency_status",
    "pipeline_status_msg",
    "sync_status",
]

MODES: Mapping[str, int] = MappingProxyType(
    {
        "fusion": PipelineStatus.MODE_FUSION,
        "lidar_only": PipelineStatus.MODE_LIDAR_ONLY,
        "camera_only": PipelineStatus.MODE_CAMERA_ONLY,
        "degraded": PipelineStatus.MODE_DEGRADED,
    }
)


@dataclass(frozen=True)
class LatencyLimits:
    """A stage is WARN above ``warn_ms`` and ERROR above ``error_ms``."""

    warn_ms: float
    error_ms: float

    def __post_init__(self) -> None:
        if not 0 <= self.warn_ms <= self.error_ms:
            raise ValueError(f"LatencyLimits need 0 <= warn_ms <= error_ms, got warn_ms={self.warn_ms}, error_ms={self.error_ms}")


@dataclass(frozen=True)
class DiagnosticsConfig:
    """Limits for ``/diagnostics``; ``stage_latency`` overrides ``latency`` per stage name."""

    latency: LatencyLimits = LatencyLimits(warn_ms=100.0, error_ms=200.0)
    stage_latency: Mapping[str, LatencyLimits] = field(default_factory=dict)
    sync_warn_ratio: float = 0.1
    sync_error_ratio: float = 0.5
    name: str = "panoptic_perception"  # prefix of every status name
    hardware_id: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.sync_warn_ratio <= self.sync_error_ratio <= 1:
            raise ValueError(
                "DiagnosticsConfig needs 0 <= sync_warn_ratio <= sync_error_ratio <= 1, "
                f"got {self.sync_warn_ratio}, {self.sync_error_ratio}"
            )
        object.__setattr__(self, "stage_latency", MappingProxyType(dict(self.stage_latency)))

    def limits_for(self, stage: str) -> LatencyLimits:
        return self.stage_latency.get(stage, self.latency)


def pipeline_status_msg(
    stamp_ns: int,
    frame_id: str,
    latencies: Mapping[str, float],
    total_ms: float,
    mode: int | str,
    lidar_used: bool,
    cameras_used: Sequence[str],
    cameras_missing: Sequence[str],
    camera_reliability: Sequence[float],
    counters: SyncCounters,
    reason: str = "",
) -> PipelineStatus:
    """The status of one frame; ``mode`` is a ``PipelineStatus.MODE_*`` value or its name (e.g. ``"lidar_only"``)."""
    if isinstance(mode, str):
        if mode not in MODES:
            raise ValueError(f"unknown pipeline mode {mode!r}; valid modes: {', '.join(MODES)}")
        mode = MODES[mode]
    elif mode not in MODES.values():
        raise ValueError(f"pipeline mode must be one of {sorted(MODES.values())} or a name, got {mode!r}")
    if len(camera_reliability) != len(cameras_used):
        raise ValueError(
            f"camera_reliability has {len(camera_reliability)} entries, expected one per cameras_used ({len(cameras_used)})"
        )
    for camera, value in zip(cameras_used, camera_reliability, strict=True):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"camera_reliability of {camera!r} must be in [0, 1], got {value}")
    return PipelineStatus(
        header=make_header(frame_id=frame_id, stamp_ns=stamp_ns),
        mode=mode,
        stage_latencies=[StageLatency(stage=stage, latency_ms=float(ms)) for stage, ms in latencies.items()],
        total_latency_ms=float(total_ms),
        lidar_used=bool(lidar_used),
        cameras_used=list(cameras_used),
        cameras_missing=list(cameras_missing),
        camera_reliability=[float(v) for v in camera_reliability],
        frames_processed=counters.processed,
        frames_dropped=counters.dropped,
        frames_degraded=counters.degraded,
        reason=reason,
    )


def latency_status(stage: str, latency_ms: float, limits: LatencyLimits, config: DiagnosticsConfig) -> DiagnosticStatus:
    """OK / WARN / ERROR for one stage's latency; a non-finite latency is an ERROR."""
    if not math.isfinite(latency_ms):
        level, message = DiagnosticStatus.ERROR, f"latency is {latency_ms}"
    elif latency_ms > limits.error_ms:
        level, message = DiagnosticStatus.ERROR, f"{latency_ms:.1f} ms > error limit {limits.error_ms:.1f} ms"
    elif latency_ms > limits.warn_ms:
        level, message = DiagnosticStatus.WARN, f"{latency_ms:.1f} ms > warn limit {limits.warn_ms:.1f} ms"
    else:
        level, message = DiagnosticStatus.OK, f"{latency_ms:.1f} ms"
    values = {"latency_ms": f"{latency_ms:.3f}", "warn_ms": f"{limits.warn_ms:.3f}", "error_ms": f"{limits.error_ms:.3f}"}
    return _status(f"{config.name}: stage {stage}", level, message, values, config)


def sync_status(window: SyncHealthWindow, counters: SyncCounters, config: DiagnosticsConfig,
                cameras_missing: Sequence[str] = ()) -> DiagnosticStatus:  # fmt: skip
    """Sensor synchronisation health: STALE before any sweep, else graded by the worse of the two ratios."""
    worst = max(window.dropped_ratio, window.degraded_ratio)
    if window.sweeps == 0:
        level, message = DiagnosticStatus.STALE, "no LiDAR sweeps yet"
    else:
        if worst > config.sync_error_ratio:
            level = DiagnosticStatus.ERROR
        elif worst > config.sync_warn_ratio:
            level = DiagnosticStatus.WARN
        else:
            level = DiagnosticStatus.OK
        message = f"{window.dropped_ratio:.0%} dropped, {window.degraded_ratio:.0%} degraded over the last {window.sweeps} sweeps"
    values = {
        "window_sweeps": str(window.sweeps),
        "dropped_ratio": f"{window.dropped_ratio:.4f}",
        "degraded_ratio": f"{window.degraded_ratio:.4f}",
        "processed": str(counters.processed),
        "dropped": str(counters.dropped),
        "degraded": str(counters.degraded),
        "cameras_missing": ",".join(cameras_missing),
    }
    return _status(f"{config.name}: sensor sync", level, message, values, config)


def diagnostic_array(
    stamp_ns: int,
    latencies: Mapping[str, float],
    window: SyncHealthWindow,
    counters: SyncCounters,
    config: DiagnosticsConfig | None = None,
    cameras_missing: Sequence[str] = (),
) -> DiagnosticArray:
    """One status per stage (in ``latencies`` order), then the sensor-sync status."""
    config = config or DiagnosticsConfig()
    statuses = [latency_status(stage, float(ms), config.limits_for(stage), config) for stage, ms in latencies.items()]
    statuses.append(sync_status(window, counters, config, cameras_missing))
    return DiagnosticArray(header=make_header(stamp_ns=stamp_ns), status=statuses)


def _status(name: str, level: bytes, message: str, values: Mapping[str, str], config: DiagnosticsConfig) -> DiagnosticStatus:
    return DiagnosticStatus(
        level=level,
        name=name,
        message=message,
        hardware_id=config.hardware_id,
        values=[KeyValue(key=key, value=value) for key, value in values.items()],
    )
