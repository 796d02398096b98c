"""PipelineStatus and /diagnostics: fields, latency levels, sync-health levels, input checks."""

from __future__ import annotations

import math

import pytest
from diagnostic_msgs.msg import DiagnosticStatus

from panoptic_msgs.msg import PipelineStatus
from panoptic_perception.core import SyncCounters, SyncHealthWindow
from panoptic_perception.ros.diagnostics import (
    DiagnosticsConfig,
    LatencyLimits,
    diagnostic_array,
    latency_status,
    pipeline_status_msg,
    sync_status,
)
from panoptic_perception.ros.stamps import stamp_to_ns

OK, WARN, ERROR, STALE = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR, DiagnosticStatus.STALE


def _status_args(**overrides):
    args = dict(
        stamp_ns=7_250_000_000,
        frame_id="lidar",
        latencies={"convert": 1.5, "fusion": 30.25},
        total_ms=42.0,
        mode="degraded",
        lidar_used=True,
        cameras_used=["front"],
        cameras_missing=["rear"],
        camera_reliability=[0.75],
        counters=SyncCounters(processed=10, dropped=2, degraded=3),
        reason="camera rear timed out",
    )
    return args | overrides


def _values(status: DiagnosticStatus) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


def _window(processed: int, dropped: int, degraded: int, size: int = 100) -> SyncHealthWindow:
    window = SyncHealthWindow(size)
    window.update(SyncCounters(processed, dropped, degraded))
    return window


def test_pipeline_status_carries_every_field():
    msg = pipeline_status_msg(**_status_args())

    assert stamp_to_ns(msg.header.stamp) == 7_250_000_000 and msg.header.frame_id == "lidar"
    assert msg.mode == PipelineStatus.MODE_DEGRADED
    assert [(s.stage, s.latency_ms) for s in msg.stage_latencies] == [("convert", 1.5), ("fusion", 30.25)]
    assert msg.total_latency_ms == 42.0
    assert msg.lidar_used is True
    assert (list(msg.cameras_used), list(msg.cameras_missing)) == (["front"], ["rear"])
    assert list(msg.camera_reliability) == [0.75]
    assert (msg.frames_processed, msg.frames_dropped, msg.frames_degraded) == (10, 2, 3)
    assert msg.reason == "camera rear timed out"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("fusion", 0), ("lidar_only", 1), ("camera_only", 2), ("degraded", 3), (PipelineStatus.MODE_CAMERA_ONLY, 2)],
)
def test_pipeline_status_mode_is_given_by_name_or_value(mode, expected):
    assert pipeline_status_msg(**_status_args(mode=mode)).mode == expected


def test_pipeline_status_rejects_unknown_modes_and_mismatched_reliabilities():
    with pytest.raises(ValueError, match="unknown pipeline mode 'radar_only'; valid modes: fusion, lidar_only"):
        pipeline_status_msg(**_status_args(mode="radar_only"))
    with pytest.raises(ValueError, match="pipeline mode must be one of"):
        pipeline_status_msg(**_status_args(mode=7))
    with pytest.raises(ValueError, match=r"camera_reliability has 2 entries, expected one per cameras_used \(1\)"):
        pipeline_status_msg(**_status_args(camera_reliability=[0.5, 0.5]))
    with pytest.raises(ValueError, match=r"camera_reliability of 'front' must be in \[0, 1\], got 1.5"):
        pipeline_status_msg(**_status_args(camera_reliability=[1.5]))


@pytest.mark.parametrize(
    ("latency_ms", "level", "message"),
    [
        (10.0, OK, "10.0 ms"),
        (50.0, OK, "50.0 ms"),  # at the warn limit: not above it
        (50.5, WARN, "50.5 ms > warn limit 50.0 ms"),
        (80.0, WARN, "80.0 ms > warn limit 50.0 ms"),
        (80.1, ERROR, "80.1 ms > error limit 80.0 ms"),
        (math.nan, ERROR, "latency is nan"),
    ],
)
def test_latency_levels_follow_the_warn_and_error_limits(latency_ms, level, message):
    config = DiagnosticsConfig(name="perception", hardware_id="vehicle-1")
    status = latency_status("fusion", latency_ms, LatencyLimits(warn_ms=50.0, error_ms=80.0), config)

    assert status.level == level
    assert status.message == message
    assert status.name == "perception: stage fusion"
    assert status.hardware_id == "vehicle-1"
    assert _values(status)["warn_ms"] == "50.000" and _values(status)["error_ms"] == "80.000"


