"""Query transformer decoder (Mask2Former): masked cross-attention, self-attention, FFN.

Each layer attends to one of the three lowest-resolution pixel-decoder levels round robin; the
attention mask of a layer is the previous prediction's mask (sigmoid < 0.5 is masked out).
Predictions (class logits over ``num_classes + 1``, the last being "no object", and mask
embeddings) are made before the first layer and after each layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .pixel_decoder import sine_position_encoding


@dataclass
class QueryPrediction:
    class_logits: torch.Tensor  # (B, Q, num_classes + 1)
    mask_embed: torch.Tensor  # (B, Q, mask_dim)
    mask_logits: torch.Tensor  # (B, Q, H4, W4) range-view masks at stride 4
    query: torch.Tensor | None = None  # (B, Q, dim) normalised query features the heads read


class MLP(nn.Sequential):
    def __init__(self, dims: list[int]) -> None:
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
            layers.append(nn.Linear(a, b))
            if i < len(dims) - 2:
                layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class DecoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int, ffn_dim: int) -> None:
        super().__init__()
        self.cross = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm_cross = nn.LayerNorm(dim)
        self.self_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm_self = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.ReLU(inplace=True), nn.Linear(ffn_dim, dim))
        self.norm_ffn = nn.LayerNorm(dim)

    def forward(
        self, q: torch.Tensor, q_pos: torch.Tensor, memory: torch.Tensor, m_pos: torch.Tensor, attn_mask: torch.Tensor
    ) -> torch.Tensor:
        q = self.norm_cross(q + self.cross(q + q_pos, memory + m_pos, memory, attn_mask=attn_mask, need_weights=False)[0])
        qq = q + q_pos
        q = self.norm_self(q + self.self_attn(qq, qq, q, need_weights=False)[0])
        return self.norm_ffn(q + self.ffn(q))


class QueryTransformerDecoder(nn.Module):
    def __init__(
        self,
        dim: int,
        num_queries: int,
        num_layers: int,
        heads: int,
        ffn_dim: int,
        num_classes: int,
        mask_dim: int,
        num_levels: int = 3,
    ) -> None:
        super().__init__()
        self.heads, self.num_levels = heads, num_levels
        self.query_feat = nn.Embedding(num_queries, dim)
        self.query_pos = nn.Embedding(num_queries, dim)
        self.level_embed = nn.Embedding(num_levels, dim)
        self.layers = nn.ModuleList(DecoderLayer(dim, heads, ffn_dim) for _ in range(num_layers))
        self.norm = nn.LayerNorm(dim)
        self.class_embed = nn.Linear(dim, num_classes + 1)
        self.mask_embed = MLP([dim, dim, dim, mask_dim])

    def predict(
        self, q: torch.Tensor, mask_features: torch.Tensor, attn_size: tuple[int, int]
    ) -> tuple[QueryPrediction, torch.Tensor]:
        q = self.norm(q)
        embed = self.mask_embed(q)
        mask_logits = torch.einsum("bqc,bchw->bqhw", embed, mask_features)
        # Attention mask for the next layer: True = not attended.
        small = F.interpolate(mask_logits, size=attn_size, mode="bilinear", align_corners=False)
        attn_mask = (small.sigmoid() < 0.5).flatten(2)
        attn_mask = attn_mask & ~attn_mask.all(dim=-1, keepdim=True)
        attn_mask = attn_mask.repeat_interleave(self.heads, dim=0).detach()
        return QueryPrediction(self.class_embed(q), embed, mask_logits, q), attn_mask

    def forward(
        self,
        multi_scale: list[torch.Tensor],
        mask_features: torch.Tensor,
        after_layer: Callable[[int, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    ) -> list[QueryPrediction]:
        """``after_layer(layer_index, queries, attn_mask)``, when given, refines the queries after every
        layer (DeepDPS's geometric query enhancement); ``attn_mask`` is the one that layer used, over
        the pixels of level ``layer_index % num_levels``."""
        b = mask_features.shape[0]
        memories, positions, sizes = [], [], []
        for i, x in enumerate(multi_scale):
            _, d, h, w = x.shape
            memories.append(x.flatten(2).transpose(1, 2) + self.level_embed.weight[i])
            positions.append(sine_position_encoding(h, w, d, x.device, x.dtype)[None])
            sizes.append((h, w))
        q = self.query_feat.weight[None].expand(b, -1, -1)
        q_pos = self.query_pos.weight[None].expand(b, -1, -1)
        predictions = []
        pred, attn_mask = self.predict(q, mask_features, sizes[0])
        predictions.append(pred)
        for i, layer in enumerate(self.layers):
            level = i % self.num_levels
            q = layer(q, q_pos, memories[level], positions[level], attn_mask)
            if after_layer is not None:
                q = after_layer(i, q, attn_mask)
            pred, attn_mask = self.predict(q, mask_features, sizes[(i + 1) % self.num_levels])
            predictions.append(pred)
        return predictions
