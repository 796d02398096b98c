"""DeepDPS training losses.

- set loss (classification, mask BCE + dice) over the stride-4 pixels: the shared Mask2Former
  ``SetCriterion`` with pixels as its point set;
- semantic cross-entropy of the light semantic head (the backup query's classifier);
- scale-invariant log depth (Eigen et al. 2014, Eq. 4) on the mixture depth and on the backup depth:
  ``g = ln d_hat - ln d``, ``L = mean(g^2) - lambda * mean(g)^2`` over the pixels with depth;
- semantic-to-depth guidance (max-min triplet in K x K patches, on E_depth);
- depth-to-semantic guidance (depth-weighted feature similarity in K x K patches, on the semantic features).

Labels: ``semantic`` (B, H, W) train ids (0 = unlabeled), ``instance`` (B, H, W) (0 = stuff / none),
``depth`` (B, H, W) [m] with 0 where there is none (dense or LiDAR-sparse), all at the input size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelInputError
from ..losses import SetCriterion
from ..matching import build_targets
from .model import DeepDPSOutput

DEPTH_EPS = 1e-3  # [m] floor of predicted depth inside the logarithm


def scale_invariant_log_loss(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, lam: float = 0.85) -> torch.Tensor:
    """Per image ``mean(g^2) - lam * mean(g)^2`` over ``valid`` pixels, averaged over images that have any.

    Maps (B, H, W). With ``lam = 1`` it is the variance of ``g`` and ignores a global depth scale.
    """
    g = (pred.clamp_min(DEPTH_EPS).log() - target.clamp_min(DEPTH_EPS).log()) * valid
    n = valid.flatten(1).sum(1).to(pred.dtype)
    has = n > 0
    if not has.any():
        return pred.sum() * 0
    n = n.clamp_min(1)
    mean_sq = g.square().flatten(1).sum(1) / n
    mean = g.flatten(1).sum(1) / n
    return (mean_sq - lam * mean.square())[has].mean()


def patches(x: torch.Tensor, k: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, k*k, L): non-overlapping k x k patches (borders that do not fill one dropped)."""
    b, c = x.shape[:2]
    return F.unfold(x, k, stride=k).view(b, c, k * k, -1)


def semantic_to_depth_guidance(
    depth_embedding: torch.Tensor, segment: torch.Tensor, k: int = 5, margin: float = 0.3
) -> torch.Tensor:
    """Max-min triplet per K x K patch on L2-normalised depth embeddings (B, C, H, W).

    Anchor = the patch centre; positives = labelled pixels of the anchor's segment, negatives = labelled
    pixels of other segments (``segment`` (B, H, W) long, 0 = unlabelled). Per patch with both:
    ``max(0, max_pos ||e_p - e_a|| - min_neg ||e_n - e_a|| + margin)``; mean over those patches.
    """
    e = patches(F.normalize(depth_embedding, dim=1), k)
    seg = patches(segment[:, None].to(depth_embedding.dtype), k)[:, 0]
    c = k * k // 2
    dist = (e - e[:, :, c : c + 1]).norm(dim=1)  # (B, k*k, L)
    labelled = seg > 0
    anchor = seg[:, c : c + 1]
    same = labelled & (seg == anchor)
    same[:, c] = False
    other = labelled & (seg != anchor)
    ok = labelled[:, c] & same.any(1) & other.any(1)
    if not ok.any():
        return depth_embedding.sum() * 0
    hardest_pos = dist.masked_fill(~same, float("-inf")).amax(1)
    hardest_neg = dist.masked_fill(~other, float("inf")).amin(1)
    return F.relu(hardest_pos - hardest_neg + margin)[ok].mean()


def depth_to_semantic_guidance(features: torch.Tensor, depth: torch.Tensor, k: int = 5, tau: float = 10.0) -> torch.Tensor:
    """Depth-weighted feature similarity per K x K patch on L2-normalised semantic features (B, C, H, W).

    For the patch centre a and every other pixel j with depth (``depth`` (B, H, W) [m], 0 = none):
    ``w_j = exp(-tau |ln d_j - ln d_a|)``; loss ``sum w_j (1 - cos(f_j, f_a)) / sum w_j`` over all patches.
    Pixels at similar depth are pulled to similar semantic features; a depth edge switches the pull off.
    """
    f = patches(F.normalize(features, dim=1), k)
    d = patches(depth[:, None].to(features.dtype), k)[:, 0]
    c = k * k // 2
    has = d > 0
    log_d = d.clamp_min(DEPTH_EPS).log()
    w = torch.exp(-tau * (log_d - log_d[:, c : c + 1]).abs()) * has * has[:, c : c + 1]
    w[:, c] = 0
    total = w.sum()
    if total <= 0:
        return features.sum() * 0
    cos = (f * f[:, :, c : c + 1]).sum(1)
    return (w * (1 - cos)).sum() / total