def test_diagnostic_array_has_one_status_per_stage_with_per_stage_limits_then_sync():
    config = DiagnosticsConfig(
        latency=LatencyLimits(warn_ms=20.0, error_ms=40.0), stage_latency={"fusion": LatencyLimits(warn_ms=60.0, error_ms=90.0)}
    )
    latencies = {"convert": 25.0, "fusion": 55.0, "tracking": 45.0}

    array = diagnostic_array(3_000_000_000, latencies, _window(100, 0, 0), SyncCounters(100, 0, 0), config)

    assert stamp_to_ns(array.header.stamp) == 3_000_000_000
    assert [s.name for s in array.status] == [
        "panoptic_perception: stage convert",
        "panoptic_perception: stage fusion",
        "panoptic_perception: stage tracking",
        "panoptic_perception: sensor sync",
    ]
    assert [s.level for s in array.status] == [WARN, OK, ERROR, OK]
    assert _values(array.status[0])["latency_ms"] == "25.000"
    assert _values(array.status[1])["warn_ms"] == "60.000"


@pytest.mark.parametrize(
    ("processed", "dropped", "degraded", "level"),
    [
        (100, 0, 10, OK),  # 10 % degraded: at the warn ratio, not above
        (100, 0, 11, WARN),
        (95, 5, 0, OK),
        (88, 12, 0, WARN),
        (40, 0, 21, ERROR),  # 52.5 % degraded
        (45, 55, 0, ERROR),
    ],
)
def test_sync_level_follows_the_worse_of_the_dropped_and_degraded_ratios(processed, dropped, degraded, level):
    config = DiagnosticsConfig(sync_warn_ratio=0.1, sync_error_ratio=0.5)
    window = _window(processed, dropped, degraded)
    assert sync_status(window, SyncCounters(processed, dropped, degraded), config).level == level


def test_sync_status_reports_ratios_counters_and_missing_cameras():
    window = _window(90, 10, 18)
    status = sync_status(window, SyncCounters(1090, 25, 40), DiagnosticsConfig(), cameras_missing=["rear", "left"])

    assert status.message == "10% dropped, 20% degraded over the last 100 sweeps"
    assert _values(status) == {
        "window_sweeps": "100",
        "dropped_ratio": "0.1000",
        "degraded_ratio": "0.2000",
        "processed": "1090",
        "dropped": "25",
        "degraded": "40",
        "cameras_missing": "rear,left",
    }


def test_sync_status_is_stale_before_any_sweep():
    status = sync_status(SyncHealthWindow(), SyncCounters(), DiagnosticsConfig())
    assert status.level == STALE
    assert status.message == "no LiDAR sweeps yet"


def test_limits_must_be_ordered():
    with pytest.raises(ValueError, match="warn_ms <= error_ms"):
        LatencyLimits(warn_ms=50.0, error_ms=10.0)
    with pytest.raises(ValueError, match="sync_warn_ratio <= sync_error_ratio"):
        DiagnosticsConfig(sync_warn_ratio=0.6, sync_error_ratio=0.5)


@pytest.mark.benchmark(group="status + diagnostics per frame")
def test_benchmark_status_and_diagnostics_of_one_frame(benchmark):
    stages = {
        name: 5.0 * (i + 1) for i, name in enumerate(["convert", "fusion", "tracking", "odometry", "depth", "map", "publish"])
    }
    window = _window(95, 1, 4)
    counters = SyncCounters(95, 1, 4)

    def one_frame():
        status = pipeline_status_msg(**_status_args(latencies=stages, counters=counters))
        return status, diagnostic_array(1, stages, window, counters)

    status, array = benchmark(one_frame)
    assert len(status.stage_latencies) == 7
    assert [s.level for s in array.status] == [OK] * 8  # 5-35 ms under the default 100 ms; 1 % dropped, 4 % degraded
