"""Hungarian matching of queries to ground-truth segments over a point set (Mask2Former)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from .errors import ModelInputError


@dataclass
class PanopticTargets:
    """Ground-truth segments of one sweep: class index (train id - 1) and point mask per segment."""

    labels: torch.Tensor  # (T,) long, in [0, num_classes)
    masks: torch.Tensor  # (T, N) bool
    labeled: torch.Tensor  # (N,) bool, points that carry a label (not unlabeled / padding)


def build_targets(
    semantic: torch.Tensor,
    instance: torch.Tensor,
    thing_ids: tuple[int, ...],
    num_classes: int,
    valid: torch.Tensor | None = None,
) -> PanopticTargets:
    """One target per thing instance (class, instance id) and one per present stuff class.

    ``semantic`` (N,) train ids with 0 = unlabeled; ``instance`` (N,) instance ids (0 = none).
    Thing points without an instance id belong to no target.
    """
    semantic = semantic.long()
    instance = instance.long()
    if semantic.shape != instance.shape or semantic.ndim != 1:
        raise ModelInputError(f"semantic {tuple(semantic.shape)} and instance {tuple(instance.shape)} must be equal (N,)")
    if semantic.numel() and int(semantic.max()) > num_classes:
        raise ModelInputError(f"semantic id {int(semantic.max())} exceeds num_classes {num_classes}")
    labeled = semantic > 0
    if valid is not None:
        labeled = labeled & valid
    is_thing = torch.zeros(num_classes + 1, dtype=torch.bool, device=semantic.device)
    is_thing[list(thing_ids)] = True
    labels, masks = [], []
    thing_points = labeled & is_thing[semantic] & (instance > 0)
    if thing_points.any():
        keys = torch.unique(semantic[thing_points] * (1 << 32) + instance[thing_points])
        for key in keys.tolist():
            cls, inst = key >> 32, key & 0xFFFFFFFF
            labels.append(cls - 1)
            masks.append(thing_points & (semantic == cls) & (instance == inst))
    stuff_points = labeled & ~is_thing[semantic]
    for cls in torch.unique(semantic[stuff_points]).tolist():
        labels.append(cls - 1)
        masks.append(stuff_points & (semantic == cls))
    n = semantic.shape[0]
    return PanopticTargets(
        labels=torch.tensor(labels, dtype=torch.long, device=semantic.device),
        masks=torch.stack(masks) if masks else torch.zeros(0, n, dtype=torch.bool, device=semantic.device),
        labeled=labeled,
    )


def hungarian_match(cost: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Minimum-cost assignment of a (Q, T) cost matrix; returns (query indices, target indices)."""
    c = cost.detach().cpu().double().numpy()
    if not np.isfinite(c).all():
        raise ModelInputError("matching cost contains NaN or inf")
    rows, cols = linear_sum_assignment(c)
    return torch.as_tensor(rows, dtype=torch.long, device=cost.device), torch.as_tensor(
        cols, dtype=torch.long, device=cost.device
    )


def sigmoid_ce_cost(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Pairwise mean binary cross-entropy (Q, P) x (T, P) -> (Q, T)."""
    p = logits.shape[1]
    pos = torch.nn.functional.softplus(-logits)  # -log sigmoid(x)
    neg = torch.nn.functional.softplus(logits)  # -log (1 - sigmoid(x))
    return (pos @ targets.T + neg @ (1 - targets).T) / max(p, 1)


def dice_cost(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Pairwise dice loss 1 - (2|a.b| + 1) / (|a| + |b| + 1)."""
    prob = logits.sigmoid()
    numerator = 2 * prob @ targets.T
    denominator = prob.sum(-1)[:, None] + targets.sum(-1)[None, :]
    return 1 - (numerator + 1) / (denominator + 1)


@torch.no_grad()
def match_queries(
    class_logits: torch.Tensor,
    point_logits: torch.Tensor,
    targets: PanopticTargets,
    num_points: int,
    weights: tuple[float, float, float],
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Match queries (class logits (Q, C+1), point mask logits (Q, N)) to targets.

    Cost = w_cls * (-p(class)) + w_mask * BCE + w_dice * dice on ``num_points`` labeled points drawn
    uniformly (the same points for every pair).
    """
    if targets.labels.numel() == 0:
        empty = torch.zeros(0, dtype=torch.long, device=class_logits.device)
        return empty, empty
    candidates = torch.nonzero(targets.labeled).squeeze(1)
    if candidates.numel() > num_points:
        pick = torch.randperm(candidates.numel(), generator=generator)[:num_points].to(candidates.device)
        candidates = candidates[pick]
    logits = point_logits[:, candidates].float()
    target = targets.masks[:, candidates].float()
    prob = class_logits.float().softmax(-1)
    w_cls, w_mask, w_dice = weights
    cost = -w_cls * prob[:, targets.labels] + w_mask * sigmoid_ce_cost(logits, target) + w_dice * dice_cost(logits, target)
    return hungarian_match(cost)
