"""Set loss of the panoptic decoder (Mask2Former): classification CE + mask BCE + dice.

Mask losses are computed on points sampled per matched pair: ``oversample_ratio * P`` random
labeled points, of which the ``importance_ratio * P`` most uncertain (logit nearest 0) are kept,
plus random ones to make P (Mask2Former's point sampling, over the point set instead of pixels).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .matching import PanopticTargets, match_queries


def dice_loss(logits: torch.Tensor, targets: torch.Tensor, num_masks: float) -> torch.Tensor:
    prob = logits.sigmoid()
    numerator = 2 * (prob * targets).sum(-1)
    denominator = prob.sum(-1) + targets.sum(-1)
    return (1 - (numerator + 1) / (denominator + 1)).sum() / num_masks


def sigmoid_ce_loss(logits: torch.Tensor, targets: torch.Tensor, num_masks: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, targets, reduction="none").mean(1).sum() / num_masks


class SetCriterion(nn.Module):
    def __init__(
        self,
        num_classes: int,
        class_weight: float = 2.0,
        mask_weight: float = 5.0,
        dice_weight: float = 5.0,
        no_object_weight: float = 0.1,
        num_points: int = 4096,
        oversample_ratio: float = 3.0,
        importance_ratio: float = 0.75,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.weights = (class_weight, mask_weight, dice_weight)
        self.num_points, self.oversample_ratio, self.importance_ratio = num_points, oversample_ratio, importance_ratio
        empty_weight = torch.ones(num_classes + 1)
        empty_weight[-1] = no_object_weight
        self.register_buffer("empty_weight", empty_weight, persistent=False)

    def sample_points(self, logits: torch.Tensor, labeled: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """(K, P) point indices for K matched masks with logits (K, N)."""
        candidates = torch.nonzero(labeled).squeeze(1)
        k, n_cand = logits.shape[0], candidates.numel()
        if n_cand <= self.num_points:
            return candidates[None].expand(k, -1)
        n_over = min(int(self.num_points * self.oversample_ratio), n_cand)
        n_important = int(self.num_points * self.importance_ratio)
        over = torch.randint(0, n_cand, (k, n_over), generator=generator).to(candidates.device)
        over = candidates[over]
        uncertainty = -torch.gather(logits, 1, over).detach().abs()
        important = torch.gather(over, 1, uncertainty.topk(n_important, dim=1).indices)
        random = candidates[
            torch.randint(0, n_cand, (k, self.num_points - n_important), generator=generator).to(candidates.device)
        ]
        return torch.cat([important, random], dim=1)

    def layer_loss(
        self,
        class_logits: torch.Tensor,
        point_logits: torch.Tensor,
        targets: list[PanopticTargets],
        num_masks: float,
        generator: torch.Generator | None,
    ) -> dict[str, torch.Tensor]:
        b, q = class_logits.shape[:2]
        target_classes = torch.full((b, q), self.num_classes, dtype=torch.long, device=class_logits.device)
        mask_logits, mask_targets = [], []
        for i, tgt in enumerate(targets):
            q_idx, t_idx = match_queries(class_logits[i], point_logits[i], tgt, self.num_points, self.weights, generator)
            target_classes[i, q_idx] = tgt.labels[t_idx]
            if q_idx.numel() == 0:
                continue
            logits = point_logits[i, q_idx]
            index = self.sample_points(logits, tgt.labeled, generator)
            mask_logits.append(torch.gather(logits, 1, index))
            mask_targets.append(torch.gather(tgt.masks[t_idx].to(logits.dtype), 1, index))
        loss_ce = F.cross_entropy(class_logits.transpose(1, 2), target_classes, self.empty_weight.to(class_logits.dtype))
        if mask_logits:
            logits, masks = torch.cat(mask_logits), torch.cat(mask_targets)
            loss_mask = sigmoid_ce_loss(logits, masks, num_masks)
            loss_dice = dice_loss(logits, masks, num_masks)
        else:
            loss_mask = loss_dice = point_logits.sum() * 0
        return {"loss_ce": loss_ce, "loss_mask": loss_mask, "loss_dice": loss_dice}

    def forward(
        self,
        layers: list[tuple[torch.Tensor, torch.Tensor]],
        targets: list[PanopticTargets],
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """``layers``: per decoder prediction (class logits (B, Q, C+1), point mask logits (B, Q, N)),
        last = final. Returns the final layer's terms and ``loss`` (weighted sum over all layers)."""
        num_masks = max(float(sum(t.labels.numel() for t in targets)), 1.0)
        w_cls, w_mask, w_dice = self.weights
        total = None
        terms: dict[str, torch.Tensor] = {}
        for class_logits, point_logits in layers:
            terms = self.layer_loss(class_logits, point_logits, targets, num_masks, generator)
            weighted = w_cls * terms["loss_ce"] + w_mask * terms["loss_mask"] + w_dice * terms["loss_dice"]
            total = weighted if total is None else total + weighted
        assert total is not None
        return {**terms, "loss": total}
