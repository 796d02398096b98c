"""Configuration of the PVO odometry stage: one validated dataclass, filled from YAML or ROS parameters."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .errors import OdometryInputError
from .panoptic_weights import ETA


@dataclass
class OdometryConfig:
    """Every knob of :class:`~.visual_odometry.PanopticOdometry`; units in the comments."""

    # Keyframe window and co-visibility graph (DROID-SLAM's frame graph).
    window: int = 5  # keyframes kept in the sliding window
    radius: int = 2  # window positions closer than this are always connected
    keyframe_flow: float = 2.0  # [px at reduced resolution] mean flow to the last keyframe that makes a keyframe
    # Dense bundle adjustment.
    downsample: int = 8  # reduced resolution = image size / downsample (DROID-SLAM works at 1/8)
    flow_downsample: int = 2  # the flow front end runs at image size / flow_downsample
    guided_flow: bool = True  # start the flow front end from the flow the predicted pose induces (if it accepts init)
    ba_iterations: int = 3  # Gauss-Newton steps per VO round
    ignore_bottom: float = 0.25  # share of image rows at the bottom left out of the BA (ego shadow, magnified road)
    depth_prior: float = 0.1  # weight of projected LiDAR inverse depth, relative to the mean flow weight
    # Panoptic weighting (PVO) and the classical stand-in for the update operator's confidence.
    panoptic: bool = True  # False: the DROID-style baseline, no panoptic term
    eta: float = ETA  # PVO's logit boost of static pixels
    logit_prior: float = -ETA / 2  # front-end log-odds of a fully confident pixel before the panoptic term
    residual_scale: float = 1.5  # [px at reduced resolution] reprojection residual that costs one logit
    max_residual_penalty: float = 30.0  # cap of the residual penalty in logit space
    vps_rounds: int = 2  # VO <-> VPS iterations per frame (PVO's default is two)
    label_fill: int = 2  # [px at reduced resolution] projected LiDAR labels are spread this far into holes
    iou_match: float = 0.5  # IoU above which a current instance takes the warped previous instance's id
    # Dynamic mask M_d: thing pixels whose track moves; untracked pixels of these classes are dynamic too.
    untracked_dynamic_classes: list[int] = field(default_factory=lambda: [6, 7, 8])  # person, bicyclist, motorcyclist
    # LiDAR path when the camera is missing, dark or the VO is unconstrained.
    min_brightness: float = 20.0  # [0-255] mean grey level below which the image counts as dark
    min_static_share: float = 0.05  # share of the new frame's pixels with a consistent flow below which the VO is not trusted
    lidar_voxel: float = 0.5  # [m] voxel of the local scan map
    lidar_map_scans: int = 10  # scans kept in the local map (odom frame, moving things removed)
    lidar_max_distance: float = 1.5  # [m] ICP correspondence gate
    lidar_min_range: float = 2.0  # [m] returns closer than this (the ego vehicle) are ignored

    def __post_init__(self) -> None:
        ints = {"window": (2, 64), "radius": (1, 63), "downsample": (1, 32), "flow_downsample": (1, 8),
                "ba_iterations": (1, 50), "vps_rounds": (1, 10), "label_fill": (0, 32), "lidar_map_scans": (1, 200)}
        for name, (lo, hi) in ints.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise OdometryInputError(f"odometry.{name}: expected an integer in [{lo}, {hi}], got {value!r}")
        positive = ("keyframe_flow", "residual_scale", "max_residual_penalty", "lidar_voxel", "lidar_max_distance")
        for name in positive:
            if not float(getattr(self, name)) > 0:
                raise OdometryInputError(f"odometry.{name}: must be positive, got {getattr(self, name)!r}")
        for name, lo, hi in (("depth_prior", 0.0, 1e6), ("eta", 0.0, 100.0), ("min_brightness", 0.0, 255.0),
                             ("min_static_share", 0.0, 1.0), ("iou_match", 0.0, 1.0), ("lidar_min_range", 0.0, 50.0),
                             ("logit_prior", -100.0, 100.0), ("ignore_bottom", 0.0, 0.9)):
            if not lo <= float(getattr(self, name)) <= hi:
                raise OdometryInputError(f"odometry.{name}: expected a value in [{lo}, {hi}], got {getattr(self, name)!r}")
        if self.flow_downsample > self.downsample or self.downsample % self.flow_downsample:
            raise OdometryInputError(f"odometry.flow_downsample: must divide downsample={self.downsample}, "
                                     f"got {self.flow_downsample}")
        self.untracked_dynamic_classes = [int(c) for c in self.untracked_dynamic_classes]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OdometryConfig:
        """Flat mapping of field names; unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise OdometryInputError(f"unknown odometry key(s): {', '.join(unknown)}")
        return cls(**data)
