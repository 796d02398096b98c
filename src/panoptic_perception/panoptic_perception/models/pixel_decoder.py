"""Multi-scale pixel decoder (Mask2Former-style, simplified).

Choice: plain multi-head self-attention (not multi-scale deformable attention) on the stride-32
level only, then an FPN top-down path to strides 16, 8, 4. The stride-32/16/8 outputs feed the
query decoder's masked cross-attention; the stride-4 output gives the per-pixel mask features.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def sine_position_encoding(h: int, w: int, dim: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """2D sine positional encoding (DETR), (h*w, dim): half the channels for y, half for x."""
    quarter = dim // 4
    freqs = torch.exp(torch.arange(quarter, device=device, dtype=dtype) * (-math.log(10000.0) / max(quarter, 1)))
    ys = (torch.arange(h, device=device, dtype=dtype) + 0.5) / h * 2 * math.pi
    xs = (torch.arange(w, device=device, dtype=dtype) + 0.5) / w * 2 * math.pi
    py = ys[:, None] * freqs[None, :]
    px = xs[:, None] * freqs[None, :]
    enc_y = torch.cat([py.sin(), py.cos()], dim=1)[:, None, :].expand(h, w, 2 * quarter)
    enc_x = torch.cat([px.sin(), px.cos()], dim=1)[None, :, :].expand(h, w, 2 * quarter)
    enc = torch.cat([enc_y, enc_x], dim=-1).reshape(h * w, 4 * quarter)
    if enc.shape[1] < dim:
        enc = F.pad(enc, (0, dim - enc.shape[1]))
    return enc


class EncoderLayer(nn.Module):
    """Post-norm transformer encoder layer with positional encoding added to queries and keys."""

    def __init__(self, dim: int, heads: int, ffn_dim: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm1 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.ReLU(inplace=True), nn.Linear(ffn_dim, dim))
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        q = x + pos
        x = self.norm1(x + self.attn(q, q, x, need_weights=False)[0])
        return self.norm2(x + self.ffn(x))


class PixelDecoder(nn.Module):
    """Fused features at strides (4, 8, 16, 32) -> ([s32, s16, s8] at ``dim``, mask features at s4)."""

    def __init__(self, in_channels: tuple[int, ...], dim: int, mask_dim: int, layers: int, heads: int, ffn_dim: int) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, dim, 1) for c in in_channels)
        self.output = nn.ModuleList(
            nn.Sequential(nn.Conv2d(dim, dim, 3, padding=1, bias=False), nn.GroupNorm(1, dim), nn.ReLU(inplace=True))
            for _ in in_channels[:-1]
        )
        self.encoder = nn.ModuleList(EncoderLayer(dim, heads, ffn_dim) for _ in range(layers))
        self.mask_features = nn.Conv2d(dim, mask_dim, 1)

    def forward(self, features: list[torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor]:
        top = self.lateral[-1](features[-1])
        b, d, h, w = top.shape
        tokens = top.flatten(2).transpose(1, 2)
        pos = sine_position_encoding(h, w, d, top.device, top.dtype)[None]
        for layer in self.encoder:
            tokens = layer(tokens, pos)
        x = tokens.transpose(1, 2).reshape(b, d, h, w)
        outs = [x]
        for level in range(len(features) - 2, -1, -1):
            lateral = self.lateral[level](features[level])
            x = lateral + F.interpolate(x, size=lateral.shape[-2:], mode="bilinear", align_corners=False)
            x = self.output[level](x)
            outs.append(x)
        # outs: s32, s16, s8, s4
        return outs[:3], self.mask_features(outs[3])
