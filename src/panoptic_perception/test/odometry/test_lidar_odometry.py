"""The LiDAR path's de-skewing: raw sweeps of a moving, turning sensor in a street of planes and boxes."""

from __future__ import annotations

import numpy as np
import pypose as pp
import pytest
import torch

from panoptic_perception.odometry import LidarOdometry, motion
from panoptic_perception.odometry.lidar_odometry import deskew

PERIOD = 0.1  # [s] one sweep
TWIST = np.array([8.0, 0.0, 0.0, 0.0, 0.0, 0.4])  # body twist [m/s, rad/s]: 8 m/s forward, turning 23 deg/s


def _street(rng: np.random.Generator) -> np.ndarray:
    """World points: ground, two facades with recesses, a back wall and boxes (parked cars) -- no free direction."""
    n = 4000
    u = rng.uniform(0.0, 1.0, size=(n, 2))
    ground = np.column_stack([-10 + 50 * u[:, 0], -9 + 18 * u[:, 1], np.zeros(n)])
    left = np.column_stack([-10 + 50 * u[:, 0], np.where(u[:, 0] % 0.2 < 0.1, 8.0, 9.0), 6 * u[:, 1]])
    right = np.column_stack([-10 + 50 * u[:, 0], np.where(u[:, 0] % 0.25 < 0.1, -8.0, -7.0), 6 * u[:, 1]])
    back = np.column_stack([np.full(n, 40.0), -9 + 18 * u[:, 0], 6 * u[:, 1]])
    boxes = []
    for cx, cy in ((6.0, 5.0), (14.0, -5.0), (22.0, 5.5), (-4.0, -5.0)):
        p = rng.uniform(-1.0, 1.0, size=(1500, 3)) * np.array([2.0, 0.9, 0.75])
        face = rng.integers(0, 5, size=len(p))
        for k, (axis, sign) in enumerate([(0, 1), (0, -1), (1, 1), (1, -1), (2, 1)]):
            p[face == k, axis] = sign * np.array([2.0, 0.9, 0.75])[axis]
        boxes.append(p + np.array([cx, cy, 0.75]))
    return np.vstack([ground, left, right, back, *boxes])


