"""Per-segment depth (DeepDPS): every query predicts a depth map for its own segment.

``d_i(p) = D_max * sigmoid(psi(X_i) . E_depth(p))`` with ``psi`` an MLP turning the query's
features into a depth kernel. The dense depth is the mask-weighted mixture of the per-segment
maps, ``w_i(p) = sigmoid(M_i(p)) * s_i`` (``s_i`` the query's object score), with the backup
query's map always present at a small fixed weight so that the mixture is defined everywhere.
"""

from __future__ import annotations

import torch
from torch import nn

from ..transformer_decoder import MLP

BACKUP_WEIGHT = 0.05  # weight of the backup query's map in the mixture; ~0 next to a confident mask (w ~ 1)


class SegmentDepthHead(nn.Module):
    def __init__(self, dim: int, depth_dim: int, max_depth: float) -> None:
        super().__init__()
        self.max_depth = max_depth
        self.psi = MLP([dim, dim, depth_dim])

    def forward(self, query: torch.Tensor, depth_embedding: torch.Tensor) -> torch.Tensor:
        """query (B, Q, dim), E_depth (B, depth_dim, h, w) -> per-segment depth (B, Q, h, w) [m]."""
        kernel = self.psi(query)
        return self.max_depth * torch.einsum("bqc,bchw->bqhw", kernel, depth_embedding).sigmoid()


def aggregate_depth(
    segment_depth: torch.Tensor,
    mask_logits: torch.Tensor,
    scores: torch.Tensor,
    backup_depth: torch.Tensor,
    backup_weight: float = BACKUP_WEIGHT,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixture of per-segment depths (B, Q, h, w) and the backup map (B, h, w) -> (depth, spread) (B, h, w).

    ``depth = (sum_i w_i d_i + w_b d_b) / (sum_i w_i + w_b)``; ``spread`` is the weighted standard
    deviation of the same mixture [m], large where overlapping masks disagree on depth.
    """
    weights = mask_logits.sigmoid() * scores[..., None, None]
    total = (weights.sum(1) + backup_weight).clamp_min(1e-12)  # backup_weight 0: the no-backup-query ablation
    depth = ((weights * segment_depth).sum(1) + backup_weight * backup_depth) / total
    second = ((weights * segment_depth.square()).sum(1) + backup_weight * backup_depth.square()) / total
    spread = (second - depth.square()).clamp_min(0).sqrt()
    return depth, spread
