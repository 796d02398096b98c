"""``DeepDPSConfig``: the architecture of one DeepDPS network (all that ``model.json`` stores)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from panoptic_perception.core import load_class_table

from .. import encoders as _encoders  # noqa: F401  (registers the "residual" backbone)
from ..config_dict import config_from_dict, config_to_dict
from ..errors import ModelConfigError
from ..registry import BACKBONES

_CLASSES = load_class_table()


@dataclass(frozen=True)
class DeepDPSConfig:
    """DeepDPS architecture. Class logit ``i`` is train id ``i + 1``; the last logit is "no object"."""

    num_classes: int = _CLASSES.num_classes - 1
    thing_class_ids: tuple[int, ...] = _CLASSES.thing_ids
    backbone: str = "residual"
    stem: int = 16
    widths: tuple[int, ...] = (16, 24, 32, 48)
    blocks: tuple[int, ...] = (1, 1, 1, 1)
    image_scale: float = 0.5  # images are resized by this factor inside the model; outputs come back at input size
    hidden_dim: int = 32
    mask_dim: int = 32  # per-pixel semantic features (mask features) at stride 4
    depth_dim: int = 16  # per-pixel depth embeddings E_depth at stride 4 (= length of the depth kernel)
    semantic_decoder_layers: int = 1
    depth_decoder_layers: int = 0
    heads: int = 2
    ffn_dim: int = 64
    num_queries: int = 16
    decoder_layers: int = 3
    latent_tokens: int = 8  # geometric query enhancement: size of the latent array
    backup_query: bool = True  # False: ablation without the backup query (no backup depth, uncovered pixels stay 0)
    max_depth: float = 80.0  # [m] D_max of d = D_max * sigmoid(psi(X) . E_depth)
    object_mask_threshold: float = 0.8
    overlap_threshold: float = 0.8

    def __post_init__(self) -> None:
        for name in ("widths", "blocks"):
            if len(getattr(self, name)) != 4:
                raise ModelConfigError(f"DeepDPSConfig.{name} needs 4 entries (strides 4, 8, 16, 32), got {getattr(self, name)}")
        if not 0 < self.image_scale <= 1:
            raise ModelConfigError(f"DeepDPSConfig.image_scale must be in (0, 1], got {self.image_scale}")
        if self.hidden_dim % self.heads:
            raise ModelConfigError(f"DeepDPSConfig.hidden_dim {self.hidden_dim} must divide by heads {self.heads}")
        if any(t < 1 or t > self.num_classes for t in self.thing_class_ids):
            raise ModelConfigError(f"DeepDPSConfig.thing_class_ids {self.thing_class_ids} outside 1..{self.num_classes}")
        if self.max_depth <= 0 or self.latent_tokens < 1 or self.num_queries < 1:
            raise ModelConfigError("DeepDPSConfig: max_depth, latent_tokens and num_queries must be positive")
        if self.backbone not in BACKBONES:
            raise ModelConfigError(f"DeepDPSConfig.backbone: unknown {self.backbone!r}; registered: {BACKBONES.names()}")

    @classmethod
    def cpu_default(cls) -> DeepDPSConfig:
        """The CPU configuration (half-resolution input); the dataclass defaults."""
        return cls()

    @classmethod
    def gpu_large(cls) -> DeepDPSConfig:
        """A larger model for a GPU (full-resolution input, Mask2Former-sized decoder)."""
        return cls(
            stem=32,
            widths=(64, 128, 256, 512),
            blocks=(2, 2, 2, 2),
            image_scale=1.0,
            hidden_dim=256,
            mask_dim=256,
            depth_dim=64,
            semantic_decoder_layers=6,
            depth_decoder_layers=2,
            heads=8,
            ffn_dim=1024,
            num_queries=100,
            decoder_layers=9,
            latent_tokens=64,
        )

    def to_dict(self) -> dict[str, Any]:
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> DeepDPSConfig:
        return config_from_dict(cls, data, source)
