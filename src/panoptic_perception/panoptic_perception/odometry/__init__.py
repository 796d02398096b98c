"""Panoptic visual odometry (PVO on DROID-SLAM): the geometric core, ROS-free, pure torch/numpy."""

from .config import OdometryConfig
from .dense_ba import BAProblem, SchurSystem, ba_step, dense_ba, reprojection_error, schur_system
from .errors import DegenerateGeometryError, OdometryInputError
from .flow_frontend import DISFlow, FlowEstimator, forward_backward_confidence
from .frame_graph import FrameGraph, frame_distance, mean_flow_magnitude
from .learned_flow import FLOW_ESTIMATORS, LearnedFlow, make_flow_estimator
from .lidar_odometry import LidarOdometry
from .lidar_registration import ICPResult, VoxelMap, register_scan, robust_weights, voxel_downsample
from .lie import adjoint_matrix, as_se3, retract
from .panoptic_weights import ETA, dynamic_mask, panoptic_confidence
from .projective_ops import actp, iproj, proj, projective_transform
from .reduced_grid import NO_LABEL, RasterLabels, ReducedGrid, dynamic_pixels, rasterize
from .visual_odometry import MODE_INIT, MODE_LIDAR, MODE_VISUAL, OdometryResult, PanopticOdometry, moving_track_ids
from .vps import fuse_panoptic, match_instances, warp_labels

__all__ = [
    "BAProblem",
    "DISFlow",
    "DegenerateGeometryError",
    "ETA",
    "FLOW_ESTIMATORS",
    "FlowEstimator",
    "FrameGraph",
    "ICPResult",
    "LearnedFlow",
    "LidarOdometry",
    "MODE_INIT",
    "MODE_LIDAR",
    "MODE_VISUAL",
    "NO_LABEL",
    "OdometryConfig",
    "OdometryInputError",
    "OdometryResult",
    "PanopticOdometry",
    "RasterLabels",
    "ReducedGrid",
    "SchurSystem",
    "VoxelMap",
    "actp",
    "adjoint_matrix",
    "as_se3",
    "ba_step",
    "dense_ba",
    "dynamic_mask",
    "dynamic_pixels",
    "forward_backward_confidence",
    "frame_distance",
    "fuse_panoptic",
    "iproj",
    "make_flow_estimator",
    "match_instances",
    "mean_flow_magnitude",
    "moving_track_ids",
    "panoptic_confidence",
    "proj",
    "projective_transform",
    "rasterize",
    "register_scan",
    "reprojection_error",
    "retract",
    "robust_weights",
    "schur_system",
    "voxel_downsample",
    "warp_labels",
]
