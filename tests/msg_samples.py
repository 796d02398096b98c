"""One fully populated instance of every panoptic_msgs message, for round-trip tests."""

from __future__ import annotations

from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point, Vector3
from std_msgs.msg import ColorRGBA, Header

from panoptic_msgs.msg import (
    ClassInfo,
    ClassMap,
    MapInstance,
    MapInstanceArray,
    PipelineStatus,
    StageLatency,
    Track,
    TrackArray,
)


def _header() -> Header:
    return Header(stamp=Time(sec=1_700_000_123, nanosec=456_789), frame_id="lidar")


def track() -> Track:
    return Track(
        track_id=4_000_000_001, class_id=1, class_name="car", score=0.875, age=12, hits=11,
        state=Track.STATE_CONFIRMED, centroid=Point(x=10.5, y=-2.25, z=0.75),
        box_center=Point(x=10.0, y=-2.0, z=0.8), box_size=Vector3(x=4.5, y=1.8, z=1.5),
        box_yaw=0.3125, velocity=Vector3(x=5.0, y=0.5, z=0.0), num_points=742,
    )


def samples() -> dict[type, object]:
    second = track()
    second.track_id, second.class_id, second.class_name, second.state = 2, 6, "person", Track.STATE_LOST
    instance = MapInstance(
        instance_id=77, class_id=4, class_name="truck", confidence=0.5, num_observations=30, num_voxels=1234,
        centroid=Point(x=1.0, y=2.0, z=3.0), box_center=Point(x=1.0, y=2.0, z=2.5),
        box_size=Vector3(x=8.0, y=2.5, z=3.5), box_yaw=-1.5,
        first_seen=Time(sec=10, nanosec=1), last_seen=Time(sec=20, nanosec=2),
    )
    return {
        Track: track(),
        TrackArray: TrackArray(header=_header(), tracks=[track(), second]),
        MapInstance: instance,
        MapInstanceArray: MapInstanceArray(header=Header(frame_id="odom"), instances=[instance, instance]),
        ClassInfo: ClassInfo(id=19, name="traffic-sign", is_thing=False, color=ColorRGBA(r=1.0, g=0.0, b=0.0, a=1.0)),
        ClassMap: ClassMap(
            header=_header(), dataset="semantickitti",
            classes=[ClassInfo(id=0, name="unlabeled"), ClassInfo(id=1, name="car", is_thing=True)],
        ),
        StageLatency: StageLatency(stage="fusion", latency_ms=42.5),
        PipelineStatus: PipelineStatus(
            header=_header(), mode=PipelineStatus.MODE_DEGRADED,
            stage_latencies=[StageLatency(stage="fusion", latency_ms=40.0), StageLatency(stage="tracking", latency_ms=2.5)],
            total_latency_ms=61.0, lidar_used=True, cameras_used=["front"], cameras_missing=["rear"],
            camera_reliability=[0.25], frames_processed=2**40, frames_dropped=3, frames_degraded=7,
            reason="camera rear: no image within 50 ms",
        ),
    }
