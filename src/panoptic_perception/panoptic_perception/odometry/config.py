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
    logit_prior: float = -ETA - 2.0  # front-end log-odds of a fully confident pixel before the panoptic term (see visual_window)
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
    lidar_fusion: bool = False  # also register every sweep and fuse it with the visual pose by their information
    visual_information_scale: float = 0.004  # factor on the visual pose's information in the fusion (see docs/odometry.md)
    lidar_information_scale: float = 0.05  # factor on the ICP's information H / rmse^2 (fusion and LiDAR path)

    def __post_init__(self) -> None:
        for name, (_, value_range) in FIELDS.items():
            value = getattr(self, name)
            if value_range is None:
                continue
            lo, hi = value_range
            kind = type(getattr(OdometryConfig, name))
            if isinstance(value, bool) or not isinstance(value, int | float) or (kind is int and not isinstance(value, int)):
                raise OdometryInputError(f"odometry.{name}: expected {kind.__name__} in [{lo}, {hi}], got {value!r}")
            if not lo <= value <= hi:
                raise OdometryInputError(f"odometry.{name}: expected a value in [{lo}, {hi}], got {value!r}")
        if self.downsample % self.flow_downsample:
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


# Description and allowed range of every field (None: no range), shared by validation and the ROS parameters.
FIELDS: dict[str, tuple[str, tuple[float, float] | None]] = {
    "window": ("keyframes kept in the sliding window", (2, 64)),
    "radius": ("window positions closer than this are always connected", (1, 63)),
    "keyframe_flow": ("mean flow [px, reduced resolution] to the last keyframe that makes a keyframe", (0.0, 1000.0)),
    "downsample": ("dense BA resolution = image size / downsample", (1, 32)),
    "flow_downsample": ("flow front end resolution = image size / flow_downsample", (1, 32)),
    "guided_flow": ("start the flow front end from the flow the predicted pose induces", None),
    "ba_iterations": ("Gauss-Newton steps per VO round", (1, 50)),
    "ignore_bottom": ("share of image rows at the bottom left out of the BA", (0.0, 0.9)),
    "depth_prior": ("weight of projected LiDAR inverse depth relative to the mean flow weight", (0.0, 1e6)),
    "panoptic": ("PVO panoptic weighting on (off = DROID-style baseline)", None),
    "eta": ("PVO logit boost of static pixels", (0.0, 100.0)),
    "logit_prior": ("front-end log-odds of a fully confident pixel", (-100.0, 100.0)),
    "residual_scale": ("reprojection residual [px, reduced] that costs one logit", (1e-3, 1000.0)),
    "max_residual_penalty": ("cap of the residual penalty in logit space", (0.0, 1000.0)),
    "vps_rounds": ("VO <-> VPS rounds per frame", (1, 10)),
    "label_fill": ("projected LiDAR labels spread this far into holes [px, reduced]", (0, 32)),
    "iou_match": ("IoU above which a current instance takes the warped previous id", (0.0, 1.0)),
    "untracked_dynamic_classes": ("classes whose untracked thing pixels are dynamic", None),
    "min_brightness": ("mean grey level below which the image counts as dark", (0.0, 255.0)),
    "min_static_share": ("consistent-flow share below which the VO falls back to the LiDAR path", (0.0, 1.0)),
    "lidar_voxel": ("voxel of the local scan map [m]", (0.01, 10.0)),
    "lidar_map_scans": ("scans kept in the local LiDAR map", (1, 200)),
    "lidar_max_distance": ("ICP correspondence gate [m]", (0.01, 50.0)),
    "lidar_min_range": ("returns closer than this are ignored [m]", (0.0, 50.0)),
    "lidar_fusion": ("fuse scan-to-map ICP with every visual pose, weighted by their information", None),
    "visual_information_scale": ("factor on the visual pose's information (inverse BA covariance) in the LiDAR fusion",
                                 (1e-4, 1e4)),
    "lidar_information_scale": ("factor on the scan-to-map ICP's information H / rmse^2 (fusion and LiDAR path)", (1e-4, 1e4)),
}
