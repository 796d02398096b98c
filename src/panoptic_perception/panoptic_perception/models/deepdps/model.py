"""DeepDPS: depth-aware panoptic segmentation of one camera image with unified per-segment queries.

image -> shared encoder (strides 4-32) -> semantic decoder (pyramid s32/s16/s8 + semantic features
s4) and depth decoder (pyramid s32/s16/s8 + depth embeddings E_depth s4) -> queries through the
masked-attention decoder, each layer followed by geometric query enhancement from the depth pyramid
-> per query: class, mask (semantic features) and depth (kernel psi(X) . E_depth) -> panoptic
post-processing; a backup query (semantic head argmax + its own depth kernel) fills the pixels no
confident mask covers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelInputError
from ..pixel_decoder import PixelDecoder
from ..postprocess import panoptic_inference
from ..registry import ARCHITECTURES, BACKBONES
from ..transformer_decoder import QueryTransformerDecoder
from ..upfuse import IMAGE_MEAN, IMAGE_STD
from .config import DeepDPSConfig
from .depth_head import BACKUP_WEIGHT, SegmentDepthHead, aggregate_depth
from .query_enhancement import GeometricQueryEnhancement


@dataclass
class DeepDPSOutput:
    """Raw network outputs; maps at stride 4 of the (resized) network input, size (h, w).

    ``layers``: per decoder prediction (class logits (B, Q, C+1), mask logits (B, Q, h, w)), last =
    final. ``segment_depth`` (B, Q, h, w) and ``backup_depth`` (B, h, w) [m]; ``depth`` and
    ``depth_spread`` (B, h, w) the mask-weighted mixture and its spread [m]; ``semantic_logits``
    (B, C, h, w) of the light semantic head (logit i = train id i + 1); ``semantic_features``
    (B, mask_dim, h, w) and ``depth_embedding`` (B, depth_dim, h, w) for the guidance losses;
    ``semantic_pyramid`` / ``depth_pyramid``: decoder levels at strides 32, 16, 8.
    """

    layers: list[tuple[torch.Tensor, torch.Tensor]]
    segment_depth: torch.Tensor
    backup_depth: torch.Tensor
    depth: torch.Tensor
    depth_spread: torch.Tensor
    semantic_logits: torch.Tensor
    semantic_features: torch.Tensor
    depth_embedding: torch.Tensor
    semantic_pyramid: list[torch.Tensor] = field(repr=False)
    depth_pyramid: list[torch.Tensor] = field(repr=False)

    @property
    def class_logits(self) -> torch.Tensor:
        return self.layers[-1][0]

    @property
    def mask_logits(self) -> torch.Tensor:
        return self.layers[-1][1]


@dataclass
class DepthPanopticPrediction:
    """Per-pixel result of one image at the input size (H, W)."""

    class_id: torch.Tensor  # (H, W) long train id, 0 = unlabeled
    instance_id: torch.Tensor  # (H, W) long, 0 for stuff / none
    score: torch.Tensor  # (H, W) float in [0, 1]
    depth: torch.Tensor  # (H, W) [m] along the optical axis
    uncertainty: torch.Tensor  # (H, W) relative depth spread sigma / (d + sigma) in [0, 1)
    backup: torch.Tensor  # (H, W) bool, pixels labelled by the backup query


def object_scores(class_logits: torch.Tensor) -> torch.Tensor:
    """(B, Q, C+1) -> (B, Q) probability that the query is an object (1 - p(no object))."""
    return 1 - class_logits.softmax(-1)[..., -1]


def fill_uncovered(
    class_id: torch.Tensor,
    instance_id: torch.Tensor,
    score: torch.Tensor,
    depth: torch.Tensor,
    semantic_logits: torch.Tensor,
    backup_depth: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The backup query: pixels with ``class_id == 0`` (no confident mask) take the semantic argmax
    (train id = logit index + 1, instance 0), its probability as score and the backup depth.

    Maps (H, W), ``semantic_logits`` (C, H, W). Returns (class, instance, score, depth, backup mask).
    """
    backup = class_id == 0
    prob, label = semantic_logits.softmax(0).max(0)
    return (
        torch.where(backup, label + 1, class_id),
        torch.where(backup, torch.zeros_like(instance_id), instance_id),
        torch.where(backup, prob.to(score.dtype), score),
        torch.where(backup, backup_depth, depth),
        backup,
    )


