"""The PVO stage on tiny synthetic drives: ego motion, panoptic masking of moving objects, LiDAR fallback."""

from __future__ import annotations

import numpy as np
import pytest

from panoptic_datasets.world import Rig, SceneConfig, make_rig, simulate
from panoptic_perception.core import CameraImage, CameraModel, PanopticCloud, unpack_label
from panoptic_perception.odometry import (
    NO_LABEL,
    DISFlow,
    OdometryConfig,
    OdometryInputError,
    PanopticOdometry,
    ReducedGrid,
    fuse_panoptic,
    motion,
    rasterize,
    warp_labels,
)

FAST = {"downsample": 4, "flow_downsample": 2, "window": 4, "ba_iterations": 2}
CAR, MOVING_ID = 1, 9999
SHIFT = 1.0  # [px at flow resolution]: small enough that the residual penalty alone does not reject it


def _rig() -> Rig:
    """HDL-32 and a half-size KITTI camera (620x188): small enough for CI, large enough for flow."""
    base = make_rig("hdl32-front")
    K = np.array([[359.4, 0.0, 303.6], [0.0, 359.4, 92.6], [0.0, 0.0, 1.0]])
    return Rig(base.lidar, {"front": CameraModel("front", 620, 188, K, make_rig("hdl64-front").cameras["front"].T_cam_lidar)},
               base.T_base_lidar)


