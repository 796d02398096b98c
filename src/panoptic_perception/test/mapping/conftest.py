"""Tiny synthetic scenes for the mapping tests: box-shaped cars and a ground patch, seen from a viewpoint."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import numpy as np
import pytest

from panoptic_perception.core import PanopticCloud

CAR, ROAD, SIDEWALK = 1, 9, 11


def box_surface(center: np.ndarray, size: np.ndarray, yaw: float, spacing: float, viewpoint: np.ndarray) -> np.ndarray:
    """Points on the faces of a box (no bottom) that face ``viewpoint`` (odom frame)."""
    l, w, h = size
    R = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
    faces = []  # (normal, points in the box frame)
    a = np.arange(-l / 2, l / 2 + 1e-9, spacing)
    b = np.arange(-w / 2, w / 2 + 1e-9, spacing)
    c = np.arange(0.0, h + 1e-9, spacing)
    for sx in (-1, 1):
        B, C = np.meshgrid(b, c)
        faces.append((np.array([sx, 0, 0]), np.stack([np.full(B.size, sx * l / 2), B.ravel(), C.ravel()], 1)))
    for sy in (-1, 1):
        A, C = np.meshgrid(a, c)
        faces.append((np.array([0, sy, 0]), np.stack([A.ravel(), np.full(A.size, sy * w / 2), C.ravel()], 1)))
    A, B = np.meshgrid(a, b)
    faces.append((np.array([0, 0, 1]), np.stack([A.ravel(), B.ravel(), np.full(A.size, h)], 1)))
    out = []
    for normal, pts in faces:
        world = pts @ R.T + center
        face_centre = world.mean(axis=0)
        if (R @ normal) @ (viewpoint - face_centre) > 0:
            out.append(world)
    return np.concatenate(out)


def ground(x0: float, x1: float, y0: float, y1: float, spacing: float = 0.1) -> np.ndarray:
    X, Y = np.meshgrid(np.arange(x0, x1, spacing), np.arange(y0, y1, spacing))
    return np.stack([X.ravel(), Y.ravel(), np.zeros(X.size)], 1)


def make_cloud(world_points: np.ndarray, class_id: np.ndarray, instance_id: np.ndarray, T_odom_lidar: np.ndarray,
               track_id: np.ndarray | None = None, stamp_ns: int = 0) -> PanopticCloud:
    T_inv = np.linalg.inv(T_odom_lidar)
    local = world_points @ T_inv[:3, :3].T + T_inv[:3, 3]
    n = local.shape[0]
    pts = np.zeros((n, 4), np.float32)
    pts[:, :3] = local
    return PanopticCloud(stamp_ns, pts, np.asarray(class_id, np.uint16), np.asarray(instance_id, np.uint32),
                         np.ones(n, np.float32), np.zeros(n, np.float32),
                         None if track_id is None else np.asarray(track_id, np.uint32))


def pose(x: float, y: float, z: float = 1.7) -> np.ndarray:
    T = np.eye(4)
    T[:3, 3] = (x, y, z)
    return T


@pytest.fixture
def car_view() -> Callable[..., tuple[PanopticCloud, np.ndarray]]:
    """A scene of parked cars on a road patch seen from ``viewpoint``; per-frame instance ids given by the caller."""

    def build(viewpoint: tuple[float, float], cars: list[tuple[np.ndarray, float]], frame_ids: list[int],
              stamp_ns: int = 0) -> tuple[PanopticCloud, np.ndarray]:
        T = pose(*viewpoint)
        parts, cls, inst = [ground(-6, 12, -8, 8, 0.15)], [np.full(0, 0)], [np.full(0, 0)]
        cls[0] = np.full(len(parts[0]), ROAD)
        inst[0] = np.zeros(len(parts[0]), np.int64)
        for (centre, yaw), iid in zip(cars, frame_ids, strict=True):
            p = box_surface(centre, np.array([4.2, 1.8, 1.5]), yaw, 0.08, T[:3, 3])
            parts.append(p)
            cls.append(np.full(len(p), CAR))
            inst.append(np.full(len(p), iid))
        return make_cloud(np.concatenate(parts), np.concatenate(cls), np.concatenate(inst), T, stamp_ns=stamp_ns), T

    return build


@pytest.fixture
def scene() -> SimpleNamespace:
    """The helpers above, for tests that build their own scenes."""
    return SimpleNamespace(box_surface=box_surface, ground=ground, make_cloud=make_cloud, pose=pose,
                           CAR=CAR, ROAD=ROAD, SIDEWALK=SIDEWALK)
