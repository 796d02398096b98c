"""A synthetic multi-object world for the tracker tests: objects moving in 3D, a moving ego LiDAR, noisy detections.

Objects follow piecewise-linear world paths (waypoints in time), carry a fixed set of surface points (what
a LiDAR would keep hitting) and a distinct unit association vector (orthonormal directions, so two objects'
vectors are sqrt(2) apart; each detection adds Gaussian noise). Detections are produced in the LiDAR frame.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest

from panoptic_perception.tracking import Detection, TrackOutput


@dataclass
class SimObject:
    gt_id: int
    class_id: int
    waypoints: Sequence[tuple[float, tuple[float, float, float]]]  # (time [s], world position [m])
    size: tuple[float, float, float] = (0.6, 0.6, 1.7)
    hidden: frozenset[int] = frozenset()  # frames without a detection
    first_frame: int = 0
    last_frame: int = 10**9

    def position(self, t: float) -> np.ndarray:
        times = np.array([w[0] for w in self.waypoints])
        pos = np.array([w[1] for w in self.waypoints], dtype=np.float64)
        if len(times) == 1:
            return pos[0]
        k = int(np.clip(np.searchsorted(times, t) - 1, 0, len(times) - 2))
        a = (t - times[k]) / (times[k + 1] - times[k])
        return pos[k] + a * (pos[k + 1] - pos[k])


@dataclass
class SimFrame:
    stamp_ns: int
    T_world_lidar: np.ndarray
    detections: list[Detection]
    gt_ids: list[int]  # ground-truth object of each detection
    num_points: int
    world_positions: dict[int, np.ndarray] = field(default_factory=dict)


def yaw_pose(x: float, y: float, yaw: float) -> np.ndarray:
    T = np.eye(4)
    c, s = np.cos(yaw), np.sin(yaw)
    T[:2, :2] = [[c, -s], [s, c]]
    T[:2, 3] = [x, y]
    return T


def simulate(objects: Sequence[SimObject], n_frames: int, *, dt: float = 0.1, ego_speed: float = 5.0,
             ego_yaw_rate: float = 0.05, noise_m: float = 0.02, embedding_dim: int = 32, embedding_noise: float = 0.03,
             points_per_object: int = 80, background_points: int = 100, seed: int = 0) -> list[SimFrame]:
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(embedding_dim, embedding_dim)))[0]
    embeddings = {o.gt_id: basis[i] for i, o in enumerate(objects)}
    surfaces = {}
    for o in objects:  # points on the box faces, fixed in the object frame
        half = np.array(o.size) / 2
        local = rng.uniform(-half, half, size=(points_per_object, 3))
        face = rng.integers(0, 3, points_per_object)
        local[np.arange(points_per_object), face] = np.sign(rng.normal(size=points_per_object)) * half[face]
        surfaces[o.gt_id] = local
    frames = []
    ego_x = ego_y = ego_yaw = 0.0
    for f in range(n_frames):
        t = f * dt
        T = yaw_pose(ego_x, ego_y, ego_yaw)
        T_inv = np.linalg.inv(T)
        chunks = [rng.uniform(-30, 30, size=(background_points, 3))]
        offset = background_points
        detections, gt_ids, world_positions = [], [], {}
        for o in objects:
            if not o.first_frame <= f <= o.last_frame:
                continue
            p_world = o.position(t)
            world_positions[o.gt_id] = p_world
            if f in o.hidden:
                continue
            pts_world = p_world + surfaces[o.gt_id] + rng.normal(scale=noise_m, size=surfaces[o.gt_id].shape)
            pts = pts_world @ T_inv[:3, :3].T + T_inv[:3, 3]
            emb = embeddings[o.gt_id] + rng.normal(scale=embedding_noise, size=embedding_dim)
            idx = np.arange(offset, offset + len(pts))
            chunks.append(pts)
            offset += len(pts)
            det = Detection.from_points(np.concatenate(chunks), idx, o.class_id, float(rng.uniform(0.7, 0.99)), emb)
            detections.append(det)
            gt_ids.append(o.gt_id)
        frames.append(SimFrame(int(1_000_000_000 + round(t * 1e9)), T, detections, gt_ids, offset, world_positions))
        ego_x += ego_speed * dt * np.cos(ego_yaw)
        ego_y += ego_speed * dt * np.sin(ego_yaw)
        ego_yaw += ego_yaw_rate * dt
    return frames


def id_switches(assigned: dict[int, list[int]]) -> int:
    """Changes of the track ID given to each ground-truth object across the frames it was tracked."""
    return sum(sum(a != b for a, b in zip(ids, ids[1:], strict=False)) for ids in assigned.values())


def run_tracker(tracker: object, frames: Sequence[SimFrame], use_poses: bool = True
                ) -> tuple[dict[int, list[int]], list[list[TrackOutput]]]:
    """Track every frame; returns {gt id: track IDs per observed frame} and the outputs of each frame."""
    assigned: dict[int, list[int]] = {}
    history = []
    for fr in frames:
        outputs = tracker.update(fr.detections, fr.stamp_ns, fr.T_world_lidar if use_poses else None)  # type: ignore[attr-defined]
        history.append(outputs)
        for o in outputs:
            if o.detection_index >= 0:
                assigned.setdefault(fr.gt_ids[o.detection_index], []).append(o.track_id)
    return assigned, history


def crossing_world() -> list[SimObject]:
    """The main scenario (40 frames at 10 Hz, ego at 5 m/s turning slowly)."""
    return [
        SimObject(1, 1, [(0.0, (5.0, 6.0, 0.8)), (4.0, (37.0, 6.0, 0.8))], size=(4.0, 1.8, 1.5)),  # car, 8 m/s
        # Two persons crossing in an X, 0.3 m apart at the crossing (t = 2 s)
        SimObject(2, 6, [(0.0, (17.0, -3.0, 0.9)), (4.0, (23.0, 3.0, 0.9))]),
        SimObject(3, 6, [(0.0, (17.0, 3.3, 0.9)), (4.0, (23.0, -2.7, 0.9))]),
        # A car occluded for 5 frames (15-19), then back
        SimObject(4, 1, [(0.0, (10.0, -8.0, 0.8)), (4.0, (26.0, -8.0, 0.8))], size=(4.0, 1.8, 1.5),
                  hidden=frozenset(range(15, 20))),
        SimObject(5, 5, [(0.0, (30.0, -4.0, 1.0))], size=(6.0, 2.5, 3.0)),  # parked, static
        SimObject(6, 1, [(0.0, (40.0, 8.0, 0.8)), (4.0, (28.0, 8.0, 0.8))], size=(4.0, 1.8, 1.5), first_frame=20),
    ]


def turn_back_world() -> list[SimObject]:
    """Two persons meet head-on 0.1 m apart at t = 1 s and both turn back: constant velocity predicts each
    track onto the other person."""
    return [
        SimObject(1, 6, [(0.0, (-1.5, 0.0, 0.9)), (1.0, (0.0, 0.0, 0.9)), (2.0, (-1.5, 0.0, 0.9))]),
        SimObject(2, 6, [(0.0, (1.5, 0.1, 0.9)), (1.0, (0.0, 0.1, 0.9)), (2.0, (1.5, 0.1, 0.9))]),
    ]


@pytest.fixture
def world() -> Callable[..., list[SimFrame]]:
    return simulate


@pytest.fixture
def crossing_frames() -> list[SimFrame]:
    return simulate(crossing_world(), 40)


@pytest.fixture
def turn_back_frames() -> list[SimFrame]:
    return simulate(turn_back_world(), 21, ego_speed=0.0, ego_yaw_rate=0.0)


@pytest.fixture
def track_all() -> Callable[..., tuple[dict[int, list[int]], list[list[TrackOutput]]]]:
    return run_tracker


@pytest.fixture
def count_switches() -> Callable[[dict[int, list[int]]], int]:
    return id_switches
