"""The dynamic layer: moving things are kept out of the static map and held as their latest tracks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import keys as K
from .instances import oriented_box


@dataclass
class DynamicObject:
    track_id: int
    class_id: int
    stamp_ns: int
    points: np.ndarray  # (M, 3) odom-frame voxel centres of the latest observation
    box_center: np.ndarray
    box_size: np.ndarray
    box_yaw: float


class DynamicLayer:
    def __init__(self, voxel_size: float, ttl_s: float) -> None:
        self.voxel_size = voxel_size
        self.ttl_ns = int(ttl_s * 1e9)
        self.objects: dict[int, DynamicObject] = {}

    def update(self, points: np.ndarray, class_id: np.ndarray, track_id: np.ndarray, stamp_ns: int) -> None:
        """Replace each observed track by its latest points; forget tracks unseen for ``ttl``."""
        if points.shape[0]:
            order = np.argsort(track_id, kind="stable")
            ids, start, counts = np.unique(track_id[order], return_index=True, return_counts=True)
            for tid, s, n in zip(ids, start, counts, strict=True):
                rows = order[s:s + n]
                c = K.centres(np.unique(K.voxel_keys(points[rows], self.voxel_size)), self.voxel_size)
                centre, size, yaw = oriented_box(c, self.voxel_size)
                cls = int(np.argmax(np.bincount(class_id[rows])))
                self.objects[int(tid)] = DynamicObject(int(tid), cls, stamp_ns, c, centre, size, yaw)
        self.objects = {t: o for t, o in self.objects.items() if stamp_ns - o.stamp_ns <= self.ttl_ns}

    @property
    def nbytes(self) -> int:
        return sum(o.points.nbytes for o in self.objects.values())