class ShiftedRegion:
    """A flow front end that sees a fake moving object: flow in the lower right of the image is off by SHIFT."""

    def __init__(self) -> None:
        self.dis = DISFlow()

    def __call__(self, img0: np.ndarray, img1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        flow, conf = self.dis(img0, img1)
        flow[flow.shape[0] // 3:, 2 * flow.shape[1] // 3:, 0] += SHIFT  # below the LiDAR's upper edge
        return flow, conf


def _inputs(frame, fake_mover: bool = False) -> tuple[PanopticCloud, set[int]]:
    cls, inst = unpack_label(frame.point_label)
    cls, inst = cls.astype(np.uint16), inst.astype(np.uint32)
    moving = {o.instance_id for o in frame.objects if o.moving}
    if fake_mover:  # the points seen in the right third of the image are one moving car
        camera = frame.sensor.cameras["front"].camera
        uv, _, inside = camera.project(frame.sensor.xyz)
        region = inside & (uv[:, 0] >= 2 * camera.width / 3 - 8)
        cls[region], inst[region] = CAR, MOVING_ID
        moving.add(MOVING_ID)
    n = len(cls)
    cloud = PanopticCloud(frame.sensor.stamp_ns, frame.sensor.points, cls, inst, np.ones(n, np.float32),
                          np.zeros(n, np.float32), inst)
    return cloud, moving


def _run(frames, rig, config: OdometryConfig, black: bool = False, fake_mover: bool = False):
    stage = PanopticOdometry(config, flow=ShiftedRegion() if fake_mover else None, T_base_lidar=rig.T_base_lidar)
    results = []
    for frame in frames:
        cloud, moving = _inputs(frame, fake_mover)
        image = frame.sensor.cameras["front"]
        if black:
            image = CameraImage(image.camera, image.stamp_ns, np.zeros_like(image.rgb))
        results.append(stage.process(cloud, moving, image, frame.sensor.point_time))
    return results


def _step_errors(results, frames) -> np.ndarray:
    """|estimated - true| LiDAR displacement [m] between consecutive sweeps, from the third sweep on."""
    est = np.stack([r.T_odom_lidar[:3, 3] for r in results])
    ref = np.stack([f.T_world_lidar[:3, 3] for f in frames])
    return np.linalg.norm(np.diff(est, axis=0) - np.diff(ref, axis=0), axis=1)[1:]


@pytest.fixture(scope="module")
def drive():
    rig = _rig()
    return list(simulate(SceneConfig(seed=2001, dynamic_share=0.0), rig, 5)), rig


def test_visual_odometry_follows_the_ego_motion_of_a_static_drive(drive):
    frames, rig = drive
    results = _run(frames, rig, OdometryConfig(**FAST))
    assert [r.mode for r in results] == ["init"] + ["visual"] * 4
    errors = _step_errors(results, frames)
    assert errors.max() < 0.15, errors  # of 0.8 m steps
    cov = results[-1].covariance
    assert cov.shape == (6, 6) and np.allclose(cov, cov.T) and np.all(np.linalg.eigvalsh(cov) > 0)
    assert results[-1].panoptic is not None and results[-1].panoptic[0].shape == (188 // 4, 620 // 4)


def test_a_moving_object_masked_by_the_panoptic_term_does_not_drag_the_pose(drive):
    frames, rig = drive
    with_panoptic = _step_errors(_run(frames, rig, OdometryConfig(**FAST), fake_mover=True), frames)
    without = _step_errors(_run(frames, rig, OdometryConfig(**FAST, panoptic=False), fake_mover=True), frames)
    assert with_panoptic.max() < 0.25, with_panoptic
    assert without.mean() > 1.5 * with_panoptic.mean(), (with_panoptic, without)  # observed 0.205 vs 0.121 m


def test_lidar_path_takes_over_on_a_black_image():
    rig = _rig()
    scene = SceneConfig(seed=2003, dynamic_share=1.0, num_vehicles=60, num_pedestrians=60, occlusion_heavy=True)
    frames = list(simulate(scene, rig, 5))
    results = _run(frames, rig, OdometryConfig(**FAST), black=True)
    assert [r.mode for r in results] == ["init"] + ["lidar"] * 4
    assert "dark image" in results[1].reason
    assert _step_errors(results, frames).max() < 0.1


def test_config_rejects_out_of_range_values():
    with pytest.raises(OdometryInputError, match="window"):
        OdometryConfig(window=1)
    with pytest.raises(OdometryInputError, match="flow_downsample"):
        OdometryConfig(downsample=8, flow_downsample=3)
    with pytest.raises(OdometryInputError, match="unknown odometry key"):
        OdometryConfig.from_dict({"windw": 3})
    for bad in (0.0, -1.0, 2e4):
        with pytest.raises(OdometryInputError, match="visual_information_scale"):
            OdometryConfig(visual_information_scale=bad)
    for bad in (0.0, 1e5):
        with pytest.raises(OdometryInputError, match="lidar_information_scale"):
            OdometryConfig(lidar_information_scale=bad)


class _FixedICP:
    """Stands in for LidarOdometry: every registration returns the same pose and information."""

    def __init__(self, result):
        self.result = result

    def register_sweep(self, *args, **kwargs):
        return self.result, None


def _fuse_fixed(d: np.ndarray, visual_information: float, lidar_information: float, **config):
    """Fuse a visual pose with an ICP pose Exp(d) away whose body informations are multiples of the identity."""
    from panoptic_perception.odometry.lidar_registration import ICPResult

    T_visual = motion.exp(np.array([3.0, 1.0, 0.2, 0.0, 0.0, 0.4]))
    T_icp = T_visual @ motion.exp(d)
    rmse = 0.02
    Ad_inv = np.linalg.inv(motion.adjoint(T_icp))
    H = lidar_information * rmse**2 * Ad_inv.T @ Ad_inv  # so that the body information Ad^T H Ad / rmse^2 is lidar_information I
    stage = PanopticOdometry(OdometryConfig(**config))
    stage.lidar = _FixedICP(ICPResult(T=T_icp, iterations=3, converged=True, inliers=100, rmse=rmse, information=H))
    fused, cov, sources, info = stage._fuse_lidar(T_visual, np.eye(6) / visual_information, np.zeros((1, 3)),
                                                   np.zeros(1, bool), None, np.zeros(6), None)
    assert set(sources) == {"visual", "icp"}
    return motion.log(np.linalg.inv(T_visual) @ fused), cov, info


@pytest.mark.parametrize("scale", [1.0, 1 / 3, 0.05])
def test_lidar_fusion_weights_the_visual_information_by_its_scale(scale):
    """Body informations s*I (visual) and I (ICP), a consistent innovation: the fused pose lies 1/(1+s) of the way
    to the ICP pose."""
    d = np.array([0.02, -0.01, 0.005, 0.001, -0.002, 0.003])
    xi, cov, info = _fuse_fixed(d, 1.0, 1.0, visual_information_scale=scale, lidar_information_scale=1.0)
    np.testing.assert_allclose(xi, d / (1 + scale), atol=1e-9)
    np.testing.assert_allclose(info["visual"], scale * np.eye(6), atol=1e-12)
    np.testing.assert_allclose(info["icp"], np.eye(6), atol=1e-6)
    np.testing.assert_allclose(cov, np.eye(6) / (1 + scale), atol=1e-6)
    xi, _, info = _fuse_fixed(d, 1.0, 1.0, visual_information_scale=1.0, lidar_information_scale=scale)
    np.testing.assert_allclose(xi, d * scale / (1 + scale), atol=1e-9)
    np.testing.assert_allclose(info["icp"], scale * np.eye(6), atol=1e-6)


def test_lidar_fusion_inflates_the_visual_covariance_when_the_two_poses_disagree_beyond_it():
    """Informations 1e6 I each: a 2 cm / 0.3 deg disagreement is q = |d|^2 / 2e-6 = 214, so the visual information
    is scaled by 6 / q and the fused pose lands 1 / (1 + 6 / q) of the way to the ICP pose (not half-way)."""
    d = np.array([0.02, 0.0, 0.0, 0.0, 0.0, np.radians(0.3)])
    q = float(d @ d) * 1e6 / 2
    assert q > 6
    xi, _, info = _fuse_fixed(d, 1e6, 1e6, visual_information_scale=1.0, lidar_information_scale=1.0)
    np.testing.assert_allclose(info["visual"], 1e6 * 6 / q * np.eye(6), rtol=1e-6)
    np.testing.assert_allclose(xi, d / (1 + 6 / q), atol=1e-9)
    small = d / 1e3  # q = 2e-4: consistent, no inflation, half-way
    xi, _, info = _fuse_fixed(small, 1e6, 1e6, visual_information_scale=1.0, lidar_information_scale=1.0)
    np.testing.assert_allclose(xi, small / 2, atol=1e-12)


def test_rasterize_keeps_the_nearest_point_per_pixel_and_fills_small_holes():
    rig = make_rig("tiny")
    camera = rig.cameras["front"]
    grid = ReducedGrid.of(camera, 4)
    # Two points on the optical axis (LiDAR x forward), 5 m and 10 m ahead: the near one wins.
    cam_axis = np.linalg.inv(camera.T_cam_lidar)
    xyz = np.stack([(cam_axis @ np.array([0.0, 0.0, d, 1.0]))[:3] for d in (10.0, 5.0)])
    raster = rasterize(grid, camera, xyz, np.array([13, 1]), np.array([0, 7]), fill=1)
    hit = raster.disps > 0
    assert hit.sum() == 1
    assert raster.disps[hit][0] == pytest.approx(0.2, rel=1e-3)
    assert raster.class_id[hit][0] == 1 and raster.instance_id[hit][0] == 7
    assert (raster.class_id == 1).sum() == 5  # the pixel and its 4 neighbours at distance 1
    assert (raster.class_id == NO_LABEL).sum() == grid.height * grid.width - 5


def test_vps_fusion_carries_instance_ids_over_and_fills_holes():
    ht, wd = 6, 8
    prev_c = np.full((ht, wd), 9)
    prev_i = np.zeros((ht, wd), np.int64)
    prev_c[1:4, 1:4], prev_i[1:4, 1:4] = 1, 42
    # The camera moved one pixel right: everything lands one column to the left.
    u, v = np.meshgrid(np.arange(wd, dtype=float), np.arange(ht, dtype=float))
    coords = np.stack([u - 1, v], axis=-1)
    warped_c, warped_i = warp_labels(prev_c, prev_i, coords, np.ones((ht, wd), bool), np.ones((ht, wd)))
    assert (warped_i == 42).sum() == 9 and warped_i[1, 0] == 42
    cur_c = np.full((ht, wd), 9)
    cur_i = np.zeros((ht, wd), np.int64)
    cur_c[1:4, 0:3], cur_i[1:4, 0:3] = 1, 5  # same car, this frame's segmentation calls it 5
    cur_c[5, :] = NO_LABEL  # a row without labels
    fused_c, fused_i = fuse_panoptic(cur_c, cur_i, warped_c, warped_i, threshold=0.5)
    assert (fused_i == 42).sum() == 9 and not (fused_i == 5).any()
    assert (fused_c[5, : wd - 1] == 9).all()  # filled from the warp (the last column had no source)


def test_image_panoptic_labels_of_the_wrong_size_are_rejected(drive):
    frames, rig = drive
    cloud, moving = _inputs(frames[0])
    stage = PanopticOdometry(OdometryConfig(**FAST), T_base_lidar=rig.T_base_lidar)
    wrong = (np.zeros((10, 10), np.int64), np.zeros((10, 10), np.int64))
    with pytest.raises(OdometryInputError, match="pixel_panoptic"):
        stage.process(cloud, moving, frames[0].sensor.cameras["front"], pixel_panoptic=wrong)


def test_image_panoptic_labels_replace_the_projected_ones(drive):
    frames, rig = drive
    stage = PanopticOdometry(OdometryConfig(**FAST), T_base_lidar=rig.T_base_lidar)
    results = []
    for frame in frames[:2]:
        cloud, moving = _inputs(frame)
        truth = frame.cameras["front"]
        results.append(stage.process(cloud, moving, frame.sensor.cameras["front"], frame.sensor.point_time,
                                     (truth.semantic, truth.instance)))
    classes, _ = results[-1].panoptic
    expected = truth.semantic[2::4, 2::4][: classes.shape[0], : classes.shape[1]]
    np.testing.assert_array_equal(classes, expected)  # every pixel is labelled: VPS only renames instances


def _first_keyframe(frame, rig, depth_init=None):
    stage = PanopticOdometry(OdometryConfig(**FAST), T_base_lidar=rig.T_base_lidar, depth_init=depth_init)
    cloud, moving = _inputs(frame)
    stage.process(cloud, moving, frame.sensor.cameras["front"], frame.sensor.point_time)
    return stage.window.keyframes[0]


def test_a_dense_depth_init_initialises_the_pixels_no_lidar_point_reaches(drive):
    """DeepDPS (or any depth image) seeds the inverse depth beyond the LiDAR; LiDAR pixels keep their measurement."""
    frames, rig = drive
    frame = frames[0]
    truth = frame.cameras["front"].depth
    plain = _first_keyframe(frame, rig)
    primed = _first_keyframe(frame, rig, depth_init=lambda rgb: truth)
    lidar = plain.disps_sens.numpy() > 0
    np.testing.assert_array_equal(primed.disps.numpy()[lidar], plain.disps.numpy()[lidar])
    sampled = truth[2::4, 2::4][: lidar.shape[0], : lidar.shape[1]]
    beyond = ~lidar & (sampled > 0)
    assert beyond.sum() > 100  # the camera sees above the LiDAR's upper beam
    np.testing.assert_allclose(primed.disps.numpy()[beyond], 1.0 / sampled[beyond], rtol=1e-5)
    error_plain = np.abs(1.0 / plain.disps.numpy()[beyond] - sampled[beyond]).mean()
    error_primed = np.abs(1.0 / primed.disps.numpy()[beyond] - sampled[beyond]).mean()
    assert error_primed < 1e-3 < error_plain


def test_a_depth_init_of_the_wrong_size_is_rejected(drive):
    frames, rig = drive
    with pytest.raises(OdometryInputError, match="depth_init"):
        _first_keyframe(frames[0], rig, depth_init=lambda rgb: np.ones((10, 10)))


def test_lidar_fusion_keeps_the_visual_path_and_tightens_its_steps(drive):
    """Every sweep's ICP fused by information: the mode stays visual, the steps stay on the truth and the
    covariance shrinks (two independent estimates)."""
    frames, rig = drive
    visual = _run(frames, rig, OdometryConfig(**FAST))
    fused = _run(frames, rig, OdometryConfig(**FAST, lidar_fusion=True))
    assert [r.mode for r in fused] == ["init"] + ["visual"] * 4
    assert all(set(r.fused_from) == {"visual", "icp"} for r in fused[1:]) and not visual[-1].fused_from
    errors = _step_errors(fused, frames)
    # Of 0.8 m steps; observed 0.5-0.7 mm with each sweep de-skewed by its own motion (10-34 mm when the visual pose's
    # velocity de-skewed it; visual alone 13-31 mm).
    assert errors.max() < 0.005, errors
    true_velocity = motion.log(np.linalg.inv(frames[-2].T_world_lidar) @ frames[-1].T_world_lidar) / 0.1
    assert np.abs(fused[-1].velocity - true_velocity).max() < 0.05  # the fused motion, not the visual one
    assert np.trace(fused[-1].covariance) < 1e-3 * np.trace(visual[-1].covariance)
