"""PanopticTrackNet's tracking head (MOPT) on UP-Fuse's per-point instance features.

Features: the per-point mask features of the 3D-aware mask head (``PointMaskHead3D.point_features``,
(B, N, mask_dim)). They are the embedding the network already uses to tell instances apart (each
instance mask is a dot product of a query embedding with them), they exist for every point, occluded
ones included, and they sit after the last decoder stage; the range-view pixel-decoder features are
coarser (stride 4) and mix occluders with occluded points.

Head: mask pooling (mean of the features under an instance mask: ground-truth masks in training,
the final, non-overlapping instance segments of panoptic post-processing at inference) -> FC 128 -> ReLU
-> FC 32 * N_thing; an instance of thing class c
reads its class's 32-d slice. Each slice is L2-normalised, so association distances lie in [0, 2]
(MOPT's triplet margin of 0.2 and ``TrackerConfig.embedding_threshold`` of 1.0 are on that scale).

Loss: batch-hard triplet loss (Hermans et al., as in MOPT) over the instances of a mini-sequence of
t_w consecutive frames: for each anchor the farthest positive (the same object in another frame of
the window) and the nearest negative (another object of the same class anywhere in the window).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ModelInputError


def mask_pool(point_features: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Mean of (B, N, C) point features under (B, K, N) 0/1 masks -> (B, K, C); an empty mask gives 0."""
    if point_features.ndim != 3 or masks.ndim != 3 or masks.shape[0] != point_features.shape[0] \
            or masks.shape[2] != point_features.shape[1]:
        raise ModelInputError(f"mask_pool: features (B, N, C) and masks (B, K, N) must agree, got "
                              f"{tuple(point_features.shape)} and {tuple(masks.shape)}")
    masks = masks.to(point_features.dtype)
    total = torch.einsum("bkn,bnc->bkc", masks, point_features)
    return total / masks.sum(-1, keepdim=True).clamp(min=1.0)


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
    # Sum every point into row id (row 0 collects the points of no segment): selecting the segment points first
    # costs more than adding the others (boolean indexing copies).
    total = point_features.new_zeros(num_segments + 1, point_features.shape[1]).index_add_(0, ids, point_features)
    count = torch.bincount(ids, minlength=num_segments + 1).clamp(min=1).to(point_features.dtype)
    return (total / count[:, None])[1:]


class TrackingHead(nn.Module):
    """Pooled instance features (..., C) -> unit association vectors (..., N_thing, dim), one per thing class."""

    def __init__(self, feature_dim: int, num_things: int, hidden: int = 128, dim: int = 32) -> None:
        super().__init__()
        if min(feature_dim, num_things, hidden, dim) < 1:
            raise ModelInputError(f"TrackingHead: sizes must be >= 1, got feature_dim={feature_dim}, num_things={num_things}, "
                                  f"hidden={hidden}, dim={dim}")
        self.num_things, self.dim = num_things, dim
        self.fc1 = nn.Linear(feature_dim, hidden)
        self.fc2 = nn.Linear(hidden, num_things * dim)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        out = self.fc2(F.relu(self.fc1(pooled)))
        out = out.reshape(*pooled.shape[:-1], self.num_things, self.dim)
        return F.normalize(out, dim=-1, eps=1e-6)

    def instance_vectors(self, point_features: torch.Tensor, masks: torch.Tensor, thing_index: torch.Tensor) -> torch.Tensor:
        """(N, C) features of one sweep, (K, N) masks, (K,) thing-class index of each instance -> (K, dim)."""
        return self.read_slices(self(mask_pool(point_features[None], masks[None])[0]), thing_index)

    def segment_vectors(self, point_features: torch.Tensor, segment_id: torch.Tensor, thing_index: torch.Tensor) -> torch.Tensor:
        """(N, C) features of one sweep, (N,) instance id per point (1..K, 0 = none), (K,) thing-class index of each
        instance -> (K, dim): the inference-time pooling over the final panoptic segments."""
        return self.read_slices(self(segment_pool(point_features, segment_id, len(thing_index))), thing_index)

    @staticmethod
    def read_slices(vectors: torch.Tensor, thing_index: torch.Tensor) -> torch.Tensor:
        """(K, N_thing, dim) -> (K, dim): each instance's class slice."""
        return vectors[torch.arange(len(thing_index), device=vectors.device), thing_index]


def pairwise_distance(x: torch.Tensor) -> torch.Tensor:
    """(K, D) -> (K, K) Euclidean distances; the clamp keeps the square root's gradient finite at 0."""
    squared = (x[:, None, :] - x[None, :, :]).pow(2).sum(-1)
    return squared.clamp(min=1e-12).sqrt()


def batch_hard_triplet_loss(
    vectors: torch.Tensor, identity: torch.Tensor, frame: torch.Tensor, class_id: torch.Tensor, margin: float = 0.2
) -> tuple[torch.Tensor, int]:
    """Batch-hard triplet loss over the (K, D) instance vectors of one or more mini-sequences.

    ``identity`` (K,) is unique per object and window (objects of different windows never share one);
    positives: same identity, other ``frame``; negatives: other identity, same ``class_id``. Returns the
    mean of ``max(0, d(a, p_hardest) - d(a, n_hardest) + margin)`` over anchors with at least one of each,
    and that number of anchors (a zero loss that keeps the graph when there is none).
    """
    k = vectors.shape[0]
    for name, t in (("identity", identity), ("frame", frame), ("class_id", class_id)):
        if t.shape != (k,):
            raise ModelInputError(f"batch_hard_triplet_loss: {name} must be ({k},), got {tuple(t.shape)}")
    if k < 2:
        return vectors.sum() * 0.0, 0
    distance = pairwise_distance(vectors)
    same_id = identity[:, None] == identity[None, :]
    positive = same_id & (frame[:, None] != frame[None, :])
    negative = ~same_id & (class_id[:, None] == class_id[None, :])
    hardest_positive = torch.where(positive, distance, torch.full_like(distance, -1.0)).max(1).values
    hardest_negative = torch.where(negative, distance, torch.full_like(distance, float("inf"))).min(1).values
    usable = positive.any(1) & negative.any(1)
    if not usable.any():
        return vectors.sum() * 0.0, 0
    loss = F.relu(hardest_positive[usable] - hardest_negative[usable] + margin).mean()
    return loss, int(usable.sum())
