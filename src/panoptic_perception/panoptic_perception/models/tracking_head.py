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
from .tracking_inputs import INPUT_KINDS, SweepContext, input_dim, instance_inputs, masks_to_segments, segment_pool

__all__ = ["TrackingHead", "batch_hard_triplet_loss", "mask_pool", "pairwise_distance", "segment_pool"]


def mask_pool(point_features: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Mean of (B, N, C) point features under (B, K, N) 0/1 masks -> (B, K, C); an empty mask gives 0."""
    if point_features.ndim != 3 or masks.ndim != 3 or masks.shape[0] != point_features.shape[0] \
            or masks.shape[2] != point_features.shape[1]:
        raise ModelInputError(f"mask_pool: features (B, N, C) and masks (B, K, N) must agree, got "
                              f"{tuple(point_features.shape)} and {tuple(masks.shape)}")
    masks = masks.to(point_features.dtype)
    total = torch.einsum("bkn,bnc->bkc", masks, point_features)
    return total / masks.sum(-1, keepdim=True).clamp(min=1.0)


class TrackingHead(nn.Module):
    """Per-instance inputs (..., input_dim) -> unit association vectors (..., N_thing, dim), one per thing class.

    ``inputs`` names what the head takes per instance (``tracking_inputs.INPUT_KINDS``): ``features`` (the pooled
    point features, MOPT) or ``appearance_shape`` (those plus camera colour and shape, standardised by the fixed
    statistics ``input_mean``/``input_std`` that training stores with the weights).
    """

    def __init__(self, feature_dim: int, num_things: int, hidden: int = 128, dim: int = 32, inputs: str = "features") -> None:
        super().__init__()
        if min(feature_dim, num_things, hidden, dim) < 1:
            raise ModelInputError(f"TrackingHead: sizes must be >= 1, got feature_dim={feature_dim}, num_things={num_things}, "
                                  f"hidden={hidden}, dim={dim}")
        if inputs not in INPUT_KINDS:
            raise ModelInputError(f"TrackingHead: unknown inputs {inputs!r}; known: {', '.join(INPUT_KINDS)}")
        self.num_things, self.dim, self.inputs, self.feature_dim = num_things, dim, inputs, feature_dim
        self.input_dim = input_dim(inputs, feature_dim)
        self.standardised = inputs != "features"  # "features" heads predate the statistics; their files have none
        if self.standardised:
            self.register_buffer("input_mean", torch.zeros(self.input_dim))
            self.register_buffer("input_std", torch.ones(self.input_dim))
        self.fc1 = nn.Linear(self.input_dim, hidden)
        self.fc2 = nn.Linear(hidden, num_things * dim)

    def set_input_statistics(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Fix the standardisation (training inputs' mean and std; a std below 1e-6 counts as 1)."""
        if not self.standardised:
            raise ModelInputError("TrackingHead: a 'features' head takes its inputs unstandardised")
        if mean.shape != (self.input_dim,) or std.shape != (self.input_dim,):
            raise ModelInputError(f"TrackingHead: statistics must be ({self.input_dim},), got {tuple(mean.shape)}, "
                                  f"{tuple(std.shape)}")
        self.input_mean.copy_(mean)
        self.input_std.copy_(torch.where(std < 1e-6, torch.ones_like(std), std))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.shape[-1] != self.input_dim:
            raise ModelInputError(f"TrackingHead ({self.inputs}): inputs must have {self.input_dim} columns, got "
                                  f"{inputs.shape[-1]}")
        if self.standardised:
            inputs = (inputs - self.input_mean) / self.input_std
        out = self.fc2(F.relu(self.fc1(inputs)))
        out = out.reshape(*inputs.shape[:-1], self.num_things, self.dim)
        return F.normalize(out, dim=-1, eps=1e-6)

    def instance_vectors(self, point_features: torch.Tensor, masks: torch.Tensor, thing_index: torch.Tensor,
                         context: SweepContext | None = None) -> torch.Tensor:
        """(N, C) features of one sweep, (K, N) disjoint masks (ground-truth instances), (K,) thing-class index of each
        instance -> (K, dim). ``context``: the sweep's points and images, for ``appearance_shape``."""
        if self.inputs == "features":
            return self.read_slices(self(mask_pool(point_features[None], masks[None])[0]), thing_index)
        return self.segment_vectors(point_features, masks_to_segments(masks), thing_index, context)

    def segment_vectors(self, point_features: torch.Tensor, segment_id: torch.Tensor, thing_index: torch.Tensor,
                        context: SweepContext | None = None) -> torch.Tensor:
        """(N, C) features of one sweep, (N,) instance id per point (1..K, 0 = none), (K,) thing-class index of each
        instance -> (K, dim): the inference-time pooling over the final panoptic segments."""
        return self.input_vectors(self.segment_inputs(point_features, segment_id, len(thing_index), context), thing_index)

    def segment_inputs(self, point_features: torch.Tensor, segment_id: torch.Tensor, num_segments: int,
                       context: SweepContext | None = None) -> torch.Tensor:
        """The (K, input_dim) inputs of the segments (``tracking_inputs.instance_inputs`` of this head's kind)."""
        return instance_inputs(self.inputs, point_features, segment_id, num_segments, context)

    def input_vectors(self, inputs: torch.Tensor, thing_index: torch.Tensor) -> torch.Tensor:
        """(K, input_dim) per-instance inputs (e.g. cached), (K,) thing-class index -> (K, dim)."""
        return self.read_slices(self(inputs), thing_index)

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
