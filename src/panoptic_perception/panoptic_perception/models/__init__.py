"""torch nn.Modules of the runtime: UP-Fuse LiDAR-camera panoptic fusion and its parts."""

from . import (
    deepdps,  # noqa: F401  (registers the "deepdps" architecture)
    update_operator,  # noqa: F401  (registers the "update_operator" architecture)
)
from .camera_augmentation import augment_camera
from .config_dict import config_from_dict, config_to_dict
from .depth_completion import complete_depth, render_sparse_depth
from .encoders import ResidualEncoder
from .errors import ModelConfigError, ModelError, ModelFormatError, ModelInputError
from .io import load_model, read_config, save_model
from .losses import SetCriterion
from .mask_head_3d import PointMaskHead3D, select_nearest_range_neighbours
from .matching import PanopticTargets, build_targets, hungarian_match, match_queries
from .postprocess import PanopticPrediction, panoptic_inference, panoptic_instances, thing_slots
from .range_view import RangeProjection, RangeViewSpec, project_to_range_view, range_view_coordinates
from .registry import ARCHITECTURES, BACKBONES, FUSION_MODULES, Registry
from .tracking_head import TrackingHead, batch_hard_triplet_loss, mask_pool
from .tracking_inputs import (
    INPUT_KINDS,
    SweepContext,
    columns_for,
    input_dim,
    instance_inputs,
    masks_to_segments,
    segment_pool,
)
from .uncertainty_fusion import (
    ConcatFusion,
    DeformableCrossModalAttention,
    FusionOutput,
    UncertaintyAwareFusion,
    instability_loss,
    uncertainty_from_instability,
)
from .upfuse import UPFuse, UPFuseBatch, UPFuseConfig, UPFuseOutput, batch_from_sensor_frame, collate
from .view_transform import camera_to_range_view, dense_camera_depth, scale_intrinsics

__all__ = [
    "ARCHITECTURES",
    "BACKBONES",
    "FUSION_MODULES",
    "ConcatFusion",
    "DeformableCrossModalAttention",
    "FusionOutput",
    "ModelConfigError",
    "ModelError",
    "ModelFormatError",
    "ModelInputError",
    "PanopticPrediction",
    "PanopticTargets",
    "PointMaskHead3D",
    "RangeProjection",
    "RangeViewSpec",
    "Registry",
    "ResidualEncoder",
    "SetCriterion",
    "TrackingHead",
    "UPFuse",
    "UPFuseBatch",
    "UPFuseConfig",
    "UPFuseOutput",
    "UncertaintyAwareFusion",
    "augment_camera",
    "batch_from_sensor_frame",
    "batch_hard_triplet_loss",
    "build_targets",
    "camera_to_range_view",
    "collate",
    "complete_depth",
    "config_from_dict",
    "config_to_dict",
    "deepdps",
    "dense_camera_depth",
    "hungarian_match",
    "instability_loss",
    "load_model",
    "mask_pool",
    "match_queries",
    "panoptic_inference",
    "panoptic_instances",
    "project_to_range_view",
    "range_view_coordinates",
    "read_config",
    "render_sparse_depth",
    "save_model",
    "scale_intrinsics",
    "segment_pool",
    "SweepContext",
    "INPUT_KINDS",
    "columns_for",
    "input_dim",
    "instance_inputs",
    "masks_to_segments",
    "select_nearest_range_neighbours",
    "thing_slots",
    "uncertainty_from_instability",
]
