"""PVO as a pipeline stage: the ego pose of every sweep, robust to moving objects, with a LiDAR fallback.

    camera image + labelled LiDAR sweep + moving tracks
      -> visual path (VisualWindow: flow, panoptic-aware dense BA, VO <-> VPS rounds), or
      -> LiDAR path (LidarOdometry: scan-to-map ICP, moving things weighted 0) when the image is
         missing or dark, the visual window is (re)starting, or the VO is unconstrained
      -> T_odom_lidar / T_odom_base at the sweep stamp, covariance, mode, timing, fused panoptic image

Dynamic mask M_d (our decision): a thing pixel/point is dynamic when its track id is in the tracker's
moving set (a parked car is static); thing pixels without a track are dynamic only for classes that
are nearly never parked (person, bicyclist, motorcyclist by default); stuff is never dynamic.

Frames: ``odom`` is the vehicle's base frame at the first sweep. The camera fires during the sweep,
so the visual pose is at the image stamp and is carried to the sweep stamp at constant velocity.
Covariances are ROS ``nav_msgs/Odometry`` pose covariances: position and fixed-axis rotation errors
in the odom frame, order x, y, z, rx, ry, rz.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch

from ..core import CameraImage, PanopticCloud, load_class_table
from . import motion
from .config import OdometryConfig
from .errors import OdometryInputError
from .flow_frontend import DISFlow, FlowEstimator
from .lidar_odometry import LidarOdometry
from .reduced_grid import ReducedGrid, dynamic_pixels, fill_nearest, rasterize
from .visual_window import DT, Keyframe, VisualWindow

MODE_VISUAL, MODE_LIDAR, MODE_INIT = "visual", "lidar", "init"


@dataclass
class OdometryResult:
    stamp_ns: int  # the sweep stamp
    T_odom_base: np.ndarray  # (4, 4)
    T_odom_lidar: np.ndarray  # (4, 4)
    covariance: np.ndarray  # (6, 6) pose covariance, ROS order and convention (see module docstring)
    velocity: np.ndarray  # (6,) body-frame twist of the LiDAR [m/s, rad/s]
    mode: str  # visual | lidar | init
    reason: str  # why the LiDAR path ran, empty otherwise
    keyframe: bool
    static_share: float  # visual path: share of confident pixels on the new frame's edges
    dynamic_share: float  # share of pixels (visual) or points (LiDAR) in the dynamic mask
    latency_ms: dict[str, float] = field(default_factory=dict)
    panoptic: tuple[np.ndarray, np.ndarray] | None = None  # reduced-resolution fused (class, instance) images
    # With LiDAR fusion, what was fused: T_odom_lidar of the visual pose ("visual") and of the ICP ("icp") at the sweep stamp.
    fused_from: dict[str, np.ndarray] = field(default_factory=dict)
    # With LiDAR fusion, the (6, 6) body-frame informations that weighted them ("visual" already scaled, "icp").
    fused_information: dict[str, np.ndarray] = field(default_factory=dict)


def moving_track_ids(tracks: Iterable) -> set[int]:
    """Track ids the tracker flags as moving (``TrackOutput.moving``)."""
    return {int(t.track_id) for t in tracks if t.moving}


class PanopticOdometry:
    """One ``process`` call per sweep; state is the keyframe window, the local LiDAR map and the last pose."""

    def __init__(self, config: OdometryConfig | None = None, flow: FlowEstimator | None = None,
                 T_base_lidar: np.ndarray | None = None, depth_init: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        """``depth_init``: RGB (H, W, 3) -> metric depth (H, W) [m], 0 = unknown (e.g. DeepDPS through
        ``camera_only.dense_depth``); it initialises the inverse depth of pixels no LiDAR point reaches, which
        otherwise take their nearest LiDAR neighbour's. The LiDAR still anchors the scale."""
        self.config = config or OdometryConfig()
        self.flow = flow if flow is not None else DISFlow()
        self.depth_init = depth_init
        self.T_base_lidar = np.eye(4) if T_base_lidar is None else np.asarray(T_base_lidar, dtype=np.float64)
        if self.T_base_lidar.shape != (4, 4):
            raise OdometryInputError(f"T_base_lidar: expected (4, 4), got {self.T_base_lidar.shape}")
        self.thing_ids = load_class_table().thing_ids
        self.reset()

    def reset(self) -> None:
        cfg = self.config
        self.lidar = LidarOdometry(cfg.lidar_voxel, cfg.lidar_map_scans, cfg.lidar_max_distance, cfg.lidar_min_range)
        self.window: VisualWindow | None = None
        self._T_odom_vo = np.eye(4)  # VO world (first keyframe's camera) in odom
        self._last: tuple[float, np.ndarray] | None = None  # (time [s], T_odom_lidar) of the newest estimate
        self._velocity = np.zeros(6)
        self._velocity_known = False  # False until a second pose was estimated
        self._sweep: tuple[float, np.ndarray] | None = None  # (stamp [s], T_odom_lidar) of the previous sweep
        self._frames = 0
        self._pixels: tuple[np.ndarray, np.ndarray] | None = None  # this call's image panoptic labels, if any
        self._reanchor: tuple[float, np.ndarray] | None = None  # (sweep time, pose) the first window was anchored at

    def predict(self, t: float) -> np.ndarray:
        """T_odom_lidar at time t [s] at constant velocity (the LiDAR at the first sweep is odom's origin)."""
        if self._last is None:
            return self.T_base_lidar.copy()  # base_link at odom's origin
        t_last, T_last = self._last
        return motion.advance(T_last, self._velocity, t - t_last)

    def process(self, cloud: PanopticCloud, moving_ids: Iterable[int] = (), image: CameraImage | None = None,
                point_time: np.ndarray | None = None, pixel_panoptic: tuple[np.ndarray, np.ndarray] | None = None
                ) -> OdometryResult:
        """The pose of ``cloud``'s sweep.

        ``moving_ids``: the moving tracks (ids of ``cloud.track_id``, else of ``cloud.instance_id``);
        ``point_time``: per-point time after the sweep stamp [s] (``SensorFrame.point_time``), to de-skew;
        ``pixel_panoptic``: optional (class, track/instance id) images (H, W) of ``image`` from an image
        panoptic segmentation; without them the labelled LiDAR points are projected.
        """
        if pixel_panoptic is not None and image is not None:
            shape = (image.camera.height, image.camera.width)
            if any(np.shape(a) != shape for a in pixel_panoptic):
                got = [np.shape(a) for a in pixel_panoptic]
                raise OdometryInputError(f"pixel_panoptic: expected two {shape} images, got {got}")
        self._pixels = pixel_panoptic
        start = time.perf_counter()
        xyz, cls, ids = _cloud_arrays(cloud)
        if point_time is not None and np.shape(point_time) != (len(xyz),):
            raise OdometryInputError(f"point_time: expected ({len(xyz)},), got {np.shape(point_time)}")
        moving = {int(i) for i in moving_ids}
        dynamic = (dynamic_pixels(cls, ids, moving, self.thing_ids, self.config.untracked_dynamic_classes)
                   if self.config.panoptic else np.zeros(len(xyz), dtype=bool))  # the baseline masks nothing, LiDAR included
        t_sweep = cloud.stamp_ns * 1e-9
        reason = self._camera_problem(image)
        result = None
        if not reason and self.window is not None and not self.window.empty:
            result, reason = self._visual(cloud, xyz, cls, ids, moving, image, dynamic, point_time)
        if result is None:
            result = self._lidar(cloud, xyz, point_time, dynamic, reason)
            self.window = None
            if image is not None and not self._camera_problem(image):
                self._restart_window(image, xyz, cls, ids, result.T_odom_lidar, t_sweep)
                # At start-up the speed is unknown, so the first image is placed at the sweep's pose; the
                # first visual velocity corrects that anchor (else every pose is off by half a frame's motion).
                self._reanchor = (t_sweep, result.T_odom_lidar) if result.mode == MODE_INIT else None
        self.lidar.add(xyz, dynamic, result.T_odom_lidar, point_time, self._velocity if self._velocity_known else None)
        self._sweep = (t_sweep, result.T_odom_lidar)
        self._frames += 1
        result.latency_ms["total"] = 1e3 * (time.perf_counter() - start)
        return result

    def _camera_problem(self, image: CameraImage | None) -> str:
        if image is None:
            return "no camera image"
        brightness = float(image.rgb[::4, ::4].mean())
        if brightness < self.config.min_brightness:
            return f"dark image (mean {brightness:.1f} < {self.config.min_brightness:g})"
        return ""

    def _keyframe(self, image: CameraImage, xyz: np.ndarray, cls: np.ndarray, ids: np.ndarray, grid: ReducedGrid,
                  pose: torch.Tensor) -> Keyframe:
        raster = rasterize(grid, image.camera, xyz, cls, ids, self.config.label_fill)
        if self._pixels is not None:  # image labels, sampled at the reduced pixels' centres
            c = grid.scale // 2
            raster.class_id, raster.instance_id = (np.asarray(a, dtype=np.int64)[c::grid.scale, c::grid.scale]
                                                   [: grid.height, : grid.width] for a in self._pixels)
        disps0 = self._initial_disps(image, grid, raster.disps)
        return Keyframe(self._frames, grid.crop(image.rgb, self.config.flow_downsample), pose,
                        torch.from_numpy(disps0).to(DT), torch.from_numpy(raster.disps).to(DT), raster.class_id,
                        raster.instance_id)

    def _initial_disps(self, image: CameraImage, grid: ReducedGrid, lidar_disps: np.ndarray) -> np.ndarray:
        """LiDAR inverse depth where a point projects; elsewhere ``depth_init``'s, else the nearest LiDAR pixel's."""
        measured = lidar_disps[lidar_disps > 0]
        default = float(np.median(measured)) if len(measured) else 0.05
        if self.depth_init is None:
            return fill_nearest(lidar_disps, default)
        depth = np.asarray(self.depth_init(image.rgb), dtype=np.float64)
        if depth.shape != image.rgb.shape[:2]:
            raise OdometryInputError(f"depth_init: expected a {image.rgb.shape[:2]} depth image, got {depth.shape}")
        c = grid.scale // 2
        sampled = depth[c::grid.scale, c::grid.scale][: grid.height, : grid.width]
        prior = np.zeros_like(lidar_disps)
        known = np.isfinite(sampled) & (sampled > 0)
        prior[known] = 1.0 / sampled[known]
        return np.where(lidar_disps > 0, lidar_disps, fill_nearest(prior, default))

    def _restart_window(self, image: CameraImage, xyz: np.ndarray, cls: np.ndarray, ids: np.ndarray,
                        T_odom_lidar_sweep: np.ndarray, t_sweep: float) -> None:
        """A fresh window whose first keyframe is this image, anchored at the pose predicted for its stamp."""
        grid = ReducedGrid.of(image.camera, self.config.downsample)
        T_odom_lidar_img = motion.advance(T_odom_lidar_sweep, self._velocity, image.stamp_ns * 1e-9 - t_sweep)
        self._T_odom_vo = T_odom_lidar_img @ np.linalg.inv(image.camera.T_cam_lidar)
        self.window = VisualWindow(self.config, self.flow, grid, self.thing_ids)
        identity = torch.tensor([0, 0, 0, 0, 0, 0, 1.0], dtype=DT)
        self.window.start(self._keyframe(image, xyz, cls, ids, grid, identity))
        self._last = (image.stamp_ns * 1e-9, T_odom_lidar_img)

    def _visual(self, cloud: PanopticCloud, xyz: np.ndarray, cls: np.ndarray, ids: np.ndarray, moving: set[int],
                image: CameraImage, dynamic: np.ndarray, point_time: np.ndarray | None) -> tuple[OdometryResult | None, str]:
        assert self.window is not None
        t0 = time.perf_counter()
        t_img, t_sweep = image.stamp_ns * 1e-9, cloud.stamp_ns * 1e-9
        T_cam_lidar = image.camera.T_cam_lidar
        T_vo_cam = np.linalg.inv(self._T_odom_vo) @ self.predict(t_img) @ np.linalg.inv(T_cam_lidar)
        G = torch.from_numpy(motion.to_vector(np.linalg.inv(T_vo_cam))).to(DT)
        new = self._keyframe(image, xyz, cls, ids, self.window.grid, G)
        est = self.window.track(new, moving)
        G_new = motion.from_vector(est.pose.double().numpy())
        if not np.all(np.isfinite(G_new)) or est.static_share < self.config.min_static_share:
            self.window = None
            return None, f"visual odometry unconstrained (confident share {est.static_share:.3f})"
        T_odom_lidar_img = self._T_odom_vo @ np.linalg.inv(G_new) @ T_cam_lidar
        # The fused motion of the frames before (right after start-up: this frame's visual motion) seeds the sweep's
        # de-skew; the registration then finds the sweep's motion with its pose. The visual pose's own motion must not
        # de-skew the sweep: it carries the visual error (tens of cm per frame in busy scenes) into the LiDAR pose.
        velocity_before = self._velocity
        if self._last is not None:
            self._velocity = motion.body_velocity(self._last[1], self._last[0], T_odom_lidar_img, t_img)
            velocity_before = velocity_before if self._velocity_known else self._velocity
            self._velocity_known = True
            if self._reanchor is not None:
                t_anchor, T_anchor = self._reanchor
                correction = motion.advance(T_anchor, self._velocity, self._last[0] - t_anchor) @ np.linalg.inv(self._last[1])
                self._T_odom_vo = correction @ self._T_odom_vo
                T_odom_lidar_img = correction @ T_odom_lidar_img
                self._reanchor = None
        self._last = (t_img, T_odom_lidar_img)
        T_odom_lidar = motion.advance(T_odom_lidar_img, self._velocity, t_sweep - t_img)
        # Left perturbation of G -> body perturbation of the LiDAR: xi_b = -Ad(T_lidar_cam) xi.
        Ad = motion.adjoint(np.linalg.inv(T_cam_lidar))
        cov_body = Ad @ est.covariance @ Ad.T
        fused_from: dict[str, np.ndarray] = {}
        fused_information: dict[str, np.ndarray] = {}
        if self.config.lidar_fusion and self.lidar.ready:
            before = None if self._sweep is None else (t_sweep - self._sweep[0], self._sweep[1])
            T_fused, cov_body, fused_from, fused_information = self._fuse_lidar(T_odom_lidar, cov_body, xyz, dynamic, point_time,
                                                             velocity_before, before)
            correction = T_fused @ np.linalg.inv(T_odom_lidar)  # re-anchor the VO world on the fused pose
            self._T_odom_vo = correction @ self._T_odom_vo
            if self._sweep is not None:  # the fused motion predicts the next frame and de-skews this sweep into the map
                self._velocity = motion.body_velocity(self._sweep[1], self._sweep[0], T_fused, t_sweep)
            self._last = (t_sweep, T_fused)
            T_odom_lidar = T_fused
        result = self._result(cloud.stamp_ns, T_odom_lidar, cov_body, MODE_VISUAL, "", est.keyframe, est.static_share,
                              est.dynamic_share, {"visual": 1e3 * (time.perf_counter() - t0)}, (est.class_id, est.instance_id))
        result.fused_from, result.fused_information = fused_from, fused_information
        return result, ""

    def _fuse_lidar(self, T_visual: np.ndarray, cov_visual: np.ndarray, xyz: np.ndarray, dynamic: np.ndarray,
                    point_time: np.ndarray | None, velocity: np.ndarray, previous: tuple[float, np.ndarray] | None
                    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Information-weighted mean of the visual pose and scan-to-map ICP started from it (body perturbations).

        Where the scan is degenerate (a straight street of planes leaves the forward axis unconstrained) its
        information there is small and the visual pose decides; where the camera sees mostly moving things, the
        LiDAR does. The sweep is de-skewed together with its registration (``LidarOdometry.register_sweep``),
        from ``velocity`` (the fused motion of the frames before) and ``previous`` = (dt [s], previous sweep pose).
        """
        icp, _ = self.lidar.register_sweep(xyz, dynamic, T_visual, point_time, velocity, previous)
        Ad = motion.adjoint(icp.T)  # xi_left = Ad(T) xi_body, so the body information is Ad^T H Ad
        info_lidar = self.config.lidar_information_scale * Ad.T @ icp.information @ Ad / max(icp.rmse, 1e-3) ** 2
        info_visual = self.config.visual_information_scale * np.linalg.pinv(cov_visual)
        delta = motion.log(np.linalg.inv(T_visual) @ icp.T)
        # Innovation test: the two poses should disagree by about their joint covariance (chi^2 with 6 dof, mean 6).
        # The visual error is the heavy-tailed one (validation NEES mean/median ~10, the ICP's ~3), so a larger
        # disagreement inflates the visual covariance until this frame's innovation is consistent.
        q = float(delta @ np.linalg.pinv(np.linalg.pinv(info_visual) + np.linalg.pinv(info_lidar)) @ delta)
        if q > 6.0:
            info_visual = info_visual * (6.0 / q)
        cov = np.linalg.pinv(info_visual + info_lidar)
        return (T_visual @ motion.exp(cov @ info_lidar @ delta), cov, {"visual": T_visual, "icp": icp.T},
                {"visual": info_visual, "icp": info_lidar})

    def _lidar(self, cloud: PanopticCloud, xyz: np.ndarray, point_time: np.ndarray | None, dynamic: np.ndarray,
               reason: str) -> OdometryResult:
        t0 = time.perf_counter()
        t_sweep = cloud.stamp_ns * 1e-9
        predicted = self.predict(t_sweep)
        if not self.lidar.ready:
            T, cov_body, mode = predicted, np.diag([1e-6] * 6), MODE_INIT
        else:
            previous = None if self._sweep is None else (t_sweep - self._sweep[0], self._sweep[1])
            icp, _ = self.lidar.register_sweep(xyz, dynamic, predicted, point_time, self._velocity, previous)
            T, mode = icp.T, MODE_LIDAR
            Ad = motion.adjoint(np.linalg.inv(T))  # left (odom-frame) perturbation -> body perturbation
            cov_left = np.linalg.pinv(icp.information) * max(icp.rmse, 1e-3) ** 2 / self.config.lidar_information_scale
            cov_body = Ad @ cov_left @ Ad.T
        if self._sweep is not None and mode == MODE_LIDAR:
            self._velocity = motion.body_velocity(self._sweep[1], self._sweep[0], T, t_sweep)
            self._velocity_known = True
        self._last = (t_sweep, T)
        share = float(dynamic.mean()) if len(dynamic) else 0.0
        return self._result(cloud.stamp_ns, T, cov_body, mode, reason, False, 0.0, share,
                            {"lidar": 1e3 * (time.perf_counter() - t0)}, None)

    def _result(self, stamp_ns: int, T_odom_lidar: np.ndarray, cov_lidar_body: np.ndarray, mode: str, reason: str,
                keyframe: bool, static_share: float, dynamic_share: float, latency: dict[str, float],
                panoptic: tuple[np.ndarray, np.ndarray] | None) -> OdometryResult:
        T_odom_base = T_odom_lidar @ np.linalg.inv(self.T_base_lidar)
        Ad = motion.adjoint(self.T_base_lidar)
        cov = motion.ros_pose_covariance(T_odom_base, Ad @ cov_lidar_body @ Ad.T)
        return OdometryResult(stamp_ns, T_odom_base, T_odom_lidar, cov, self._velocity.copy(), mode, reason, keyframe,
                              static_share, dynamic_share, latency, panoptic)


def _cloud_arrays(cloud: PanopticCloud) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xyz = np.asarray(cloud.points, dtype=np.float64)[:, :3]
    n = len(xyz)
    ids = cloud.track_id if cloud.track_id is not None else cloud.instance_id
    cls, ids = np.asarray(cloud.class_id, dtype=np.int64), np.asarray(ids, dtype=np.int64)
    if cls.shape != (n,) or ids.shape != (n,):
        raise OdometryInputError(f"cloud: class_id {cls.shape} and track/instance ids {ids.shape} must be ({n},)")
    if not np.all(np.isfinite(xyz)):
        raise OdometryInputError("cloud: points contain NaN or inf")
    return xyz, cls, ids

