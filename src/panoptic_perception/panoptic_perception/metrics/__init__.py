"""Evaluation metrics: panoptic, tracking, odometry, image/video and depth."""

from .errors import EvalDataError, MetricsInputError
from .image import (
                    DepthAwarePanopticEval,
                    DepthEval,
                    DepthResult,
                    DPQResult,
                    ImagePanopticEval,
                    ImagePQResult,
                    VideoPanopticEval,
                    VPQResult,
)
from .odometry import AteResult, FrameRpeResult, KittiRpeResult, ate, rpe_frame_to_frame, rpe_kitti, umeyama
from .panoptic import PanopticEval, PanopticResult
from .tracking import TrackingEval, TrackingResult

__all__ = [
    "AteResult",
    "DPQResult",
    "DepthAwarePanopticEval",
    "DepthEval",
    "DepthResult",
    "EvalDataError",
    "FrameRpeResult",
    "ImagePQResult",
    "ImagePanopticEval",
    "KittiRpeResult",
    "MetricsInputError",
    "PanopticEval",
    "PanopticResult",
    "TrackingEval",
    "TrackingResult",
    "VPQResult",
    "VideoPanopticEval",
    "ate",
    "rpe_frame_to_frame",
    "rpe_kitti",
    "umeyama",
]
