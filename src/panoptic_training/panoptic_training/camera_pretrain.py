"""Camera-only pre-training of the UP-Fuse camera encoder: a small per-pixel semantic head.

The head (1x1 lateral convs, upsampled to stride 4 and summed, 1x1 classifier) is thrown away
after pre-training; only ``camera_encoder.*`` weights are kept and loaded, frozen, for fusion.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from panoptic_perception.models import UPFuseConfig
from panoptic_perception.models.registry import BACKBONES
from panoptic_perception.models.upfuse import IMAGE_MEAN, IMAGE_STD

ENCODER_PREFIX = "camera_encoder."


class CameraSemanticModel(nn.Module):
    """UP-Fuse's camera encoder (same config fields, same input scaling) plus a semantic head."""

    def __init__(self, config: UPFuseConfig, head_channels: int = 32) -> None:
        super().__init__()
        self.camera_scale = config.camera_scale
        self.num_classes = config.num_classes + 1  # train ids incl. unlabeled 0 (ignored by the loss)
        self.camera_encoder = BACKBONES.get(config.camera_backbone)(
            3, config.camera_stem, config.camera_widths, config.camera_blocks
        )
        self.lateral = nn.ModuleList(nn.Conv2d(c, head_channels, 1) for c in config.camera_widths)
        self.classifier = nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(head_channels, self.num_classes, 1))
        self.register_buffer("image_mean", torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("image_std", torch.tensor(IMAGE_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> class logits on the stride-4 grid of the resized image."""
        h, w = images.shape[-2:]
        if self.camera_scale != 1.0:  # as UPFuse.encode_camera
            size = (max(round(h * self.camera_scale), 1), max(round(w * self.camera_scale), 1))
            images = F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=False)
        features = self.camera_encoder((images - self.image_mean) / self.image_std)
        size = features[0].shape[-2:]
        out = sum(
            F.interpolate(lat(f), size=size, mode="bilinear", align_corners=False)
            for lat, f in zip(self.lateral, features, strict=True)
        )
        return self.classifier(out)

    def encoder_state(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items() if k.startswith(ENCODER_PREFIX)}


def camera_semantic_loss(logits: torch.Tensor, semantic: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against (B, H, W) train ids, resampled (nearest) to the logits' grid; 0 ignored."""
    target = F.interpolate(semantic[:, None].float(), size=logits.shape[-2:], mode="nearest")[:, 0].long()
    return F.cross_entropy(logits, target, ignore_index=0)
