"""Per-frame instance segments and the global map instances they are merged into."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import keys as K


@dataclass
class Segment:
    """The static points of one per-frame instance id, voxelised (odom frame)."""

    frame_instance: int
    class_id: int
    score: float
    num_points: int
    keys: np.ndarray  # sorted unique int64 voxel keys
    point_index: np.ndarray  # rows of the frame's static points


def extract_segments(points: np.ndarray, class_id: np.ndarray, instance_id: np.ndarray, score: np.ndarray,
                     is_thing: np.ndarray, voxel_size: float, min_points: int) -> list[Segment]:
    """Group thing points by instance id; the segment's class is the majority class of its points."""
    sel = np.flatnonzero(is_thing[class_id] & (instance_id > 0))
    if sel.size == 0:
        return []
    order = sel[np.argsort(instance_id[sel], kind="stable")]
    ids, start, counts = np.unique(instance_id[order], return_index=True, return_counts=True)
    vkeys = K.voxel_keys(points[order], voxel_size)
    out = []
    for iid, s, n in zip(ids, start, counts, strict=True):
        if n < min_points:
            continue
        rows = order[s:s + n]
        cls = int(np.argmax(np.bincount(class_id[rows])))
        out.append(Segment(int(iid), cls, float(score[rows].mean()), int(n), np.unique(vkeys[s:s + n]), rows))
    return out


def oriented_box(centres: np.ndarray, voxel_size: float) -> tuple[np.ndarray, np.ndarray, float]:
    """PCA-oriented box about +z of voxel centres: (centre, size [l, w, h], yaw), l along the main axis."""
    if centres.shape[0] == 0:
        return np.zeros(3), np.zeros(3), 0.0
    xy = centres[:, :2]
    mu = xy.mean(axis=0)
    if centres.shape[0] >= 3:
        w, v = np.linalg.eigh(np.cov((xy - mu).T))
        axis = v[:, int(np.argmax(w))]
    else:
        axis = np.array([1.0, 0.0])
    yaw = float(np.arctan2(axis[1], axis[0]))
    yaw = float((yaw + np.pi / 2) % np.pi - np.pi / 2)  # a box is symmetric: keep yaw in [-pi/2, pi/2)
    R = np.array([[np.cos(yaw), -np.sin(yaw)], [np.sin(yaw), np.cos(yaw)]])
    local = (xy - mu) @ R
    lo, hi = local.min(axis=0) - voxel_size / 2, local.max(axis=0) + voxel_size / 2
    zlo, zhi = centres[:, 2].min() - voxel_size / 2, centres[:, 2].max() + voxel_size / 2
    centre_xy = mu + R @ ((lo + hi) / 2)
    return (np.array([centre_xy[0], centre_xy[1], (zlo + zhi) / 2]),
            np.array([hi[0] - lo[0], hi[1] - lo[1], zhi - zlo]), yaw)


@dataclass
class MapInstance:
    """One object of the map; fields follow ``panoptic_msgs/MapInstance``."""

    instance_id: int
    class_votes: np.ndarray  # (C,) float64 points per class over all observations
    keys: np.ndarray  # sorted unique int64 voxel keys
    num_observations: int
    score_sum: float
    first_seen_ns: int
    last_seen_ns: int
    last_frame: int = -1
    conflicts: set[int] = field(default_factory=set)  # instances seen as different objects in one frame

    @property
    def class_id(self) -> int:
        return int(np.argmax(self.class_votes))

    @property
    def confidence(self) -> float:
        """Mean segment score x (1 - 2^-n): grows with consistent observations, in [0, 1]."""
        n = self.num_observations
        return float(self.score_sum / max(n, 1) * (1.0 - 0.5 ** n))

    def summary(self, voxel_size: float, class_names: tuple[str, ...]) -> dict[str, Any]:
        c = K.centres(self.keys, voxel_size)
        centre, size, yaw = oriented_box(c, voxel_size)
        centroid = c.mean(axis=0) if len(c) else np.zeros(3)
        cid = self.class_id
        return {"instance_id": self.instance_id, "class_id": cid,
                "class_name": class_names[cid] if cid < len(class_names) else str(cid),
                "confidence": self.confidence, "num_observations": self.num_observations,
                "num_voxels": int(self.keys.shape[0]), "centroid": centroid.tolist(), "box_center": centre.tolist(),
                "box_size": size.tolist(), "box_yaw": yaw, "first_seen_ns": self.first_seen_ns,
                "last_seen_ns": self.last_seen_ns}


class InstanceRegistry:
    """All map instances, ids from 1 never reused; merged ids alias to the surviving one."""

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.instances: dict[int, MapInstance] = {}
        self.alias: dict[int, int] = {}
        self.next_id = 1

    def __len__(self) -> int:
        return len(self.instances)

    def create(self, seg: Segment, stamp_ns: int, frame: int) -> int:
        iid = self.next_id
        self.next_id += 1
        votes = np.zeros(self.num_classes)
        votes[seg.class_id] = seg.num_points
        self.instances[iid] = MapInstance(iid, votes, seg.keys.copy(), 1, seg.score, stamp_ns, stamp_ns, frame)
        return iid

    def observe(self, iid: int, seg: Segment, stamp_ns: int, frame: int) -> None:
        inst = self.instances[iid]
        inst.class_votes[seg.class_id] += seg.num_points
        inst.keys = np.union1d(inst.keys, seg.keys)
        if inst.last_frame != frame:
            inst.num_observations += 1
            inst.score_sum += seg.score
        inst.first_seen_ns = min(inst.first_seen_ns, stamp_ns)
        inst.last_seen_ns = max(inst.last_seen_ns, stamp_ns)
        inst.last_frame = frame

    def merge(self, ids: list[int]) -> int:
        """Fold instances into the smallest id; returns it. Callers relabel voxels with ``self.alias``."""
        keep = min(ids)
        k = self.instances[keep]
        for other in sorted(set(ids) - {keep}):
            o = self.instances.pop(other)
            k.class_votes += o.class_votes
            k.keys = np.union1d(k.keys, o.keys)
            k.num_observations += o.num_observations
            k.score_sum += o.score_sum
            k.first_seen_ns = min(k.first_seen_ns, o.first_seen_ns)
            k.last_seen_ns = max(k.last_seen_ns, o.last_seen_ns)
            k.conflicts |= o.conflicts
            self.alias[other] = keep
            for a, b in list(self.alias.items()):
                if b == other:
                    self.alias[a] = keep
            for inst in self.instances.values():
                if other in inst.conflicts:
                    inst.conflicts.discard(other)
                    inst.conflicts.add(keep)
        k.conflicts.discard(keep)
        return keep

    def add_conflicts(self, ids: list[int]) -> None:
        for a in ids:
            self.instances[a].conflicts.update(b for b in ids if b != a)
