"""The demo's own scores: the recorded trajectory against the truth, and map PQ with the poses the map was built on."""

import numpy as np
import pytest

from panoptic_bringup import demo
from panoptic_bringup.demo_scoring import map_panoptic_quality, odom_frame_error, plot_trajectory, trajectories
from panoptic_datasets.formats.bag import BagReader
from panoptic_perception.core import PanopticCloud, unpack_label
from panoptic_perception.mapping import MapConfig, PanopticMap
from panoptic_perception.metrics import ate


@pytest.fixture(scope="module")
def drive(tmp_path_factory):
    """A 3-sweep tiny drive and a map built from its ground-truth labels at the true poses."""
    root = tmp_path_factory.mktemp("scoring")
    bag = root / "drive"
    demo.write_drive(bag, seed=3, rig="tiny", frames=3)
    reader = BagReader(bag)
    panoptic_map = PanopticMap(MapConfig(root_dir=str(root)))
    truth = {}
    for frame in reader:
        sem, inst = unpack_label(frame.point_label)
        n = len(sem)
        cloud = PanopticCloud(frame.sensor.stamp_ns, frame.sensor.points, sem.astype(np.uint16), inst.astype(np.uint32),
                              np.ones(n, np.float32), np.zeros(n, np.float32), inst.astype(np.uint32), "lidar")
        panoptic_map.integrate(cloud, frame.T_world_lidar, {o.instance_id: o.moving for o in frame.objects})
        truth[frame.sensor.stamp_ns] = frame.T_world_lidar @ np.linalg.inv(reader.T_base_lidar)
    panoptic_map.save("map")
    panoptic_map.close()
    return bag, root / "map", truth


def test_map_pq_is_the_same_with_the_true_poses_given_or_taken_from_the_truth(drive):
    bag, map_dir, truth = drive
    from_truth = map_panoptic_quality(bag, map_dir, None)
    given = map_panoptic_quality(bag, map_dir, truth)
    assert from_truth["poses"] == "ground truth" and given["poses"] == "odometry" and given["sweeps"] == 3
    assert from_truth["pq"] > 0.5  # the truth's own labels, looked up where they were mapped
    assert given["pq"] == pytest.approx(from_truth["pq"], abs=1e-9)


def test_map_pq_drops_when_the_sweeps_are_placed_with_wrong_poses(drive):
    bag, map_dir, truth = drive
    shift = np.eye(4)
    shift[1, 3] = 2.0  # every sweep 2 m to the left of where it was mapped
    shifted = map_panoptic_quality(bag, map_dir, {stamp: shift @ T for stamp, T in truth.items()})
    assert shifted["pq"] < 0.5 * map_panoptic_quality(bag, map_dir, None)["pq"]


def test_trajectories_pair_the_sweeps_that_have_a_pose_and_plot_them(drive, tmp_path):
    bag, _, truth = drive
    stamps = sorted(truth)
    estimate, reference = trajectories(bag, {s: truth[s] for s in stamps[1:]})
    assert estimate.shape == reference.shape == (2, 4, 4)
    np.testing.assert_allclose(estimate, reference)
    with pytest.raises(ValueError, match="no recorded pose"):
        trajectories(bag, {})
    estimate, reference = trajectories(bag, truth)
    plot_trajectory(estimate, reference, 0.0, tmp_path / "trajectory.png", "truth against itself")
    assert (tmp_path / "trajectory.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_odom_frame_error_sees_a_rotated_trajectory_that_the_aligned_ate_forgives(drive):
    bag, _, truth = drive
    _, reference = trajectories(bag, truth)
    relative = np.linalg.inv(reference[0]) @ reference  # what a perfect odometry publishes: odom = the first base_link
    assert odom_frame_error(relative, reference)["max"] == pytest.approx(0.0, abs=1e-9)
    yaw = np.radians(2.0)
    turn = np.eye(4)
    turn[:2, :2] = [[np.cos(yaw), -np.sin(yaw)], [np.sin(yaw), np.cos(yaw)]]
    turned = turn @ relative  # the whole drive rotated by 2 degrees about the start, e.g. a wrong mounting yaw
    travelled = np.linalg.norm(relative[-1, :3, 3])
    assert odom_frame_error(turned, reference)["max"] == pytest.approx(2 * np.sin(yaw / 2) * travelled, rel=1e-6)
    assert ate(turned, reference, "se3").max < 1e-6
