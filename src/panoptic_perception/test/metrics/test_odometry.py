import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from panoptic_perception.metrics import MetricsInputError, ate, rpe_frame_to_frame, rpe_kitti


def _drive(n=150, seed=0):
    rng = np.random.default_rng(seed)
    rot = Rotation.from_euler("z", np.cumsum(rng.normal(0, 0.02, n))[:, None]).as_matrix()
    gt = np.tile(np.eye(4), (n, 1, 1))
    gt[:, :3, :3] = rot
    gt[:, :3, 3] = np.cumsum(rot[:, :, 0], axis=0)  # 1 m forward per frame
    est = gt.copy()
    est[:, :3, :3] = est[:, :3, :3] @ Rotation.from_rotvec(rng.normal(0, 0.01, (n, 3))).as_matrix()
    est[:, :3, 3] = 1.3 * est[:, :3, 3] + rng.normal(0, 0.3, (n, 3))
    world = np.eye(4)
    world[:3, :3] = Rotation.from_euler("xyz", [0.1, 0.2, 0.3]).as_matrix()
    world[:3, 3] = [5.0, 1.0, 2.0]
    return world @ est, gt


def _evo_trajectories(est, gt):
    trajectory = pytest.importorskip("evo.core.trajectory")
    stamps = np.arange(gt.shape[0], dtype=float)
    return (trajectory.PoseTrajectory3D(poses_se3=list(gt), timestamps=stamps),
            trajectory.PoseTrajectory3D(poses_se3=list(est), timestamps=stamps))


@pytest.mark.parametrize("alignment", ["se3", "sim3"])
def test_ate_agrees_with_evo_ape(alignment):
    metrics = pytest.importorskip("evo.core.metrics")
    est, gt = _drive()
    ref, aligned = _evo_trajectories(est, gt)
    aligned.align(ref, correct_scale=alignment == "sim3")
    ape = metrics.APE(metrics.PoseRelation.translation_part)
    ape.process_data((ref, aligned))
    stats = ape.get_all_statistics()
    r = ate(est, gt, alignment)
    assert (r.rmse, r.mean, r.median, r.max) == pytest.approx(
        (stats["rmse"], stats["mean"], stats["median"], stats["max"]), abs=1e-6)
    if alignment == "sim3":
        assert r.scale == pytest.approx(1 / 1.3, rel=0.05)


def test_frame_to_frame_rpe_agrees_with_evo_rpe():
    metrics = pytest.importorskip("evo.core.metrics")
    est, gt = _drive()
    ref, traj = _evo_trajectories(est, gt)
    values = []
    for relation in (metrics.PoseRelation.translation_part, metrics.PoseRelation.rotation_angle_deg):
        rpe = metrics.RPE(relation, delta=1, delta_unit=metrics.Unit.frames)
        rpe.process_data((ref, traj))
        values += [rpe.get_statistic(metrics.StatisticsType.rmse), rpe.get_statistic(metrics.StatisticsType.mean)]
    r = rpe_frame_to_frame(est, gt)
    assert (r.translation_rmse_m, r.translation_mean_m, r.rotation_rmse_deg, r.rotation_mean_deg) == pytest.approx(
        values, abs=1e-6)


def test_kitti_rpe_of_a_uniform_scale_drift_is_the_drift():
    # Straight drive at 1 m/frame, estimate 2 % too long: every segment has 2 % translation error, no rotation.
    n = 400
    gt = np.tile(np.eye(4), (n, 1, 1))
    gt[:, 0, 3] = np.arange(n, dtype=float)
    est = gt.copy()
    est[:, 0, 3] *= 1.02
    r = rpe_kitti(est, gt, lengths=(100.0, 200.0))
    # Segments end at the first frame *beyond* the length (101 m, 201 m), as in the devkit.
    assert r.translation_pct == pytest.approx(100 * np.mean(np.r_[np.full(30, 0.02 * 101 / 100),
                                                                  np.full(20, 0.02 * 201 / 200)]))
    assert r.rotation_deg_per_100m == pytest.approx(0.0, abs=1e-9)
    assert r.segments == 30 + 20  # first frames 0, 10, ... with a segment end inside the drive


def test_kitti_rpe_of_a_constant_yaw_rate_error_is_degrees_per_100m():
    n = 300
    gt = np.tile(np.eye(4), (n, 1, 1))
    gt[:, 0, 3] = np.arange(n, dtype=float)
    est = gt.copy()
    est[:, :3, :3] = Rotation.from_euler("z", 0.001 * np.arange(n)[:, None]).as_matrix()  # 1 mrad per metre
    r = rpe_kitti(est, gt, lengths=(100.0,))
    assert r.rotation_deg_per_100m == pytest.approx(np.degrees(0.001 * 101 / 100) * 100)


def test_odometry_inputs_are_validated():
    est, gt = _drive(20)
    with pytest.raises(MetricsInputError, match="estimate has 19 poses, reference 20"):
        ate(est[:19], gt)
    with pytest.raises(MetricsInputError, match="shorter than the shortest segment"):
        rpe_kitti(est, gt)
    with pytest.raises(MetricsInputError, match="alignment must be"):
        ate(est, gt, "affine")
    with pytest.raises(MetricsInputError, match=r"expected \(N, 4, 4\)"):
        ate(np.zeros((5, 2, 2)), gt[:5])
