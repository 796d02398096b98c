"""3D-aware mask head (UP-Fuse hybrid 2D-3D decoder, last layer).

For each point: look at the ``window x window`` range-view pixels around its own pixel (columns
wrap across the 0/360 deg seam, rows do not), keep the ``k`` pixels whose range is nearest to
the point's range (repeating the nearest when fewer than k are valid), concatenate their mask
features (k * C), and map them with a 2-layer MLP to
the point's own mask feature; per-point mask logits are its dot products with the query
embeddings. Occluded points (which lost their pixel) thus read features of surfaces at their
own depth instead of the occluder's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .windows import sliding_windows


def window_ranges(range_image: torch.Tensor, window: int) -> torch.Tensor:
    """(B*H*W, window^2) ranges of every pixel's window; columns wrap across the seam, rows
    outside the image read 0 (empty). Window slot ``j`` is offset (j // window - r, j % window - r)."""
    b, h, w = range_image.shape
    r = window // 2
    padded = F.pad(F.pad(range_image[:, None], (r, r, 0, 0), mode="circular"), (0, 0, r, r))[:, 0]
    return sliding_windows(padded, window).permute(0, 2, 3, 1).reshape(b * h * w, window * window)


def smallest_k_stable(values: torch.Tensor, k: int) -> torch.Tensor:
    """Slots (R, k) of the k smallest of (R, S) values, ascending, equal values in slot order.

    ``values`` are finite or +inf. Ties are common here (a flat wall repeats a range along a row)
    and ``topk`` leaves their order unspecified, so each of the k rounds takes the first minimum
    (``argmin``: first occurrence in torch and in ONNX ArgMin) and marks it taken with +inf, after
    +inf inputs were lowered to the largest float so that they stay selectable in slot order.
    About 5x cheaper in ONNX Runtime than ranking by all S x S pairwise comparisons.
    """
    free = values.clamp(max=torch.finfo(values.dtype).max)
    picks = []
    for i in range(k):
        first = free.argmin(1, keepdim=True)
        picks.append(first)
        if i + 1 < k:
            free = free.scatter(1, first, float("inf"))
    return torch.cat(picks, 1)


def select_nearest_range_neighbours(
    range_image: torch.Tensor, point_vu: torch.Tensor, point_range: torch.Tensor, window: int, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat pixel indices (B, N, k) into (B*H*W) of the k window pixels nearest in range, and validity.

    ``range_image`` (B, H, W) with 0 at empty pixels; ``point_vu`` (B, N, 2) long; ``point_range``
    (B, N). Empty or out-of-image pixels are never preferred over valid ones and are flagged invalid.
    """
    b, h, w = range_image.shape
    n = point_vu.shape[1]
    r = window // 2
    base = torch.arange(b, device=point_vu.device).view(b, 1) * (h * w)
    pixel = (point_vu[..., 0] * w + point_vu[..., 1] + base).reshape(-1)
    candidate_range = window_ranges(range_image, window).index_select(0, pixel)  # (B*N, window^2)
    valid = candidate_range > 0
    distance = torch.where(
        valid, (candidate_range - point_range.reshape(-1, 1)).abs(), torch.full_like(candidate_range, float("inf"))
    )
    pick = smallest_k_stable(distance, k)
    # int32 arithmetic: several times faster than int64 division / remainder on CPU
    pick32 = pick.int()
    rows = (point_vu[..., 0].reshape(-1, 1).int() + torch.div(pick32, window, rounding_mode="floor") - r).clamp(0, h - 1)
    cols = torch.remainder(point_vu[..., 1].reshape(-1, 1).int() + torch.remainder(pick32, window) - r, w)
    index = (rows * w + cols).long() + base.repeat_interleave(n, dim=0)
    return index.view(b, n, k), torch.gather(valid, 1, pick).view(b, n, k)


class PointMaskHead3D(nn.Module):
    """Per-point mask features from the k nearest-range pixels of a window; dot with query embeddings."""

    def __init__(self, mask_dim: int, window: int = 3, k: int = 3, hidden: int = 64) -> None:
        super().__init__()
        if k > window * window:
            raise ValueError(f"k={k} exceeds the {window}x{window} window")
        self.window, self.k = window, k
        self.mlp = nn.Sequential(nn.Linear(k * mask_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, mask_dim))

    def point_features(
        self, mask_features: torch.Tensor, range_image: torch.Tensor, point_vu: torch.Tensor, point_range: torch.Tensor
    ) -> torch.Tensor:
        """(B, N, C) per-point mask features; ``mask_features`` (B, C, h, w) at any stride."""
        b, c = mask_features.shape[:2]
        h, w = range_image.shape[-2:]
        # channels-last upsampling makes the (B*H*W, C) row table a free view
        mask_features = mask_features.contiguous(memory_format=torch.channels_last)
        if mask_features.shape[-2:] != (h, w):
            mask_features = F.interpolate(mask_features, size=(h, w), mode="bilinear", align_corners=False)
        table = mask_features.permute(0, 2, 3, 1).reshape(b * h * w, c)
        index, valid = select_nearest_range_neighbours(range_image, point_vu, point_range, self.window, self.k)
        n = index.shape[1]
        # Fewer than k valid pixels in the window: repeat the nearest one (or the point's own pixel).
        index = torch.where(valid, index, index[..., :1])
        gathered = table.index_select(0, index.reshape(-1)).view(b, n, self.k, c)
        return self.mlp(gathered.reshape(b, n, self.k * c))

    def forward(
        self,
        mask_features: torch.Tensor,
        range_image: torch.Tensor,
        point_vu: torch.Tensor,
        point_range: torch.Tensor,
        query_embed: torch.Tensor,
    ) -> torch.Tensor:
        """Per-point mask logits (B, Q, N)."""
        feats = self.point_features(mask_features, range_image, point_vu, point_range)
        return query_logits(query_embed, feats)


def query_logits(query_embed: torch.Tensor, point_features: torch.Tensor) -> torch.Tensor:
    """(B, Q, C) x (B, N, C) -> (B, Q, N) mask logits, as a batched matrix product: the same sums as
    ``einsum("bqc,bnc->bqn")``, which ONNX Runtime ran about seven times slower on a CPU (docs/benchmarks.md)."""
    return torch.matmul(query_embed, point_features.transpose(1, 2))
