"""The reduced-resolution pixel grid the dense BA works on, and LiDAR labels and depths rasterised onto it.

The image is cropped at the bottom/right to a multiple of ``downsample`` and reduced pixel (u', v')
covers full pixels [s u', s u' + s) x [s v', s v' + s), so its centre is at full-resolution
``s u' + (s - 1) / 2``: reduced intrinsics are ``fx / s`` and ``(cx - (s - 1) / 2) / s``.
Label images use ``NO_LABEL`` (-1) where no labelled point landed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from ..core import CameraModel
from .errors import OdometryInputError
from .panoptic_weights import dynamic_mask

NO_LABEL = -1


@dataclass(frozen=True)
class ReducedGrid:
    height: int  # reduced rows
    width: int  # reduced columns
    scale: int  # full pixels per reduced pixel
    intrinsics: np.ndarray  # (4,) reduced fx, fy, cx, cy [px]

    @classmethod
    def of(cls, camera: CameraModel, downsample: int) -> ReducedGrid:
        ht, wd = camera.height // downsample, camera.width // downsample
        if ht < 4 or wd < 4:
            raise OdometryInputError(f"downsample: {camera.width}x{camera.height} / {downsample} leaves fewer than 4x4 pixels")
        K, half = camera.K, (downsample - 1) / 2.0
        intr = np.array([K[0, 0] / downsample, K[1, 1] / downsample, (K[0, 2] - half) / downsample,
                         (K[1, 2] - half) / downsample])
        return cls(ht, wd, downsample, intr)

    def crop(self, image: np.ndarray, flow_downsample: int) -> np.ndarray:
        """The image cropped to the grid and area-resized to 1 / ``flow_downsample``, grey uint8."""
        img = image[: self.height * self.scale, : self.width * self.scale]
        if img.ndim == 3:
            img = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY)
        factor = self.scale // flow_downsample
        return cv2.resize(img, (self.width * factor, self.height * factor), interpolation=cv2.INTER_AREA)

    def reduce_flow(self, flow: np.ndarray, confidence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Block-average a flow field (and its confidence) computed on ``crop``'s grid to the reduced grid."""
        factor = flow.shape[1] // self.width
        size = (self.width, self.height)
        flow_r = cv2.resize(flow, size, interpolation=cv2.INTER_AREA) / factor
        conf_r = cv2.resize(confidence, size, interpolation=cv2.INTER_AREA)
        return flow_r.astype(np.float32), conf_r.astype(np.float32)


@dataclass
class RasterLabels:
    """Per reduced pixel: LiDAR inverse depth (0 = none), class and instance/track id (NO_LABEL = none)."""

    disps: np.ndarray  # (H, W) float32 [1/m]
    class_id: np.ndarray  # (H, W) int64
    instance_id: np.ndarray  # (H, W) int64


def rasterize(grid: ReducedGrid, camera: CameraModel, xyz: np.ndarray, class_id: np.ndarray, instance_id: np.ndarray,
              fill: int) -> RasterLabels:
    """Project labelled LiDAR points; the nearest point wins a pixel; labels spread ``fill`` px into holes."""
    uv, depth, inside = camera.project(xyz)
    half = (grid.scale - 1) / 2.0
    col = np.rint((uv[:, 0] - half) / grid.scale).astype(np.int64)
    row = np.rint((uv[:, 1] - half) / grid.scale).astype(np.int64)
    keep = inside & (col >= 0) & (col < grid.width) & (row >= 0) & (row < grid.height)
    pix, depth = row[keep] * grid.width + col[keep], depth[keep]
    order = np.lexsort((depth, pix))  # by pixel, nearest first
    first = order[np.r_[True, pix[order][1:] != pix[order][:-1]]] if len(order) else order
    n = grid.height * grid.width
    disps, cls, inst = np.zeros(n, np.float32), np.full(n, NO_LABEL, np.int64), np.full(n, NO_LABEL, np.int64)
    disps[pix[first]] = 1.0 / depth[first]
    cls[pix[first]] = np.asarray(class_id)[keep][first]
    inst[pix[first]] = np.asarray(instance_id)[keep][first]
    shape = (grid.height, grid.width)
    cls, inst = cls.reshape(shape), inst.reshape(shape)
    if fill > 0 and (cls == NO_LABEL).any() and (cls != NO_LABEL).any():
        dist, (ri, ci) = ndimage.distance_transform_edt(cls == NO_LABEL, return_indices=True)
        near = dist <= fill
        cls = np.where(near, cls[ri, ci], NO_LABEL)
        inst = np.where(near, inst[ri, ci], NO_LABEL)
    return RasterLabels(disps.reshape(shape), cls, inst)


def fill_nearest(disps: np.ndarray, default: float) -> np.ndarray:
    """Inverse depth everywhere: each empty pixel takes its nearest measured neighbour (``default`` if none)."""
    empty = disps <= 0
    if not empty.any():
        return disps.copy()
    if empty.all():
        return np.full_like(disps, default)
    _, (ri, ci) = ndimage.distance_transform_edt(empty, return_indices=True)
    return disps[ri, ci]


def dynamic_pixels(class_id: np.ndarray, instance_id: np.ndarray, moving_ids: Iterable[int], thing_ids: Iterable[int],
                   untracked_dynamic_classes: Iterable[int]) -> np.ndarray:
    """M_d: things whose track moves, plus untracked pixels of always-moving classes (people, riders)."""
    moving = dynamic_mask(class_id, instance_id, moving_ids, thing_ids, untracked_things_dynamic=False)
    untracked = (instance_id <= 0) & np.isin(class_id, np.fromiter(untracked_dynamic_classes, dtype=np.int64))
    return moving | untracked
