"""DeepDPS: depth-aware camera panoptic segmentation with dense depth, and the camera-only 3D fallback."""

from .backproject import backproject_pixels, camera_panoptic_cloud, prediction_to_cloud
from .config import DeepDPSConfig
from .depth_head import BACKUP_WEIGHT, SegmentDepthHead, aggregate_depth
from .losses import (
    DeepDPSCriterion,
    LossWeights,
    depth_to_semantic_guidance,
    scale_invariant_log_loss,
    semantic_to_depth_guidance,
)
from .model import DeepDPS, DeepDPSOutput, DepthPanopticPrediction, fill_uncovered, object_scores
from .query_enhancement import GeometricQueryEnhancement, covered_pixel_mask

__all__ = [
    "BACKUP_WEIGHT",
    "DeepDPS",
    "DeepDPSConfig",
    "DeepDPSCriterion",
    "DeepDPSOutput",
    "DepthPanopticPrediction",
    "GeometricQueryEnhancement",
    "LossWeights",
    "SegmentDepthHead",
    "aggregate_depth",
    "backproject_pixels",
    "camera_panoptic_cloud",
    "covered_pixel_mask",
    "depth_to_semantic_guidance",
    "fill_uncovered",
    "object_scores",
    "prediction_to_cloud",
    "scale_invariant_log_loss",
    "semantic_to_depth_guidance",
]