def _sweep(world: np.ndarray, T_stamp: np.ndarray, twist: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw points as a spinning LiDAR measures them (each in the sensor frame of its own firing time), their
    times after the stamp, and the same points in the sensor frame at the stamp."""
    at_stamp = (world - T_stamp[:3, 3]) @ T_stamp[:3, :3]
    at_stamp = at_stamp[np.linalg.norm(at_stamp, axis=1) < 30.0]
    azimuth = np.arctan2(at_stamp[:, 1], at_stamp[:, 0])
    tau = (np.pi - azimuth) / (2 * np.pi) * PERIOD  # clockwise from behind, like the simulator's LiDAR
    T = pp.se3(torch.from_numpy(tau[:, None] * twist)).Exp().matrix().numpy()  # stamp frame -> firing-time frame
    raw = np.einsum("nji,nj->ni", T[:, :3, :3], at_stamp - T[:, :3, 3])
    return raw, tau, at_stamp


def _errors(T_est: np.ndarray, T_true: np.ndarray) -> tuple[float, float]:
    """Translation [m] and rotation [deg] error."""
    xi = motion.log(np.linalg.inv(T_true) @ T_est)
    return float(np.linalg.norm(xi[:3])), float(np.degrees(np.linalg.norm(xi[3:])))


@pytest.fixture(scope="module")
def street():
    rng = np.random.default_rng(3)
    world = _street(rng)
    poses = [motion.exp(TWIST * PERIOD * k) for k in range(2)]
    sweeps = [_sweep(world, T, TWIST) for T in poses]
    noisy = [(raw + rng.normal(0.0, 0.01, raw.shape), tau) for raw, tau, _ in sweeps]  # 1 cm range noise
    return world, poses, sweeps, noisy


def test_deskew_carries_raw_points_to_the_sweep_stamp(street):
    raw, tau, at_stamp = street[2][0]
    before = np.linalg.norm(raw - at_stamp, axis=1)
    after = np.linalg.norm(deskew(raw, tau, TWIST) - at_stamp, axis=1)
    assert before.max() > 0.8  # points fired at the end of the sweep moved by a whole 0.8 m step
    assert after.max() < 0.05 and np.median(after) < 0.01  # first order in the time
    np.testing.assert_array_equal(deskew(raw, None, TWIST), raw)


def test_a_sweep_is_registered_with_its_own_motion_not_the_noisy_one_it_was_given(street):
    """The stage hands over the motion of a noisy visual pose (2 m/s, 6 deg/s off); de-skewing with it alone leaves
    the sweep distorted against the map, estimating the motion together with the pose does not."""
    _, (T0, T1), _, ((raw0, tau0), (raw1, tau1)) = street
    start = T1 @ motion.exp(np.array([0.2, -0.15, 0.0, 0.0, 0.0, np.radians(1.0)]))  # a 25 cm / 1 deg wrong start
    noisy = TWIST + np.array([-2.0, 0.0, 0.0, 0.0, 0.0, -0.1])
    static = np.zeros(len(raw1), bool)
    lidar = LidarOdometry(voxel=0.5, min_range=2.0)
    lidar.add(raw0, np.zeros(len(raw0), bool), T0, tau0, velocity=TWIST)
    icp, velocity = lidar.register_sweep(raw1, static, start, tau1, noisy, previous=(PERIOD, T0))
    t_err, r_err = _errors(icp.T, T1)
    assert t_err < 0.01 and r_err < 0.02, (t_err, r_err)
    np.testing.assert_allclose(velocity, TWIST, atol=0.05)  # [m/s, rad/s]
    t_plain, r_plain = _errors(lidar.register(deskew(raw1, tau1, noisy), static, start).T, T1)
    assert t_plain > 5 * t_err and r_plain > 5 * r_err, (t_plain, r_plain, t_err, r_err)


def test_the_first_sweep_is_de_skewed_with_the_first_motion_found(street):
    """Added before any motion is known, the first sweep is re-inserted with the motion the second one's
    registration finds; both land as if that motion had been known all along."""
    _, (T0, T1), _, ((raw0, tau0), (raw1, tau1)) = street
    lidar = LidarOdometry(voxel=0.5, min_range=2.0)
    lidar.add(raw0, np.zeros(len(raw0), bool), T0, tau0, velocity=None)
    icp, velocity = lidar.register_sweep(raw1, np.zeros(len(raw1), bool), T1, tau1, np.zeros(6), previous=(PERIOD, T0))
    t_err, r_err = _errors(icp.T, T1)
    assert t_err < 0.01 and r_err < 0.02, (t_err, r_err)
    np.testing.assert_allclose(velocity, TWIST, atol=0.05)
    known = LidarOdometry(voxel=0.5, min_range=2.0)
    known.add(raw0, np.zeros(len(raw0), bool), T0, tau0, velocity=velocity)
    np.testing.assert_allclose(lidar.voxel_map().points, known.voxel_map().points, atol=1e-12)


def test_register_sweep_without_times_or_a_previous_pose_is_one_plain_registration(street):
    _, (T0, T1), ((_, _, at0), (_, _, at1)), _ = street
    lidar = LidarOdometry(voxel=0.5, min_range=2.0)
    lidar.add(at0, np.zeros(len(at0), bool), T0)
    icp, velocity = lidar.register_sweep(at1, np.zeros(len(at1), bool), T1, None, TWIST, previous=(PERIOD, T0))
    reference = lidar.register(at1, np.zeros(len(at1), bool), T1)
    np.testing.assert_array_equal(icp.T, reference.T)
    np.testing.assert_array_equal(velocity, TWIST)
    assert _errors(icp.T, T1)[0] < 0.01


def test_step_errors_of_the_fusion_breakdown_are_the_true_step_error_per_axis():
    from panoptic_perception.odometry.fusion_breakdown import step_errors

    true_prev, true_cur = np.eye(4), motion.exp(TWIST * PERIOD)
    off = np.array([0.03, -0.02, 0.01, 0.0, 0.0, np.radians(0.05)])
    est_prev = motion.exp(np.array([5.0, 1.0, 0.0, 0.0, 0.0, 0.3]))  # the estimate's own frame does not matter
    est_cur = est_prev @ true_cur @ motion.exp(off)
    np.testing.assert_allclose(step_errors(est_prev, est_cur, true_prev, true_cur),
                               [0.03, -0.02, 0.01, 0.0, 0.0, 0.05], atol=1e-9)
    np.testing.assert_allclose(step_errors(est_prev, est_prev @ true_cur, true_prev, true_cur), np.zeros(6), atol=1e-9)


def test_mask_coverage_counts_where_moving_points_are_lost():
    from panoptic_perception.odometry.mask_coverage import coverage_counts, summary

    # 10 points: a moving car (0-3) found as a moving track, a moving car (4-5) segmented as road,
    # a moving pedestrian (6) untracked (dynamic by class), a parked car (7-8) in a static track, road (9).
    true_class = np.array([1, 1, 1, 1, 1, 1, 6, 1, 1, 9])
    true_moving = np.array([1, 1, 1, 1, 1, 1, 1, 0, 0, 0], bool)
    pred_class = np.array([1, 1, 1, 1, 9, 9, 6, 1, 1, 9])
    pred_track = np.array([5, 5, 5, 5, 0, 0, 0, 8, 8, 0])
    counts = coverage_counts(true_class, true_moving, pred_class, pred_track, {5}, thing_ids=range(1, 9))
    assert counts["moving"] == 7 and counts["covered"] == 5 and counts["masked"] == 5
    assert counts["moving_as_thing"] == 5 and counts["moving_in_moving_track"] == 4
    assert counts["moving_cars_covered"] == 4 and counts["moving_people_covered"] == 1 and counts["parked_things_masked"] == 0
    s = summary(counts)
    assert s["recall"] == pytest.approx(5 / 7) and s["precision"] == 1.0 and s["car_recall"] == pytest.approx(4 / 6)


def test_fusion_calibration_records_pulls_and_nees_of_a_constructed_error():
    from panoptic_perception.odometry.fusion_calibration import conditional_error, frame_record, summary

    true_prev, true_cur = np.eye(4), motion.exp(TWIST * PERIOD)
    est_prev = motion.exp(np.array([5.0, 1.0, 0.0, 0.0, 0.0, 0.3]))
    e_visual = np.array([0.04, 0.0, 0.0, 0.0, 0.0, 0.0])
    e_icp = np.array([0.0, 0.003, 0.0, 0.0, 0.0, 0.0])
    visual, icp = est_prev @ true_cur @ motion.exp(e_visual), est_prev @ true_cur @ motion.exp(e_icp)
    np.testing.assert_allclose(conditional_error(est_prev, visual, true_prev, true_cur), e_visual, atol=1e-12)
    info = {"visual": np.diag([100.0, 100, 100, 1e4, 1e4, 1e4]), "icp": np.diag([1e4, 1e6, 1e6, 1e8, 1e8, 1e8])}
    record = frame_record(est_prev, icp, {"visual": visual, "icp": icp}, info, true_prev, true_cur)
    assert record["icp_pull_m"] == pytest.approx(np.hypot(0.04, 0.003), rel=1e-6)
    assert record["visual_pull_m"] == pytest.approx(0.0, abs=1e-9)
    assert record["visual_nees"] == pytest.approx(100 * 0.04**2) and record["icp_nees"] == pytest.approx(1e6 * 0.003**2)
    assert record["visual_trace_t"] == 300 and record["icp_trace_r"] == 3e8
    s = summary([record, record])
    assert s["visual_calibrating_scale"] == pytest.approx(6 / 0.16) and s["rms_fused_error_m"] == pytest.approx(0.003)