@ARCHITECTURES.register("deepdps")
class DeepDPS(nn.Module):
    config_class = DeepDPSConfig

    def __init__(self, config: DeepDPSConfig) -> None:
        super().__init__()
        cfg = self.config = config
        self.encoder = BACKBONES.get(cfg.backbone)(3, cfg.stem, cfg.widths, cfg.blocks)
        self.semantic_decoder = PixelDecoder(
            cfg.widths, cfg.hidden_dim, cfg.mask_dim, cfg.semantic_decoder_layers, cfg.heads, cfg.ffn_dim
        )
        self.depth_decoder = PixelDecoder(
            cfg.widths, cfg.hidden_dim, cfg.depth_dim, cfg.depth_decoder_layers, cfg.heads, cfg.ffn_dim
        )
        self.decoder = QueryTransformerDecoder(
            cfg.hidden_dim, cfg.num_queries, cfg.decoder_layers, cfg.heads, cfg.ffn_dim, cfg.num_classes, cfg.mask_dim
        )
        self.enhancement = nn.ModuleList(
            GeometricQueryEnhancement(cfg.hidden_dim, cfg.latent_tokens, cfg.heads, cfg.ffn_dim)
            for _ in range(cfg.decoder_layers)
        )
        self.depth_head = SegmentDepthHead(cfg.hidden_dim, cfg.depth_dim, cfg.max_depth)
        self.backup_query = nn.Parameter(torch.randn(cfg.hidden_dim) * 0.02)
        self.semantic_head = nn.Sequential(
            nn.Conv2d(cfg.mask_dim, cfg.mask_dim, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(cfg.mask_dim, cfg.num_classes, 1),
        )
        self.register_buffer("image_mean", torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("image_std", torch.tensor(IMAGE_STD).view(1, 3, 1, 1), persistent=False)

    @classmethod
    def from_config(cls, config: DeepDPSConfig | dict[str, Any]) -> DeepDPS:
        return cls(config if isinstance(config, DeepDPSConfig) else DeepDPSConfig.from_dict(config))

    def forward(self, images: torch.Tensor) -> DeepDPSOutput:
        """images (B, 3, H, W) float RGB in [0, 1]."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ModelInputError(f"DeepDPS expects images (B, 3, H, W), got {tuple(images.shape)}")
        cfg = self.config
        if cfg.image_scale != 1.0:
            h, w = images.shape[-2:]
            size = (max(round(h * cfg.image_scale), 32), max(round(w * cfg.image_scale), 32))
            images = F.interpolate(images, size=size, mode="bilinear", align_corners=False)
        features = self.encoder((images - self.image_mean) / self.image_std)
        semantic_pyramid, semantic_features = self.semantic_decoder(features)
        depth_pyramid, depth_embedding = self.depth_decoder(features)

        def enhance(layer: int, queries: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
            level = layer % self.decoder.num_levels
            return self.enhancement[layer](queries, depth_pyramid[level], level, attn_mask)

        predictions = self.decoder(semantic_pyramid, semantic_features, after_layer=enhance)
        final = predictions[-1]
        assert final.query is not None
        segment_depth = self.depth_head(final.query, depth_embedding)
        backup_depth = self.depth_head(self.backup_query.expand(images.shape[0], 1, -1), depth_embedding)[:, 0]
        depth, spread = aggregate_depth(
            segment_depth, final.mask_logits, object_scores(final.class_logits).detach(), backup_depth,
            BACKUP_WEIGHT if self.config.backup_query else 0.0,
        )
        return DeepDPSOutput(
            layers=[(p.class_logits, p.mask_logits) for p in predictions],
            segment_depth=segment_depth,
            backup_depth=backup_depth,
            depth=depth,
            depth_spread=spread,
            semantic_logits=self.semantic_head(semantic_features),
            semantic_features=semantic_features,
            depth_embedding=depth_embedding,
            semantic_pyramid=semantic_pyramid,
            depth_pyramid=depth_pyramid,
        )

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> list[DepthPanopticPrediction]:
        """Panoptic segmentation + dense depth per image, at the input size."""
        out = self.forward(images)
        size = tuple(images.shape[-2:])
        up = lambda x: F.interpolate(x, size=size, mode="bilinear", align_corners=False)  # noqa: E731
        mask_logits = up(out.mask_logits)
        semantic_logits = up(out.semantic_logits)
        depth_maps = up(torch.stack([out.depth, out.backup_depth, out.depth_spread], 1))
        results = []
        for i in range(images.shape[0]):
            class_id, instance_id, score = panoptic_inference(
                out.class_logits[i],
                mask_logits[i].flatten(1),
                self.config.thing_class_ids,
                self.config.object_mask_threshold,
                self.config.overlap_threshold,
            )
            depth, backup_depth, spread = depth_maps[i]
            class_id, instance_id, score = class_id.view(size), instance_id.view(size), score.view(size)
            if self.config.backup_query:
                class_id, instance_id, score, depth, backup = fill_uncovered(
                    class_id, instance_id, score, depth, semantic_logits[i], backup_depth
                )
            else:
                backup = torch.zeros(size, dtype=torch.bool, device=depth.device)
            uncertainty = spread / (depth + spread).clamp_min(1e-6)
            results.append(DepthPanopticPrediction(class_id, instance_id, score, depth, uncertainty, backup))
        return results
