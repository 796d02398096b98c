"""What the tracking head takes per instance: one definition for training, evaluation and the runner.

``features``: the mean of the network's per-point mask features over the instance's points (MOPT's mask pooling).
``appearance_shape`` (beyond the paper): the same pooled features followed by, per instance,

- appearance: the fraction of its points that project into a camera image, and the mean and standard deviation of
  the camera RGB (in [0, 1]) at the pixels those points project to (nearest pixel; the first camera, in slot order,
  whose image a point lands in; points outside every image contribute nothing, and an instance with none has zeros
  and fraction 0, so the head can tell "unseen" from "black");
- shape: the square roots of the eigenvalues of its points' 3D covariance, largest first (spread along the
  principal axes [m], independent of the object's yaw), its vertical extent [m] and log(1 + point count).

The small CPU network's mask features encode class and position more than identity; colour and size are what tell
two cars of one class apart in the synthetic world (each vehicle has its own colour and size).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .errors import ModelInputError
from .view_transform import DEPTH_EPS, project_to_cameras

INPUT_KINDS = ("features", "appearance_shape")
EXTRA_NAMES = ("camera_fraction", "rgb_mean_r", "rgb_mean_g", "rgb_mean_b", "rgb_std_r", "rgb_std_g", "rgb_std_b",
               "spread_1", "spread_2", "spread_3", "height", "log_points")


def segment_pool(point_features: torch.Tensor, segment_id: torch.Tensor, num_segments: int) -> torch.Tensor:
    """Mean of (N, C) point features over each segment 1..K of (N,) ids -> (K, C); id 0 is no segment, an empty
    segment gives 0. Segments do not overlap, so this is one pass over the points (a scatter-add), not K masks."""
    if point_features.ndim != 2 or segment_id.shape != point_features.shape[:1]:
        raise ModelInputError(f"segment_pool: features (N, C) and segment ids (N,) must agree, got "
                              f"{tuple(point_features.shape)} and {tuple(segment_id.shape)}")
    ids = segment_id.long()
    if ids.numel() and (int(ids.max()) > num_segments or int(ids.min()) < 0):
        raise ModelInputError(f"segment_pool: segment ids must lie in [0, {num_segments}], got [{int(ids.min())}, "
                              f"{int(ids.max())}]")
    # Only the segments' points are gathered and added (a third of a sweep with 50 objects, usually far fewer): the
    # same additions in the same point order as adding every point into row id, without the rows of no segment.
    member = torch.from_numpy(np.flatnonzero(ids.numpy() > 0)) if ids.device.type == "cpu" else torch.nonzero(ids > 0)[:, 0]
    member_ids = ids.index_select(0, member)
    total = point_features.new_zeros(num_segments + 1, point_features.shape[1]).index_add_(
        0, member_ids, point_features.index_select(0, member))
    count = torch.bincount(member_ids, minlength=num_segments + 1).clamp(min=1).to(point_features.dtype)
    return (total / count[:, None])[1:]


def input_dim(kind: str, feature_dim: int) -> int:
    """Width of the head's input for ``kind`` on ``feature_dim``-d point features."""
    if kind not in INPUT_KINDS:
        raise ModelInputError(f"tracking head inputs: unknown kind {kind!r}; known: {', '.join(INPUT_KINDS)}")
    return feature_dim + (len(EXTRA_NAMES) if kind == "appearance_shape" else 0)


@dataclass
class SweepContext:
    """The sweep's geometry and images that ``appearance_shape`` needs (one sweep, padding removed).

    ``xyz`` (N, 3) LiDAR frame [m]; ``images`` (M, 3, H, W) RGB in [0, 1]; ``K`` (M, 3, 3) at that image size;
    ``T_cam_lidar`` (M, 4, 4); ``camera_valid`` (M,) bool (a missing camera's slot contributes nothing).
    """

    xyz: torch.Tensor
    images: torch.Tensor
    K: torch.Tensor
    T_cam_lidar: torch.Tensor
    camera_valid: torch.Tensor

    def validate(self, num_points: int) -> None:
        m = self.images.shape[0] if self.images.ndim == 4 else -1
        checks = {"xyz": (self.xyz, (num_points, 3)), "K": (self.K, (m, 3, 3)), "T_cam_lidar": (self.T_cam_lidar, (m, 4, 4)),
                  "camera_valid": (self.camera_valid, (m,))}
        if self.images.ndim != 4 or self.images.shape[1] != 3:
            raise ModelInputError(f"SweepContext.images must be (M, 3, H, W), got {tuple(self.images.shape)}")
        for name, (tensor, shape) in checks.items():
            if tuple(tensor.shape) != shape:
                raise ModelInputError(f"SweepContext.{name}: expected shape {shape}, got {tuple(tensor.shape)}")


