"""Sensor rig presets: KITTI-like HDL-64/HDL-32 with a front camera, six-camera surround rigs, a tiny test rig."""

from __future__ import annotations

import numpy as np

from panoptic_perception.core import CameraModel

from ..frame import LidarSpec, Rig

LIDAR_HEIGHT = 1.73  # [m] above the ground, as on the KITTI car

# KITTI odometry Tr_velo_to_cam (sequence 00): LiDAR -> camera optical frame.
_T_CAM_VELO_KITTI = np.array([
    [7.533745e-03, -9.999714e-01, -6.166020e-04, -4.069766e-03],
    [1.480249e-02, 7.280733e-04, -9.998902e-01, -7.631618e-02],
    [9.998621e-01, 7.523790e-03, 1.480755e-02, -2.717806e-01],
    [0.0, 0.0, 0.0, 1.0],
])
# LiDAR axes (x forward, y left, z up) -> optical axes (x right, y down, z forward).
_R_OPTICAL_LIDAR = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])

PRESETS = ("hdl64-front", "hdl32-front", "hdl64-surround", "hdl32-surround", "tiny")


def _kitti_camera(name: str = "front", width: int = 1241, height: int = 376) -> CameraModel:
    s = width / 1241.0
    K = np.array([[718.856 * s, 0.0, 607.1928 * s], [0.0, 718.856 * s, 185.2157 * height / 376.0], [0.0, 0.0, 1.0]])
    return CameraModel(name, width, height, K, _T_CAM_VELO_KITTI.copy())


def _surround_cameras(width: int = 800, height: int = 450) -> dict[str, CameraModel]:
    """Six cameras every 60° of yaw with a 70° horizontal FOV (nuScenes-like), 0.3 m around the LiDAR."""
    f = width / 2 / np.tan(np.radians(35.0))
    K = np.array([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]])
    cams = {}
    for name, yaw_deg in (("front", 0), ("front_left", 60), ("back_left", 120), ("back", 180), ("back_right", -120),
                          ("front_right", -60)):
        yaw = np.radians(yaw_deg)
        R_lidar_mount = np.array([[np.cos(yaw), -np.sin(yaw), 0.0], [np.sin(yaw), np.cos(yaw), 0.0], [0.0, 0.0, 1.0]])
        t_lidar_cam = R_lidar_mount @ np.array([0.3, 0.0, -0.25])
        R_cam_lidar = _R_OPTICAL_LIDAR @ R_lidar_mount.T
        T = np.eye(4)
        T[:3, :3] = R_cam_lidar
        T[:3, 3] = -R_cam_lidar @ t_lidar_cam
        cams[name] = CameraModel(name, width, height, K, T)
    return cams


def make_rig(name: str = "hdl64-front") -> Rig:
    """A preset rig by name; see ``PRESETS``."""
    T_base_lidar = np.eye(4)
    T_base_lidar[2, 3] = LIDAR_HEIGHT
    if name in ("hdl64-front", "hdl64-surround"):
        lidar = LidarSpec("hdl64", beams=64, columns=2048, fov_up_deg=2.0, fov_down_deg=-24.8)
    elif name in ("hdl32-front", "hdl32-surround"):
        lidar = LidarSpec("hdl32", beams=32, columns=1024, fov_up_deg=10.0, fov_down_deg=-30.0)
    elif name == "tiny":
        lidar = LidarSpec("tiny", beams=16, columns=256, fov_up_deg=2.0, fov_down_deg=-24.8, max_range=80.0)
        return Rig(lidar, {"front": _kitti_camera("front", 160, 64)}, T_base_lidar)
    else:
        raise ValueError(f"unknown rig preset {name!r}; presets: {', '.join(PRESETS)}")
    cameras = _surround_cameras() if name.endswith("surround") else {"front": _kitti_camera()}
    return Rig(lidar, cameras, T_base_lidar)
