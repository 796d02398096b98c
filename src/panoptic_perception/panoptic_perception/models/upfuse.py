"""UP-Fuse: uncertainty-aware LiDAR-camera panoptic fusion, assembled.

range image -> LiDAR encoder (F_L, strides 4-32); camera images -> camera encoder; LiDAR depth
densified in each camera -> camera features warped into the range view (F_C, mask) -> fusion
at every scale (F_F, U) -> pixel decoder -> query decoder -> per-point masks from the 3D-aware
mask head (last layer) -> panoptic post-processing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from panoptic_perception.core import load_class_table

from .config_dict import config_from_dict, config_to_dict
from .errors import ModelConfigError, ModelInputError
from .mask_head_3d import PointMaskHead3D, query_logits
from .pixel_decoder import PixelDecoder
from .postprocess import PanopticPrediction, panoptic_instances, thing_slots
from .range_view import RangeViewSpec, project_to_range_view
from .registry import ARCHITECTURES, BACKBONES, FUSION_MODULES
from .tracking_head import TrackingHead
from .tracking_inputs import INPUT_KINDS, SweepContext
from .transformer_decoder import QueryTransformerDecoder
from .view_transform import camera_to_range_view, dense_camera_depth, scale_intrinsics

# RangeNet++'s SemanticKITTI statistics, reordered to (r, z, intensity, x, y).
RANGE_MEAN = (12.12, -1.04, 0.21, 10.88, 0.23)
RANGE_STD = (12.32, 0.86, 0.16, 11.47, 6.91)
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)
_CLASSES = load_class_table()  # defaults come from the one class table (core/classes.yaml)


@dataclass(frozen=True)
class UPFuseConfig:
    """Architecture of one UP-Fuse network (all that ``model.json`` stores)."""

    num_classes: int = _CLASSES.num_classes - 1  # classes without "unlabeled"; logit i is train id i + 1
    thing_class_ids: tuple[int, ...] = _CLASSES.thing_ids
    range_height: int = 32
    range_width: int = 1024
    fov_up_deg: float = 10.0
    fov_down_deg: float = -30.0
    range_mean: tuple[float, ...] = RANGE_MEAN
    range_std: tuple[float, ...] = RANGE_STD
    lidar_backbone: str = "residual"
    lidar_stem: int = 16
    lidar_widths: tuple[int, ...] = (16, 32, 48, 64)
    lidar_blocks: tuple[int, ...] = (1, 1, 1, 1)
    camera_backbone: str = "residual"
    camera_stem: int = 16
    camera_widths: tuple[int, ...] = (16, 24, 32, 48)
    camera_blocks: tuple[int, ...] = (1, 1, 1, 1)
    camera_scale: float = 0.5  # camera images are resized by this factor inside the model
    max_depth: float = 100.0  # [m], depth completion's inversion constant
    fusion: str = "upfuse"
    fusion_heads: int = 1
    fusion_points: int = 4
    fusion_hidden: int = 32
    instability_lidar_cue: bool = False  # the instability MLP also sees F_L (off keeps old model.json files)
    hidden_dim: int = 32
    mask_dim: int = 32
    pixel_decoder_layers: int = 1
    heads: int = 2
    ffn_dim: int = 64
    num_queries: int = 16
    decoder_layers: int = 3
    mask_head_window: int = 3
    mask_head_k: int = 3
    mask_head_hidden: int = 32
    object_mask_threshold: float = 0.8
    overlap_threshold: float = 0.8
    tracking_head: bool = False  # MOPT association head (models/tracking_head.py); off keeps old model.json files
    tracking_hidden: int = 128
    association_dim: int = 32  # per thing class; the head outputs association_dim * len(thing_class_ids)
    tracking_inputs: str = "features"  # what the head takes per instance: tracking_inputs.INPUT_KINDS

    def __post_init__(self) -> None:
        for name in ("lidar_widths", "lidar_blocks", "camera_widths", "camera_blocks"):
            if len(getattr(self, name)) != 4:
                raise ModelConfigError(f"UPFuseConfig.{name} needs 4 entries (strides 4, 8, 16, 32), got {getattr(self, name)}")
        if len(self.range_mean) != 5 or len(self.range_std) != 5:
            raise ModelConfigError("UPFuseConfig.range_mean/range_std need 5 entries (r, z, intensity, x, y)")
        if not 0 < self.camera_scale <= 1:
            raise ModelConfigError(f"UPFuseConfig.camera_scale must be in (0, 1], got {self.camera_scale}")
        if self.hidden_dim % self.heads or any(w % self.fusion_heads for w in self.lidar_widths):
            raise ModelConfigError("UPFuseConfig: hidden_dim must divide by heads and every lidar width by fusion_heads")
        if any(t < 1 or t > self.num_classes for t in self.thing_class_ids):
            raise ModelConfigError(f"UPFuseConfig.thing_class_ids {self.thing_class_ids} outside 1..{self.num_classes}")
        if self.tracking_hidden < 1 or self.association_dim < 1:
            raise ModelConfigError("UPFuseConfig.tracking_hidden and association_dim must be >= 1")
        if self.tracking_inputs not in INPUT_KINDS:
            raise ModelConfigError(f"UPFuseConfig.tracking_inputs: unknown {self.tracking_inputs!r}; known: {INPUT_KINDS}")
        if self.fusion not in FUSION_MODULES:
            raise ModelConfigError(f"UPFuseConfig.fusion: unknown {self.fusion!r}; registered: {FUSION_MODULES.names()}")

    @property
    def range_spec(self) -> RangeViewSpec:
        return RangeViewSpec(self.range_height, self.range_width, self.fov_up_deg, self.fov_down_deg)

    @classmethod
    def cpu_default(cls) -> UPFuseConfig:
        """The CPU configuration (32-beam range view); the dataclass defaults."""
        return cls()

    @classmethod
    def gpu_large(cls) -> UPFuseConfig:
        """A larger model for a GPU (64-beam range view, full-resolution camera)."""
        return cls(
            range_height=64,
            range_width=2048,
            fov_up_deg=3.0,
            fov_down_deg=-25.0,
            lidar_stem=32,
            lidar_widths=(64, 128, 192, 256),
            lidar_blocks=(2, 2, 2, 2),
            camera_stem=32,
            camera_widths=(64, 128, 256, 384),
            camera_blocks=(2, 2, 2, 2),
            camera_scale=1.0,
            fusion_heads=8,
            fusion_hidden=128,
            hidden_dim=256,
            mask_dim=256,
            pixel_decoder_layers=6,
            heads=8,
            ffn_dim=1024,
            num_queries=100,
            decoder_layers=9,
            mask_head_window=5,
            mask_head_k=5,
            mask_head_hidden=256,
        )

    def to_dict(self) -> dict[str, Any]:
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> UPFuseConfig:
        return config_from_dict(cls, data, source)


@dataclass
class UPFuseBatch:
    """A batch of B sweeps (points padded to N) and M cameras per sweep.

    ``range_features`` (B, 5, H, W) r, z, intensity, x, y; ``range_mask`` (B, H, W) bool;
    ``point_xyz`` (B, N, 3); ``point_vu`` (B, N, 2) long pixel of every point; ``point_range`` (B, N);
    ``point_valid`` (B, N) bool (False = padding); ``images`` (B, M, 3, Hc, Wc) float RGB in [0, 1];
    ``K`` (B, M, 3, 3) at the given image size; ``T_cam_lidar`` (B, M, 4, 4); ``camera_valid`` (B, M) bool.
    ``camera_depth`` (B, M, Hc, Wc) [m], optional: dense depth per camera (e.g. DeepDPS) used by the view
    transformation instead of completing the LiDAR depth (None = classical completion, what UP-Fuse trains with).
    """

    range_features: torch.Tensor
    range_mask: torch.Tensor
    point_xyz: torch.Tensor
    point_vu: torch.Tensor
    point_range: torch.Tensor
    point_valid: torch.Tensor
    images: torch.Tensor
    K: torch.Tensor
    T_cam_lidar: torch.Tensor
    camera_valid: torch.Tensor
    camera_depth: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> UPFuseBatch:
        return UPFuseBatch(**{f.name: None if getattr(self, f.name) is None else getattr(self, f.name).to(device)
                              for f in dataclasses.fields(self)})

    def validate(self, spec: RangeViewSpec) -> None:
        b = self.range_features.shape[0]
        expect = {
            "range_features": (b, 5, spec.height, spec.width),
            "range_mask": (b, spec.height, spec.width),
        }
        for name, shape in expect.items():
            if tuple(getattr(self, name).shape) != shape:
                raise ModelInputError(f"UPFuseBatch.{name}: expected shape {shape}, got {tuple(getattr(self, name).shape)}")
        n = self.point_xyz.shape[1]
        for name, shape in {"point_xyz": (b, n, 3), "point_vu": (b, n, 2), "point_range": (b, n), "point_valid": (b, n)}.items():
            if tuple(getattr(self, name).shape) != shape:
                raise ModelInputError(f"UPFuseBatch.{name}: expected shape {shape}, got {tuple(getattr(self, name).shape)}")
        if self.images.ndim != 5 or self.images.shape[:3] != (b, self.K.shape[1], 3):
            raise ModelInputError(
                f"UPFuseBatch.images: expected (B, M, 3, H, W) with M = {self.K.shape[1]}, got {tuple(self.images.shape)}"
            )
        m = self.images.shape[1]
        for name, shape in {"K": (b, m, 3, 3), "T_cam_lidar": (b, m, 4, 4), "camera_valid": (b, m)}.items():
            if tuple(getattr(self, name).shape) != shape:
                raise ModelInputError(f"UPFuseBatch.{name}: expected shape {shape}, got {tuple(getattr(self, name).shape)}")
        if self.camera_depth is not None and tuple(self.camera_depth.shape) != (b, m, *self.images.shape[-2:]):
            raise ModelInputError(f"UPFuseBatch.camera_depth: expected shape {(b, m, *self.images.shape[-2:])}, "
                                  f"got {tuple(self.camera_depth.shape)}")


def collate(
    points: list[torch.Tensor],
    spec: RangeViewSpec,
    images: torch.Tensor,
    K: torch.Tensor,
    T_cam_lidar: torch.Tensor,
    camera_valid: torch.Tensor | None = None,
) -> UPFuseBatch:
    """Project each (N_i, 4) sweep and pad to a batch; camera tensors as in ``UPFuseBatch``."""
    projections = [project_to_range_view(p, spec) for p in points]
    b, n = len(points), max((p.shape[0] for p in points), default=0)
    device = images.device
    xyz = torch.zeros(b, n, 3, device=device)
    vu = torch.zeros(b, n, 2, dtype=torch.long, device=device)
    rng = torch.zeros(b, n, device=device)
    valid = torch.zeros(b, n, dtype=torch.bool, device=device)
    for i, (p, proj) in enumerate(zip(points, projections, strict=True)):
        k = p.shape[0]
        xyz[i, :k] = p[:, :3].float()
        vu[i, :k] = proj.point_vu
        rng[i, :k] = proj.point_range
        valid[i, :k] = True
    if camera_valid is None:
        camera_valid = torch.ones(images.shape[:2], dtype=torch.bool, device=device)
    return UPFuseBatch(
        range_features=torch.stack([p.features for p in projections]),
        range_mask=torch.stack([p.mask for p in projections]),
        point_xyz=xyz,
        point_vu=vu,
        point_range=rng,
        point_valid=valid,
        images=images.float(),
        K=K.float(),
        T_cam_lidar=T_cam_lidar.float(),
        camera_valid=camera_valid,
    )


def batch_from_sensor_frame(frame: Any, spec: RangeViewSpec, camera_names: list[str] | None = None) -> UPFuseBatch:
    """A one-sweep batch from a ``core.SensorFrame``; cameras (same image size) in ``camera_names`` order."""
    names = list(frame.cameras) if camera_names is None else camera_names
    missing = [n for n in names if n not in frame.cameras]
    if missing:
        raise ModelInputError(f"SensorFrame has no camera(s) {missing}; has {sorted(frame.cameras)}")
    if not names:
        raise ModelInputError("UP-Fuse needs at least one camera slot; the frame has none")
    imgs = [frame.cameras[n] for n in names]
    sizes = {im.rgb.shape for im in imgs}
    if len(sizes) != 1:
        raise ModelInputError(f"cameras {names} must share one image size, got {sorted(sizes)}")
    images = torch.from_numpy(np.stack([im.rgb for im in imgs])).permute(0, 3, 1, 2).float().div(255.0)[None]
    K = torch.from_numpy(np.stack([im.camera.K for im in imgs])).float()[None]
    T = torch.from_numpy(np.stack([im.camera.T_cam_lidar for im in imgs])).float()[None]
    return collate([torch.from_numpy(frame.points)], spec, images, K, T)


@dataclass
class UPFuseOutput:
    """Raw network outputs.

    ``layers``: per decoder prediction (class logits (B, Q, C+1), point mask logits (B, Q, N)),
    the last from the 3D-aware mask head, earlier ones read from the 2D range-view masks at each
    point's pixel (auxiliary losses). ``point_features`` (B, N, mask_dim): the 3D mask head's per-point
    features (the tracking head pools them over each final panoptic segment in ``postprocess``, outside the
    network core). ``uncertainty`` (B, 1, H/4, W/4) and ``point_uncertainty``
    (B, N): U of the finest fusion scale (None for fusion without uncertainty). ``instability`` and
    ``camera_features``/``camera_masks``/``lidar_features``: per scale, for the instability loss.
    """

    layers: list[tuple[torch.Tensor, torch.Tensor]]
    uncertainty: torch.Tensor | None
    point_uncertainty: torch.Tensor | None
    instability: list[torch.Tensor] | None
    camera_features: list[torch.Tensor]
    camera_masks: list[torch.Tensor]
    fused_features: list[torch.Tensor] = field(repr=False, default_factory=list)
    lidar_features: list[torch.Tensor] = field(repr=False, default_factory=list)
    point_features: torch.Tensor | None = field(repr=False, default=None)

    @property
    def class_logits(self) -> torch.Tensor:
        return self.layers[-1][0]

    @property
    def point_logits(self) -> torch.Tensor:
        return self.layers[-1][1]


def gather_at_points(maps: torch.Tensor, point_vu: torch.Tensor, stride: int) -> torch.Tensor:
    """Values of (B, C, h, w) maps at the cell (v // stride, u // stride) of each point -> (B, C, N)."""
    b, c, h, w = maps.shape
    flat = (point_vu[..., 0] // stride).clamp(max=h - 1) * w + (point_vu[..., 1] // stride).clamp(max=w - 1)
    return torch.gather(maps.flatten(2), 2, flat[:, None, :].expand(b, c, -1))


@ARCHITECTURES.register("upfuse")
class UPFuse(nn.Module):
    config_class = UPFuseConfig

    def __init__(self, config: UPFuseConfig) -> None:
        super().__init__()
        self.config = config
        self.spec = config.range_spec
        self.lidar_encoder = BACKBONES.get(config.lidar_backbone)(6, config.lidar_stem, config.lidar_widths, config.lidar_blocks)
        self.camera_encoder = BACKBONES.get(config.camera_backbone)(
            3, config.camera_stem, config.camera_widths, config.camera_blocks
        )
        fusion_cls = FUSION_MODULES.get(config.fusion)
        self.fusion = nn.ModuleList(
            fusion_cls(c_l, c_c, heads=config.fusion_heads, points=config.fusion_points, hidden=config.fusion_hidden,
                       lidar_cue=config.instability_lidar_cue)
            for c_l, c_c in zip(config.lidar_widths, config.camera_widths, strict=True)
        )
        self.pixel_decoder = PixelDecoder(
            config.lidar_widths, config.hidden_dim, config.mask_dim, config.pixel_decoder_layers, config.heads, config.ffn_dim
        )
        self.decoder = QueryTransformerDecoder(
            config.hidden_dim,
            config.num_queries,
            config.decoder_layers,
            config.heads,
            config.ffn_dim,
            config.num_classes,
            config.mask_dim,
        )
        self.mask_head = PointMaskHead3D(config.mask_dim, config.mask_head_window, config.mask_head_k, config.mask_head_hidden)
        self.tracking_head = (
            TrackingHead(config.mask_dim, len(config.thing_class_ids), config.tracking_hidden, config.association_dim,
                         config.tracking_inputs)
            if config.tracking_head else None
        )
        self.register_buffer("range_mean", torch.tensor(config.range_mean).view(1, 5, 1, 1), persistent=False)
        self.register_buffer("range_std", torch.tensor(config.range_std).view(1, 5, 1, 1), persistent=False)
        self.register_buffer("image_mean", torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("image_std", torch.tensor(IMAGE_STD).view(1, 3, 1, 1), persistent=False)

    @classmethod
    def from_config(cls, config: UPFuseConfig | dict[str, Any]) -> UPFuse:
        return cls(config if isinstance(config, UPFuseConfig) else UPFuseConfig.from_dict(config))

    def encode_camera(self, batch: UPFuseBatch) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Camera features (B*M, C, h, w) per stride and the intrinsics of the resized image."""
        b, m, _, h, w = batch.images.shape
        images = batch.images.flatten(0, 1)
        K = batch.K
        if self.config.camera_scale != 1.0:
            h, w = int(h), int(w)  # the ONNX tracer hands out sizes as tensors; the resized size is fixed per graph
            hs, ws = max(round(h * self.config.camera_scale), 1), max(round(w * self.config.camera_scale), 1)
            images = F.interpolate(images, size=(hs, ws), mode="bilinear", align_corners=False, antialias=False)
            K = scale_intrinsics(K, ws / w, hs / h)
        return self.camera_encoder((images - self.image_mean) / self.image_std), K

    def warp_camera(self, batch: UPFuseBatch, lidar_shapes: list[tuple[int, int]]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Camera features warped into the range view: (F_C, mask) at each LiDAR scale of ``lidar_shapes``.

        Also used on its own by training (F_orig of the instability loss, without the LiDAR branch).
        """
        f_cam_image, K_image = self.encode_camera(batch)
        strides = self.camera_encoder.strides
        grid_h, grid_w = f_cam_image[0].shape[-2:]
        K_grid = scale_intrinsics(K_image, 1.0 / strides[0], 1.0 / strides[0])
        if batch.camera_depth is None:
            depth = dense_camera_depth(
                batch.point_xyz, batch.point_valid, K_grid, batch.T_cam_lidar, grid_h, grid_w, self.config.max_depth
            )
        else:  # given dense depth (DeepDPS) on the same grid: nearest sample at the cell centres keeps depth edges
            depth = F.interpolate(batch.camera_depth.flatten(0, 1)[:, None].to(f_cam_image[0].dtype),
                                  size=(grid_h, grid_w), mode="nearest")
        depth = depth * batch.camera_valid.reshape(-1, 1, 1, 1).to(depth.dtype)  # a missing camera maps nowhere
        return camera_to_range_view(
            f_cam_image, strides, depth, strides[0], K_image, batch.T_cam_lidar, self.spec, lidar_shapes,
            self.lidar_encoder.strides,
        )

    def encode_lidar(self, batch: UPFuseBatch) -> list[torch.Tensor]:
        """LiDAR features F_L per stride from the normalised range image and its validity mask."""
        mask = batch.range_mask[:, None].to(batch.range_features.dtype)
        lidar_in = torch.cat([(batch.range_features - self.range_mean) / self.range_std * mask, mask], dim=1)
        return self.lidar_encoder(lidar_in)

    def forward(self, batch: UPFuseBatch) -> UPFuseOutput:
        batch.validate(self.spec)
        f_lidar = self.encode_lidar(batch)
        warped = self.warp_camera(batch, [tuple(f.shape[-2:]) for f in f_lidar])

        fused, uncert, instab = [], [], []
        for fusion, f_l, (f_c, m) in zip(self.fusion, f_lidar, warped, strict=True):
            out = fusion(f_l, f_c, m)
            fused.append(out.fused)
            uncert.append(out.uncertainty)
            instab.append(out.instability)

        multi_scale, mask_features = self.pixel_decoder(fused)
        predictions = self.decoder(multi_scale, mask_features)
        stride0 = self.lidar_encoder.strides[0]
        layers = [(p.class_logits, gather_at_points(p.mask_logits, batch.point_vu, stride0)) for p in predictions[:-1]]
        range_image = batch.range_features[:, 0] * batch.range_mask
        final = predictions[-1]
        point_features = self.mask_head.point_features(mask_features, range_image, batch.point_vu, batch.point_range)
        point_logits = query_logits(final.mask_embed, point_features)
        layers.append((final.class_logits, point_logits))

        has_u = uncert[0] is not None
        return UPFuseOutput(
            layers=layers,
            uncertainty=uncert[0] if has_u else None,
            point_uncertainty=gather_at_points(uncert[0], batch.point_vu, stride0)[:, 0] if has_u else None,
            instability=instab if has_u else None,
            camera_features=[w[0] for w in warped],
            camera_masks=[w[1] for w in warped],
            fused_features=fused,
            lidar_features=f_lidar,
            point_features=point_features,
        )

    @torch.no_grad()
    def predict(self, batch: UPFuseBatch) -> list[PanopticPrediction]:
        """Panoptic per-point predictions of each sweep (padding removed)."""
        return self.postprocess(self.forward(batch), batch)

    @torch.no_grad()
    def postprocess(self, out: UPFuseOutput, batch: UPFuseBatch) -> list[PanopticPrediction]:
        """``predict`` from outputs already computed (callers that also need ``out.point_features``)."""
        results = []
        for i in range(batch.point_valid.shape[0]):
            valid = batch.point_valid[i]
            class_id, instance_id, score, query, label = panoptic_instances(
                out.class_logits[i],
                out.point_logits[i][:, valid],
                self.config.thing_class_ids,
                self.config.object_mask_threshold,
                self.config.overlap_threshold,
            )
            u = out.point_uncertainty[i][valid] if out.point_uncertainty is not None else None
            vectors = None
            if self.tracking_head is not None and out.point_features is not None:
                context = SweepContext(batch.point_xyz[i][valid], batch.images[i], batch.K[i], batch.T_cam_lidar[i],
                                       batch.camera_valid[i])
                vectors = self.tracking_head.segment_vectors(out.point_features[i][valid], instance_id,
                                                             thing_slots(label, self.config.thing_class_ids), context)
            results.append(PanopticPrediction(class_id, instance_id, score, u, vectors))
        return results
