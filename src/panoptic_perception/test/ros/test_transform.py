"""geometry_msgs Transform/Pose <-> 4x4 matrices."""

from __future__ import annotations

import numpy as np
import pytest
from geometry_msgs.msg import Pose, PoseStamped, Quaternion, Transform, Vector3
from nav_msgs.msg import Odometry
from scipy.spatial.transform import Rotation

from panoptic_perception.ros.conversions import (
    ConversionError,
    matrix_to_pose,
    matrix_to_transform,
    stamp_to_ns,
    transform_to_matrix,
)


def _random_rigid(rng: np.random.Generator) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = Rotation.random(random_state=rng).as_matrix()
    T[:3, 3] = rng.normal(scale=50.0, size=3)
    return T


def test_random_rigid_transforms_round_trip_within_1e_12():
    rng = np.random.default_rng(0)
    special = [np.eye(4), np.diag([1.0, -1.0, -1.0, 1.0]), np.diag([-1.0, 1.0, -1.0, 1.0]), np.diag([-1.0, -1.0, 1.0, 1.0])]
    for T in special + [_random_rigid(rng) for _ in range(200)]:
        msg = matrix_to_transform(T, "odom", "base_link", stamp_ns=123)
        assert np.abs(transform_to_matrix(msg) - T).max() < 1e-12
        assert np.abs(transform_to_matrix(msg.transform) - T).max() < 1e-12
        assert np.abs(transform_to_matrix(matrix_to_pose(T)) - T).max() < 1e-12


def test_transform_stamped_carries_frames_and_stamp_and_unit_quaternion_with_nonnegative_w():
    T = _random_rigid(np.random.default_rng(1))
    msg = matrix_to_transform(T, "odom", "base_link", stamp_ns=1_700_000_000_000_000_001)
    q = msg.transform.rotation
    assert (msg.header.frame_id, msg.child_frame_id) == ("odom", "base_link")
    assert stamp_to_ns(msg.header.stamp) == 1_700_000_000_000_000_001
    assert np.hypot(np.hypot(q.x, q.y), np.hypot(q.z, q.w)) == pytest.approx(1.0, abs=1e-15)
    assert q.w >= 0
    np.testing.assert_allclose(Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix(), T[:3, :3], atol=1e-12)


def test_quaternion_matches_scipy_for_random_rotations():
    rng = np.random.default_rng(2)
    for quat in Rotation.random(50, random_state=rng).as_quat():
        msg = Transform(rotation=Quaternion(x=quat[0], y=quat[1], z=quat[2], w=quat[3]))
        np.testing.assert_allclose(transform_to_matrix(msg)[:3, :3], Rotation.from_quat(quat).as_matrix(), atol=1e-14)


def test_quarter_turn_about_z_maps_x_to_y():
    s = np.sqrt(0.5)
    pose = Pose(orientation=Quaternion(x=0.0, y=0.0, z=s, w=s))
    pose.position.x, pose.position.y, pose.position.z = 1.0, 2.0, 3.0
    T = transform_to_matrix(pose)
    np.testing.assert_allclose(T @ [1.0, 0.0, 0.0, 1.0], [1.0, 3.0, 3.0, 1.0], atol=1e-15)


def test_odometry_pose_is_unwrapped():
    T = _random_rigid(np.random.default_rng(4))
    odom = Odometry()
    odom.pose.pose = matrix_to_pose(T)
    assert np.abs(transform_to_matrix(odom) - T).max() < 1e-12


def test_unnormalised_quaternion_is_normalised_and_pose_stamped_is_accepted():
    msg = PoseStamped()
    msg.pose.orientation = Quaternion(x=0.0, y=0.0, z=3.0, w=3.0)
    R = transform_to_matrix(msg)[:3, :3]
    np.testing.assert_allclose(R, Rotation.from_euler("z", 90, degrees=True).as_matrix(), atol=1e-15)


@pytest.mark.parametrize(
    ("msg", "match"),
    [
        (Transform(rotation=Quaternion(x=0.0, y=0.0, z=0.0, w=0.0)), r"quaternion .* has no rotation"),
        (Transform(rotation=Quaternion(x=float("nan"))), r"quaternion .* has no rotation"),
        (Transform(translation=Vector3(x=float("inf"))), r"translation \(inf, 0.0, 0.0\) is not finite"),
        (Vector3(), r"Vector3 is not a Transform, TransformStamped or Pose"),
    ],
)
def test_invalid_transform_message_is_rejected(msg, match):
    with pytest.raises(ConversionError, match=match):
        transform_to_matrix(msg)


def _scaled() -> np.ndarray:
    return np.diag([1.0 + 1e-5, 1.0, 1.0, 1.0])


def _reflection() -> np.ndarray:
    return np.diag([-1.0, 1.0, 1.0, 1.0])


def _bad_bottom_row() -> np.ndarray:
    T = np.eye(4)
    T[3, 0] = 1e-3
    return T


def _sheared() -> np.ndarray:
    T = np.eye(4)
    T[0, 1] = 1e-4
    return T


@pytest.mark.parametrize(
    ("T", "match"),
    [
        (_scaled(), r"not a proper rotation \(\|R\^T R - I\| = 2e-05"),
        (_sheared(), r"not a proper rotation"),
        (_reflection(), r"not a proper rotation .*det = -1"),
        (_bad_bottom_row(), r"bottom row must be \[0, 0, 0, 1\]"),
        (np.eye(3), r"must be 4x4, got shape \(3, 3\)"),
        (np.full((4, 4), np.nan), r"non-finite"),
    ],
)
def test_non_rigid_matrix_is_rejected(T, match):
    with pytest.raises(ConversionError, match=match):
        matrix_to_transform(T, "a", "b")
    with pytest.raises(ConversionError, match=match):
        matrix_to_pose(T)


def test_rotation_within_tolerance_is_accepted_and_re_orthonormalised_by_the_quaternion():
    T = np.eye(4)
    T[0, 1] = 4e-7  # below the 1e-6 rigidity tolerance
    R = transform_to_matrix(matrix_to_transform(T, "a", "b"))[:3, :3]
    assert np.abs(R.T @ R - np.eye(3)).max() < 1e-15
