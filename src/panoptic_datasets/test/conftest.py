"""Fixtures shared by the panoptic_datasets tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from panoptic_datasets.frame import CameraTruth, LabeledFrame, ObjectState
from panoptic_perception.core import CameraImage, CameraModel, SensorFrame

# --- Hand-built frames for the format round-trip tests: random points, a tiny camera. ---

BASE_STAMP_NS = 1_700_000_000_123_456_000  # microsecond-aligned so nuScenes (us) round-trips exactly


def tiny_camera(name: str = "front", yaw_deg: float = 0.0) -> CameraModel:
    c, s = np.cos(np.radians(yaw_deg)), np.sin(np.radians(yaw_deg))
    R_lidar_yawed = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    optical = np.array([[0, -1, 0], [0, 0, -1], [1, 0, 0]], dtype=np.float64)
    T = np.eye(4)
    T[:3, :3] = optical @ R_lidar_yawed.T
    T[:3, 3] = [0.05, -0.3, 0.1]
    K = np.array([[30.0, 0, 16.5], [0, 31.0, 8.25], [0, 0, 1]])
    return CameraModel(name, 32, 16, K, T, D=np.array([0.01, -0.002, 0.0, 0.0, 0.0]))


def make_tiny_frames(
    num_frames: int = 3, num_points: int = 200, cameras: tuple[str, ...] = ("front", "left"), seed: int = 0, flow: bool = True
) -> list[LabeledFrame]:
    rng = np.random.default_rng(seed)
    models = [tiny_camera(name, 90.0 * k) for k, name in enumerate(cameras)]
    frames = []
    for i in range(num_frames):
        n = num_points + 7 * i
        xyz = rng.uniform(-20, 20, (n, 3)).astype(np.float32)
        points = np.column_stack([xyz, rng.uniform(0, 1, n).astype(np.float32)])
        semantic = rng.integers(0, 20, n)
        instance = np.where((semantic >= 1) & (semantic <= 8), rng.integers(1, 50, n), 0)
        label = (semantic | (instance << 16)).astype(np.uint32)
        stamp = BASE_STAMP_NS + i * 100_000_000
        images = {
            m.name: CameraImage(m, stamp + 1000 * (k + 1), rng.integers(0, 256, (m.height, m.width, 3), dtype=np.uint8))
            for k, m in enumerate(models)
        }
        truths = {}
        for m in models:
            depth = rng.uniform(1, 80, (m.height, m.width)).astype(np.float32)
            depth[0, :4] = 0.0
            truths[m.name] = CameraTruth(
                semantic=rng.integers(0, 20, (m.height, m.width)).astype(np.uint16),
                instance=rng.integers(0, 40, (m.height, m.width)).astype(np.uint32),
                depth=depth,
                flow=rng.normal(0, 2, (m.height, m.width, 2)).astype(np.float32) if flow else None,
            )
        yaw = 0.1 * i
        T = np.eye(4)
        T[:3, :3] = [[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]]
        T[:3, 3] = [3.0 + 1.5 * i, -2.0 + 0.2 * i, 1.8]
        objects = [
            ObjectState(7, 1, np.array([10.0 + i, 2.0, 0.8]), np.array([4.2, 1.8, 1.5]), 0.3, np.array([5.0, 0.0, 0.0]), True),
            ObjectState(12, 6, np.array([5.0, -3.0, 0.9]), np.array([0.6, 0.6, 1.8]), -1.2, np.zeros(3), False),
        ]
        sensor = SensorFrame(stamp, points, images, rng.uniform(-0.1, 0, n).astype(np.float32), "lidar", 4, i)
        frames.append(LabeledFrame(sensor, label, T, truths, objects))
    return frames


@pytest.fixture
def tiny_frames() -> Callable[..., list[LabeledFrame]]:
    """tiny_frames(num_frames=3, num_points=200, cameras=("front", "left"), seed=0, flow=True)."""
    return make_tiny_frames
