"""ROS-free sensor data: what one synchronized LiDAR sweep and its camera images carry.

Conventions: points are in the LiDAR frame [m]; ``T_a_b`` is the 4x4 transform that maps
points from frame b into frame a (``p_a = T_a_b @ p_b``); stamps are integer nanoseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class CameraModel:
    """A pinhole camera (optionally with plumb-bob distortion) and its pose on the rig."""

    name: str
    width: int
    height: int
    K: np.ndarray  # (3, 3) intrinsics
    T_cam_lidar: np.ndarray  # (4, 4) LiDAR -> camera optical frame (z forward, x right, y down)
    D: np.ndarray = field(default_factory=lambda: np.zeros(5))  # plumb-bob k1 k2 t1 t2 k3

    def __post_init__(self) -> None:
        self.K = np.asarray(self.K, dtype=np.float64).reshape(3, 3)
        self.T_cam_lidar = np.asarray(self.T_cam_lidar, dtype=np.float64).reshape(4, 4)
        self.D = np.asarray(self.D, dtype=np.float64).ravel()
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"camera {self.name!r}: image size must be positive, got {self.width}x{self.height}")

    def project(self, points_lidar: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Project (N, 3) LiDAR points (distortion ignored).

        Returns pixel coordinates (N, 2) as float (u right, v down), depth (N,) along the optical
        axis, and a mask of points in front of the camera that land inside the image.
        """
        pts = np.asarray(points_lidar, dtype=np.float64)
        cam = pts @ self.T_cam_lidar[:3, :3].T + self.T_cam_lidar[:3, 3]
        depth = cam[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = (cam[:, :2] / depth[:, None]) * np.diag(self.K)[:2] + self.K[:2, 2]
        inside = (depth > 1e-3) & (uv[:, 0] >= 0) & (uv[:, 0] < self.width) & (uv[:, 1] >= 0) & (uv[:, 1] < self.height)
        return uv, depth, inside


@dataclass
class CameraImage:
    """One camera image, RGB uint8 (H, W, 3), with its stamp and camera model."""

    camera: CameraModel
    stamp_ns: int
    rgb: np.ndarray

    def __post_init__(self) -> None:
        if self.rgb.shape != (self.camera.height, self.camera.width, 3) or self.rgb.dtype != np.uint8:
            raise ValueError(
                f"camera {self.camera.name!r}: expected uint8 image of shape "
                f"{(self.camera.height, self.camera.width, 3)}, got {self.rgb.dtype} {self.rgb.shape}"
            )


@dataclass
class SensorFrame:
    """One LiDAR sweep and the camera images matched to it.

    ``points`` is (N, 4) float32: x, y, z [m] and intensity in [0, 1]. ``point_time`` is the
    per-point time offset [s] from ``stamp_ns`` (the sweep stamp), or None when unknown.
    """

    stamp_ns: int
    points: np.ndarray
    cameras: dict[str, CameraImage] = field(default_factory=dict)
    point_time: np.ndarray | None = None
    lidar_frame: str = "lidar"
    sequence: int = 0
    index: int = 0

    def __post_init__(self) -> None:
        pts = np.asarray(self.points)
        if pts.ndim != 2 or pts.shape[1] != 4:
            raise ValueError(f"points must be (N, 4) x, y, z, intensity; got shape {pts.shape}")
        self.points = pts.astype(np.float32, copy=False)
        if self.point_time is not None and len(self.point_time) != len(self.points):
            raise ValueError(f"point_time has {len(self.point_time)} entries for {len(self.points)} points")

    @property
    def xyz(self) -> np.ndarray:
        return self.points[:, :3]

    @property
    def intensity(self) -> np.ndarray:
        return self.points[:, 3]


@dataclass
class PanopticCloud:
    """Per-point panoptic output of a sweep (all arrays length N, aligned with the input points)."""

    stamp_ns: int
    points: np.ndarray  # (N, 4) float32 x, y, z, intensity
    class_id: np.ndarray  # (N,) uint16
    instance_id: np.ndarray  # (N,) uint32, 0 for stuff / none
    score: np.ndarray  # (N,) float32 in [0, 1]
    uncertainty: np.ndarray  # (N,) float32 camera-feature uncertainty in [0, 1]
    track_id: np.ndarray | None = None  # (N,) uint32, 0 = untracked
    frame_id: str = "lidar"

    @property
    def label(self) -> np.ndarray:
        """Packed uint32 label: class | instance << 16 (instance truncated to 16 bits)."""
        return self.class_id.astype(np.uint32) | ((self.instance_id.astype(np.uint32) & 0xFFFF) << 16)