def point_colors(xyz: torch.Tensor, context: SweepContext) -> tuple[torch.Tensor, torch.Tensor]:
    """(P, 3) points -> (P, 3) RGB at each one's nearest pixel in the first camera whose image it lands in, (P,) seen."""
    _, _, height, width = context.images.shape
    uv, depth = project_to_cameras(xyz[None].float(), context.K[None].float(), context.T_cam_lidar[None].float())
    uv, depth = uv[0], depth[0]  # (M, P, 2), (M, P)
    pixel = torch.round(uv).long()  # pixel centres at integer coordinates
    inside = (depth > DEPTH_EPS) & (pixel[..., 0] >= 0) & (pixel[..., 0] < width) & (pixel[..., 1] >= 0) \
        & (pixel[..., 1] < height) & context.camera_valid[:, None].bool()
    colors = xyz.new_zeros(xyz.shape[0], 3, dtype=torch.float32)
    seen = torch.zeros(xyz.shape[0], dtype=torch.bool, device=xyz.device)
    for m in range(context.images.shape[0]):
        take = inside[m] & ~seen
        if take.any():
            u, v = pixel[m, take, 0], pixel[m, take, 1]
            colors[take] = context.images[m, :, v, u].T.float()
            seen |= take
    return colors, seen


def appearance_shape(segment_id: torch.Tensor, num_segments: int, context: SweepContext) -> torch.Tensor:
    """(N,) segment ids 1..K (0 = none) -> (K, len(EXTRA_NAMES)) float32 appearance and shape of each segment."""
    member = segment_id > 0  # only the segments' points are projected and pooled (a sweep's things are a fraction)
    ids = segment_id[member].long()
    xyz = context.xyz[member].float()
    count = torch.bincount(ids, minlength=num_segments + 1)[1:].float()
    colors, seen = point_colors(xyz, context)
    seen_ids = torch.where(seen, ids, 0)
    seen_count = torch.bincount(seen_ids, minlength=num_segments + 1)[1:].float()
    rgb_sum = colors.new_zeros(num_segments + 1, 3).index_add_(0, seen_ids, colors)[1:]
    rgb_sq = colors.new_zeros(num_segments + 1, 3).index_add_(0, seen_ids, colors * colors)[1:]
    denominator = seen_count.clamp(min=1)[:, None]
    rgb_mean = rgb_sum / denominator
    rgb_std = (rgb_sq / denominator - rgb_mean ** 2).clamp(min=0).sqrt()
    fraction = seen_count / count.clamp(min=1)

    mean = segment_pool(xyz, ids, num_segments)
    centred = xyz - mean[ids - 1]  # centred first: raw second moments of coordinates of tens of metres would cancel
    covariance = segment_pool((centred[:, :, None] * centred[:, None, :]).flatten(1), ids, num_segments).reshape(-1, 3, 3)
    spread = torch.linalg.eigvalsh(covariance.double()).clamp(min=0).sqrt().flip(-1).float()  # largest first

    z = xyz[:, 2]
    top = z.new_full((num_segments + 1,), -torch.inf).scatter_reduce(0, ids, z, "amax")[1:]
    bottom = z.new_full((num_segments + 1,), torch.inf).scatter_reduce(0, ids, z, "amin")[1:]
    height = torch.where(count > 0, top - bottom, torch.zeros_like(top))
    return torch.cat([fraction[:, None], rgb_mean, rgb_std, spread, height[:, None], torch.log1p(count)[:, None]], dim=1)


def instance_inputs(kind: str, point_features: torch.Tensor, segment_id: torch.Tensor, num_segments: int,
                    context: SweepContext | None = None) -> torch.Tensor:
    """The head's (K, input_dim) inputs for the K disjoint segments of one sweep (``segment_id`` 1..K, 0 = none).

    ``context`` is needed for ``appearance_shape`` and ignored for ``features``."""
    input_dim(kind, point_features.shape[-1])  # refuses an unknown kind
    pooled = segment_pool(point_features, segment_id, num_segments)
    if kind == "features":
        return pooled
    if context is None:
        raise ModelInputError("tracking head inputs 'appearance_shape' need the sweep's points and camera images "
                              "(SweepContext); none were given")
    context.validate(point_features.shape[0])
    return torch.cat([pooled, appearance_shape(segment_id, num_segments, context).to(pooled.dtype)], dim=1)


def masks_to_segments(masks: torch.Tensor) -> torch.Tensor:
    """(K, N) disjoint 0/1 masks (ground-truth instances) -> (N,) segment ids 1..K, 0 where none."""
    if masks.ndim != 2:
        raise ModelInputError(f"masks_to_segments: masks must be (K, N), got {tuple(masks.shape)}")
    if masks.shape[0] and int(masks.long().sum(0).max()) > 1:
        raise ModelInputError("masks_to_segments: masks overlap; segments must be disjoint")
    ids = torch.arange(1, masks.shape[0] + 1, device=masks.device)
    return (masks.long() * ids[:, None]).sum(0)


def columns_for(kind: str, inputs: torch.Tensor, feature_dim: int) -> torch.Tensor:
    """The columns a head of ``kind`` reads from (K, D) ``appearance_shape`` (or ``features``) inputs: every kind's
    layout starts with the pooled features, so inputs cached once serve heads of either kind."""
    width = input_dim(kind, feature_dim)
    if inputs.shape[-1] < width:
        raise ModelInputError(f"tracking head inputs: a {kind!r} head needs {width} columns, the inputs have {inputs.shape[-1]}")
    return inputs[..., :width]
