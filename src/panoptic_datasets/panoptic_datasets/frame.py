"""A sensor frame with its full ground truth: the unit every generator, reader and writer exchanges.

Frames: ``world`` is a fixed frame (odometry starts at identity in the first frame of a
sequence); ``T_world_lidar`` is the LiDAR pose at the sweep stamp. Object states are in
the world frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from panoptic_perception.core import CameraModel, SensorFrame


@dataclass
class LidarSpec:
    """A spinning LiDAR: beams spread over a vertical FOV, columns over 360° of azimuth."""

    name: str
    beams: int
    columns: int
    fov_up_deg: float
    fov_down_deg: float
    max_range: float = 120.0
    min_range: float = 0.9
    rate_hz: float = 10.0


@dataclass
class Rig:
    """The sensor rig: one LiDAR and M cameras. ``T_base_lidar`` maps LiDAR points to base_link."""

    lidar: LidarSpec
    cameras: dict[str, CameraModel]
    T_base_lidar: np.ndarray = field(default_factory=lambda: np.eye(4))


@dataclass
class ObjectState:
    """Ground truth of one object (thing) at a frame, in the world frame."""

    instance_id: int  # unique within the sequence
    class_id: int
    center: np.ndarray  # (3,) box centre [m]
    size: np.ndarray  # (3,) length, width, height [m]
    yaw: float  # heading about +z [rad]
    velocity: np.ndarray  # (3,) [m/s]
    moving: bool


@dataclass
class CameraTruth:
    """Per-pixel ground truth of one camera image."""

    semantic: np.ndarray  # (H, W) uint16 class id, 0 = unlabeled / sky
    instance: np.ndarray  # (H, W) uint32 instance id, 0 = stuff or none
    depth: np.ndarray  # (H, W) float32 depth along the optical axis [m], 0 where nothing was hit
    flow: np.ndarray | None = None  # (H, W, 2) float32 forward flow to the next frame [px], NaN if undefined


@dataclass
class LabeledFrame:
    """A sensor frame and everything that is true about it."""

    sensor: SensorFrame
    point_label: np.ndarray  # (N,) uint32 packed semantic | instance << 16, aligned with sensor.points
    T_world_lidar: np.ndarray  # (4, 4)
    cameras: dict[str, CameraTruth] = field(default_factory=dict)
    objects: list[ObjectState] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.point_label) != len(self.sensor.points):
            raise ValueError(f"{len(self.point_label)} labels for {len(self.sensor.points)} points")
        self.point_label = np.asarray(self.point_label, dtype=np.uint32)
        self.T_world_lidar = np.asarray(self.T_world_lidar, dtype=np.float64).reshape(4, 4)
