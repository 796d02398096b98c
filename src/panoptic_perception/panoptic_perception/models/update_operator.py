"""PVO's learned update operator on an image pair: iterative flow, confidence and dynamic-mask refinement.

img0, img1 -> luminance -> shared residual encoder (1/8 features + upsampled 1/16 and 1/32) -> matching features of both
images and context (GRU state + input) of img0 -> all-pairs correlation pyramid -> K iterations of:
look up correlation around ``x + flow``, encode motion (correlation, flow, current dynamic mask),
ConvGRU, heads for the flow delta, the confidence logit and the dynamic-mask logit delta (PVO, Xu et
al. CVPR 2023, built on DROID-SLAM / RAFT). Flow is upsampled to the input size with RAFT's convex
combination of 3x3 coarse neighbours; confidence and mask logits bilinearly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .config_dict import config_from_dict, config_to_dict
from .correlation import CorrelationPyramid, coords_grid
from .errors import ModelConfigError, ModelInputError
from .registry import ARCHITECTURES, BACKBONES

STRIDE = 8  # the update operator works on the 1/8 grid
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601: the network sees luminance, so grey and RGB inputs match
LUMA_MEAN, LUMA_STD = 0.45, 0.225
HEAD_DIM = 64  # shared hidden layer of the output heads


@dataclass(frozen=True)
class UpdateOperatorConfig:
    backbone: str = "residual"  # BACKBONES name; levels at strides 8, 16 and 32 are fused at 1/8
    stem: int = 16
    widths: tuple[int, ...] = (24, 32, 48, 64)  # encoder stages at strides 4, 8, 16, 32
    blocks: tuple[int, ...] = (1, 1, 1, 1)
    feature_dim: int = 64  # matching features
    hidden_dim: int = 48  # ConvGRU state
    context_dim: int = 32  # context input of the GRU
    motion_dim: int = 48  # motion encoder output
    corr_levels: int = 3
    corr_radius: int = 3
    iterations: int = 6
    input_width: int = 0  # image width the weights were trained at (LearnedFlow resizes to it); 0 = any

    def __post_init__(self) -> None:
        if len(self.widths) != 4 or len(self.blocks) != 4:
            raise ModelConfigError(f"widths and blocks need 4 entries, got {self.widths} and {self.blocks}")
        if min(self.feature_dim, self.hidden_dim, self.context_dim, self.motion_dim, self.corr_levels, self.iterations) < 1:
            raise ModelConfigError("feature/hidden/context/motion dims, corr_levels and iterations must be >= 1")
        if self.corr_radius < 0 or self.input_width < 0:
            raise ModelConfigError(f"corr_radius and input_width must be >= 0, got {self.corr_radius}, {self.input_width}")

    def to_dict(self) -> dict[str, Any]:
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> UpdateOperatorConfig:
        return config_from_dict(cls, data, source)


@dataclass
class FlowPrediction:
    """Per iteration, at the input size (H, W): flow (B, 2, H, W) [px] as (dx, dy), confidence logits
    (B, 1, H, W) (sigmoid = probability that the flow is accurate), dynamic-mask logits (B, 1, H, W)
    (sigmoid = probability that the pixel belongs to a moving object)."""

    flows: list[torch.Tensor]
    confidence_logits: list[torch.Tensor]
    dynamic_logits: list[torch.Tensor]

    @property
    def flow(self) -> torch.Tensor:
        return self.flows[-1]

    @property
    def confidence(self) -> torch.Tensor:
        return torch.sigmoid(self.confidence_logits[-1])

    @property
    def dynamic(self) -> torch.Tensor:
        return torch.sigmoid(self.dynamic_logits[-1])


class ConvGRU(nn.Module):
    """``h' = (1 - z) h + z tanh(W_q [r h, x])`` with 3x3 convolutions."""

    def __init__(self, hidden: int, inputs: int) -> None:
        super().__init__()
        self.convz = nn.Conv2d(hidden + inputs, hidden, 3, padding=1)
        self.convr = nn.Conv2d(hidden + inputs, hidden, 3, padding=1)
        self.convq = nn.Conv2d(hidden + inputs, hidden, 3, padding=1)

    def forward(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        hx = torch.cat((h, x), dim=1)
        z = torch.sigmoid(self.convz(hx))
        r = torch.sigmoid(self.convr(hx))
        q = torch.tanh(self.convq(torch.cat((r * h, x), dim=1)))
        return (1 - z) * h + z * q


class MotionEncoder(nn.Module):
    """Correlation features, the current flow and the current dynamic-mask probability -> motion features."""

    def __init__(self, corr_channels: int, out_dim: int) -> None:
        super().__init__()
        self.corr = nn.Sequential(nn.Conv2d(corr_channels, 64, 1), nn.ReLU(inplace=True))
        self.flow = nn.Sequential(nn.Conv2d(3, 32, 7, padding=3), nn.ReLU(inplace=True),
                                  nn.Conv2d(32, 16, 3, padding=1), nn.ReLU(inplace=True))
        self.out = nn.Sequential(nn.Conv2d(64 + 16, out_dim - 3, 3, padding=1), nn.ReLU(inplace=True))

    def forward(self, corr: torch.Tensor, flow: torch.Tensor, dynamic: torch.Tensor) -> torch.Tensor:
        state = torch.cat((flow, dynamic), dim=1)
        return torch.cat((self.out(torch.cat((self.corr(corr), self.flow(state)), dim=1)), state), dim=1)


def convex_upsample(flow: torch.Tensor, mask: torch.Tensor, factor: int) -> torch.Tensor:
    """RAFT's upsampling: each fine pixel is a softmax-weighted mix of the 3x3 coarse neighbours (flow x factor)."""
    batch, _, height, width = flow.shape
    mask = mask.view(batch, 1, 9, factor, factor, height, width).softmax(dim=2)
    patches = F.unfold(factor * flow, 3, padding=1).view(batch, 2, 9, 1, 1, height, width)
    up = (mask * patches).sum(dim=2)  # (B, 2, f, f, H, W)
    return up.permute(0, 1, 4, 2, 5, 3).reshape(batch, 2, factor * height, factor * width)


@ARCHITECTURES.register("update_operator")
class UpdateOperator(nn.Module):
    config_class = UpdateOperatorConfig

    def __init__(self, config: UpdateOperatorConfig) -> None:
        super().__init__()
        cfg = self.config = config
        self.encoder = BACKBONES.get(cfg.backbone)(1, cfg.stem, cfg.widths, cfg.blocks)
        self.lateral8 = nn.Conv2d(cfg.widths[1], 64, 1)
        self.lateral16 = nn.Conv2d(cfg.widths[2], 64, 1)
        self.lateral32 = nn.Conv2d(cfg.widths[3], 64, 1)
        self.feature_head = nn.Conv2d(64, cfg.feature_dim, 1)
        self.context_head = nn.Conv2d(64, cfg.hidden_dim + cfg.context_dim, 1)
        corr_channels = cfg.corr_levels * (2 * cfg.corr_radius + 1) ** 2
        self.motion = MotionEncoder(corr_channels, cfg.motion_dim)
        self.gru = ConvGRU(cfg.hidden_dim, cfg.context_dim + cfg.motion_dim)
        self.head = nn.Sequential(nn.Conv2d(cfg.hidden_dim, HEAD_DIM, 3, padding=1), nn.ReLU(inplace=True))
        self.flow_head = nn.Conv2d(HEAD_DIM, 2, 3, padding=1)
        self.confidence_head = nn.Conv2d(HEAD_DIM, 1, 1)
        self.dynamic_head = nn.Conv2d(HEAD_DIM, 1, 3, padding=1)
        self.upsample_head = nn.Conv2d(HEAD_DIM, 9 * STRIDE * STRIDE, 1)
        self.register_buffer("luma", torch.tensor(LUMA).view(1, 3, 1, 1), persistent=False)

    @classmethod
    def from_config(cls, config: UpdateOperatorConfig | dict[str, Any]) -> UpdateOperator:
        return cls(config if isinstance(config, UpdateOperatorConfig) else UpdateOperatorConfig.from_dict(config))

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) RGB in [0, 1], H and W multiples of 8 -> (N, 64, H/8, W/8) fused 1/8, 1/16, 1/32 features."""
        grey = (images * self.luma).sum(dim=1, keepdim=True)
        levels = self.encoder((grey - LUMA_MEAN) / LUMA_STD)
        s8 = self.lateral8(levels[1])
        coarse = [F.interpolate(lateral(level), size=s8.shape[-2:], mode="bilinear", align_corners=False)
                  for lateral, level in ((self.lateral16, levels[2]), (self.lateral32, levels[3]))]
        return F.relu(s8 + coarse[0] + coarse[1])

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, iterations: int | None = None,
                all_iterations: bool | None = None, flow_init: torch.Tensor | None = None) -> FlowPrediction:
        """img0, img1 (B, 3, H, W) float RGB in [0, 1]; any H, W (padded to multiples of 8 internally).

        ``all_iterations`` (default: in training mode) upsamples every iteration's outputs for the
        sequence loss; otherwise only the last iteration's are returned. ``flow_init`` (B, 2, H, W) [px]:
        the flow to start from (DROID-SLAM starts from the flow the current poses and depths induce);
        it is averaged onto the 1/8 grid.
        """
        if img0.ndim != 4 or img0.shape[1] != 3 or img0.shape != img1.shape:
            raise ModelInputError(f"img0, img1: expected two (B, 3, H, W) RGB batches, got {tuple(img0.shape)}, "
                                  f"{tuple(img1.shape)}")
        iterations = self.config.iterations if iterations is None else iterations
        all_iterations = self.training if all_iterations is None else all_iterations
        if iterations < 1:
            raise ModelInputError(f"iterations: must be >= 1, got {iterations}")
        batch, _, height, width = img0.shape
        pad_h, pad_w = (-height) % STRIDE, (-width) % STRIDE
        if flow_init is not None and flow_init.shape != (batch, 2, height, width):
            raise ModelInputError(f"flow_init: expected {(batch, 2, height, width)}, got {tuple(flow_init.shape)}")
        if pad_h or pad_w:
            img0 = F.pad(img0, (0, pad_w, 0, pad_h), mode="replicate")
            img1 = F.pad(img1, (0, pad_w, 0, pad_h), mode="replicate")
        trunk = self.encode(torch.cat((img0, img1), dim=0))
        fmap0, fmap1 = self.feature_head(trunk).split(batch, dim=0)
        corr = CorrelationPyramid(fmap0, fmap1, self.config.corr_levels, self.config.corr_radius)
        hidden, context = self.context_head(trunk[:batch]).split((self.config.hidden_dim, self.config.context_dim), dim=1)
        hidden, context = torch.tanh(hidden), F.relu(context)
        coords0 = coords_grid(batch, *fmap0.shape[-2:], device=img0.device)
        flow = torch.zeros_like(coords0)
        if flow_init is not None:
            padded = F.pad(flow_init, (0, pad_w, 0, pad_h), mode="replicate")
            flow = F.avg_pool2d(padded, STRIDE) / STRIDE
        dynamic = torch.zeros_like(coords0[:, :1])  # logits; PVO would seed them from the panoptic masks
        out = FlowPrediction([], [], [])
        for k in range(iterations):
            flow = flow.detach()  # RAFT: no gradient through the flow fed back into the lookup
            motion = self.motion(corr(coords0 + flow), flow, torch.sigmoid(dynamic))
            hidden = self.gru(hidden, torch.cat((context, motion), dim=1))
            head = self.head(hidden)
            flow = flow + self.flow_head(head)
            dynamic = dynamic + self.dynamic_head(head)
            if all_iterations or k == iterations - 1:
                up_flow = convex_upsample(flow, 0.25 * self.upsample_head(head), STRIDE)
                size = up_flow.shape[-2:]
                out.flows.append(up_flow[..., :height, :width])
                for logits, target in ((self.confidence_head(head), out.confidence_logits), (dynamic, out.dynamic_logits)):
                    target.append(F.interpolate(logits, size=size, mode="bilinear", align_corners=False)[..., :height, :width])
        return out
