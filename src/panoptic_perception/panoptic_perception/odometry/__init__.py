"""Panoptic visual odometry (PVO on DROID-SLAM): the geometric core, ROS-free, pure torch/numpy."""

from .dense_ba import BAProblem, ba_step, dense_ba, reprojection_error
from .errors import DegenerateGeometryError, OdometryInputError
from .flow_frontend import DISFlow, FlowEstimator, forward_backward_confidence
from .frame_graph import FrameGraph, frame_distance, mean_flow_magnitude
from .learned_flow import FLOW_ESTIMATORS, LearnedFlow, make_flow_estimator
from .lidar_registration import ICPResult, VoxelMap, register_scan, robust_weights, voxel_downsample
from .lie import adjoint_matrix, as_se3, retract
from .panoptic_weights import ETA, dynamic_mask, panoptic_confidence
from .projective_ops import actp, iproj, proj, projective_transform

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
    "OdometryInputError",
    "VoxelMap",
    "actp",
    "adjoint_matrix",
    "as_se3",
    "ba_step",
    "dense_ba",
    "dynamic_mask",
    "forward_backward_confidence",
    "frame_distance",
    "iproj",
    "make_flow_estimator",
    "mean_flow_magnitude",
    "panoptic_confidence",
    "proj",
    "projective_transform",
    "register_scan",
    "reprojection_error",
    "retract",
    "robust_weights",
    "voxel_downsample",
]
