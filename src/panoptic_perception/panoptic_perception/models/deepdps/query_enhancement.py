"""Geometric query enhancement (DeepDPS): scene geometry flows into the queries through a latent array.

Per decoder layer: (1) a fixed-size latent array cross-attends to the depth-decoder features of the
layer's level, masked to the pixels that the current query masks cover; (2) self-attention within
the latent; (3) the queries cross-attend to the latent. Cost is O(latent x pixels), independent of
the number of queries.
"""

from __future__ import annotations

import torch
from torch import nn

from ..pixel_decoder import sine_position_encoding


def covered_pixel_mask(attn_mask: torch.Tensor) -> torch.Tensor:
    """(B*heads, Q, P) query attention masks (True = not attended) -> (B*heads, 1, P) True = not covered.

    A query whose mask is all False (the decoder's fallback for an empty mask, or a mask covering
    everything) says nothing about where objects are and is left out of the union; when no query is
    informative the latent attends everywhere.
    """
    informative = attn_mask.any(dim=-1, keepdim=True)
    covered = (~attn_mask & informative).any(dim=1, keepdim=True)
    covered = covered | ~covered.any(dim=-1, keepdim=True)
    return ~covered


class GeometricQueryEnhancement(nn.Module):
    def __init__(self, dim: int, latent_tokens: int, heads: int, ffn_dim: int, num_levels: int = 3) -> None:
        super().__init__()
        self.heads = heads
        self.latent = nn.Embedding(latent_tokens, dim)
        self.level_embed = nn.Embedding(num_levels, dim)
        self.depth_to_latent = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm_read = nn.LayerNorm(dim)
        self.latent_self = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm_self = nn.LayerNorm(dim)
        self.latent_ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.ReLU(inplace=True), nn.Linear(ffn_dim, dim))
        self.norm_ffn = nn.LayerNorm(dim)
        self.query_from_latent = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm_write = nn.LayerNorm(dim)

    def forward(self, queries: torch.Tensor, depth_level: torch.Tensor, level: int, attn_mask: torch.Tensor) -> torch.Tensor:
        """queries (B, Q, dim), depth features (B, dim, h, w), attn_mask (B*heads, Q, h*w) -> queries."""
        b, d, h, w = depth_level.shape
        memory = depth_level.flatten(2).transpose(1, 2) + self.level_embed.weight[level]
        pos = sine_position_encoding(h, w, d, depth_level.device, depth_level.dtype)[None]
        latent = self.latent.weight[None].expand(b, -1, -1)
        mask = covered_pixel_mask(attn_mask).expand(-1, latent.shape[1], -1)
        read = self.depth_to_latent(latent, memory + pos, memory, attn_mask=mask, need_weights=False)[0]
        latent = self.norm_read(latent + read)
        latent = self.norm_self(latent + self.latent_self(latent, latent, latent, need_weights=False)[0])
        latent = self.norm_ffn(latent + self.latent_ffn(latent))
        return self.norm_write(queries + self.query_from_latent(queries, latent, latent, need_weights=False)[0])
