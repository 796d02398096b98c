"""Losses of the flow update operator: sequence-weighted flow L1, confidence and dynamic-mask BCE.

Every iteration i of N is weighted ``gamma^(N - 1 - i)`` (RAFT, DROID-SLAM), so the last counts most.
- flow: L1 of (dx, dy) against the world's ground truth, over pixels where it is defined and
  below ``max_flow``;
- confidence: BCE of the confidence logit against ``EPE < confidence_px`` of that iteration's flow
  (a target, no gradient), over the same pixels;
- dynamic mask: BCE of the mask logit against the ground-truth moving-object pixels, over all
  pixels, positives weighted by ``dynamic_pos_weight`` (moving pixels are a few percent).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from panoptic_perception.models.update_operator import FlowPrediction

from .errors import TrainingConfigError


@dataclass(frozen=True)
class FlowLossWeights:
    gamma: float = 0.8
    max_flow: float = 250.0  # [px] larger ground truth is ignored
    confidence_px: float = 1.0  # [px] EPE below which a flow vector counts as accurate
    confidence: float = 0.5
    dynamic: float = 0.5
    dynamic_pos_weight: float = 3.0

    @classmethod
    def from_overrides(cls, overrides: dict[str, Any]) -> FlowLossWeights:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise TrainingConfigError(f"train.loss_weights: unknown {sorted(unknown)}; known: {sorted(known)}")
        try:
            weights = cls(**{k: float(v) for k, v in overrides.items()})
        except (TypeError, ValueError) as err:
            raise TrainingConfigError(f"train.loss_weights: {err}") from err
        if not 0 < weights.gamma <= 1 or min(weights.max_flow, weights.confidence_px, weights.dynamic_pos_weight) <= 0:
            raise TrainingConfigError("train.loss_weights: gamma in (0, 1], max_flow, confidence_px, dynamic_pos_weight > 0")
        if weights.confidence < 0 or weights.dynamic < 0:
            raise TrainingConfigError("train.loss_weights: confidence and dynamic weights must be >= 0")
        return weights


def flow_sequence_loss(pred: FlowPrediction, flow_gt: torch.Tensor, valid: torch.Tensor, dynamic_gt: torch.Tensor,
                       weights: FlowLossWeights) -> dict[str, torch.Tensor]:
    """``pred`` at the ground truth's size; flow_gt (B, 2, H, W), valid (B, 1, H, W) bool, dynamic_gt (B, 1, H, W) {0, 1}.

    Returns ``loss`` (the weighted sum), its terms and the last iteration's EPE over valid pixels.
    """
    if pred.flow.shape != flow_gt.shape or valid.shape != dynamic_gt.shape or valid.shape[-2:] != flow_gt.shape[-2:]:
        raise TrainingConfigError(f"flow loss: prediction {tuple(pred.flow.shape)} vs ground truth {tuple(flow_gt.shape)}, "
                                  f"valid {tuple(valid.shape)}, dynamic {tuple(dynamic_gt.shape)}")
    mask = (valid & (flow_gt.norm(dim=1, keepdim=True) < weights.max_flow)).float()
    count = mask.sum().clamp(min=1.0)
    pos_weight = torch.tensor(weights.dynamic_pos_weight)
    n = len(pred.flows)
    loss_flow = loss_conf = loss_dyn = torch.zeros(())
    epe = torch.zeros(())
    for i, (flow, conf, dyn) in enumerate(zip(pred.flows, pred.confidence_logits, pred.dynamic_logits, strict=True)):
        w = weights.gamma ** (n - 1 - i)
        loss_flow = loss_flow + w * ((flow - flow_gt).abs().sum(dim=1, keepdim=True) * mask).sum() / count
        epe = (flow.detach() - flow_gt).norm(dim=1, keepdim=True)
        accurate = (epe < weights.confidence_px).float()
        bce = F.binary_cross_entropy_with_logits(conf, accurate, reduction="none")
        loss_conf = loss_conf + w * (bce * mask).sum() / count
        loss_dyn = loss_dyn + w * F.binary_cross_entropy_with_logits(dyn, dynamic_gt, pos_weight=pos_weight)
    loss = loss_flow + weights.confidence * loss_conf + weights.dynamic * loss_dyn
    return {"loss": loss, "loss_flow": loss_flow, "loss_confidence": loss_conf, "loss_dynamic": loss_dyn,
            "epe": (epe * mask).sum() / count}