def grid_labels(labels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Nearest label at the centre of each cell of an (h, w) grid over (B, H, W) labels."""
    b, h_in, w_in = labels.shape
    h, w = size
    rows = ((torch.arange(h, device=labels.device) + 0.5) * h_in / h).long().clamp(max=h_in - 1)
    cols = ((torch.arange(w, device=labels.device) + 0.5) * w_in / w).long().clamp(max=w_in - 1)
    return labels[:, rows][:, :, cols]


def grid_depth(depth: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Mean of the valid (> 0) depths falling in each cell of an (h, w) grid (0 where none): keeps sparse LiDAR depth."""
    valid = (depth > 0).to(depth.dtype)[:, None]
    total = F.adaptive_avg_pool2d(depth[:, None] * valid, size)
    count = F.adaptive_avg_pool2d(valid, size)
    return torch.where(count > 0, total / count.clamp_min(1e-12), torch.zeros_like(total))[:, 0]


def segment_ids(semantic: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
    """Compact segment id per pixel (0 = unlabelled): one per (class, instance) pair."""
    key = semantic.long() * (1 << 32) + instance.long()
    _, inverse = torch.unique(key, return_inverse=True)
    return torch.where(semantic > 0, inverse + 1, torch.zeros_like(inverse))


@dataclass(frozen=True)
class LossWeights:
    """Starting weights: Mask2Former's set-loss weights; depth and guidance weights are ours (see docs/deepdps.md)."""

    cls: float = 2.0
    mask: float = 5.0
    dice: float = 5.0
    semantic: float = 1.0
    depth: float = 1.0
    s2d: float = 0.1
    d2s: float = 0.1


class DeepDPSCriterion(nn.Module):
    def __init__(
        self,
        num_classes: int,
        thing_class_ids: tuple[int, ...],
        max_depth: float,
        weights: LossWeights | None = None,
        silog_lambda: float = 0.85,
        patch_size: int = 5,
        margin: float = 0.3,
        tau: float = 10.0,
        num_points: int = 4096,
        no_object_weight: float = 0.1,
        backup_query: bool = True,
    ) -> None:
        super().__init__()
        self.weights = weights or LossWeights()
        w = self.weights
        self.set_criterion = SetCriterion(num_classes, w.cls, w.mask, w.dice, no_object_weight, num_points)
        self.num_classes, self.thing_class_ids, self.max_depth = num_classes, thing_class_ids, max_depth
        self.silog_lambda, self.patch_size, self.margin, self.tau = silog_lambda, patch_size, margin, tau
        self.backup_query = backup_query  # False (ablation): no semantic head and no backup depth terms

    def forward(
        self,
        out: DeepDPSOutput,
        semantic: torch.Tensor,
        instance: torch.Tensor,
        depth: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        b, h4, w4 = out.depth.shape
        if semantic.shape != instance.shape or semantic.shape != depth.shape or semantic.shape[0] != b or semantic.ndim != 3:
            raise ModelInputError(
                f"semantic {tuple(semantic.shape)}, instance {tuple(instance.shape)} and depth {tuple(depth.shape)} "
                f"must be equal (B, H, W) with B = {b}"
            )
        w = self.weights
        sem4, inst4 = grid_labels(semantic.long(), (h4, w4)), grid_labels(instance.long(), (h4, w4))
        targets = [
            build_targets(s.flatten(), i.flatten(), self.thing_class_ids, self.num_classes)
            for s, i in zip(sem4, inst4, strict=True)
        ]
        set_terms = self.set_criterion([(c, m.flatten(2)) for c, m in out.layers], targets, generator)
        if self.backup_query and (sem4 > 0).any():
            loss_semantic = F.cross_entropy(out.semantic_logits, sem4 - 1, ignore_index=-1)
        else:
            loss_semantic = out.semantic_logits.sum() * 0

        size = tuple(depth.shape[-2:])
        up = F.interpolate(torch.stack([out.depth, out.backup_depth], 1), size=size, mode="bilinear", align_corners=False)
        valid = (depth > 0) & (depth <= self.max_depth)
        loss_depth = scale_invariant_log_loss(up[:, 0], depth, valid, self.silog_lambda)
        loss_depth_backup = (
            scale_invariant_log_loss(up[:, 1], depth, valid, self.silog_lambda) if self.backup_query else up.sum() * 0
        )

        seg4 = segment_ids(sem4, inst4)
        depth4 = grid_depth(torch.where(valid, depth, torch.zeros_like(depth)), (h4, w4))
        loss_s2d = semantic_to_depth_guidance(out.depth_embedding, seg4, self.patch_size, self.margin)
        loss_d2s = depth_to_semantic_guidance(out.semantic_features, depth4, self.patch_size, self.tau)

        loss = (
            set_terms["loss"]
            + w.semantic * loss_semantic
            + w.depth * (loss_depth + loss_depth_backup)
            + w.s2d * loss_s2d
            + w.d2s * loss_d2s
        )
        return {
            "loss_ce": set_terms["loss_ce"],
            "loss_mask": set_terms["loss_mask"],
            "loss_dice": set_terms["loss_dice"],
            "loss_semantic": loss_semantic,
            "loss_depth": loss_depth,
            "loss_depth_backup": loss_depth_backup,
            "loss_s2d": loss_s2d,
            "loss_d2s": loss_d2s,
            "loss": loss,
        }
