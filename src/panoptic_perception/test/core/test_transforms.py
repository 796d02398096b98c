"""The static transform tree: chains compose in the right order, both directions, and say when they can't."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from panoptic_perception.core import TransformLookupError, TransformTree


def _rigid(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    T = np.eye(4)
    T[:3, :3] = Rotation.random(random_state=seed).as_matrix()
    T[:3, 3] = rng.normal(size=3)
    return T


def test_a_chain_composes_parent_to_child_and_inverts_the_other_way():
    T_base_lidar, T_lidar_cam, T_base_imu = _rigid(1), _rigid(2), _rigid(3)
    tree = TransformTree()
    tree.add("base_link", "lidar", T_base_lidar)
    tree.add("lidar", "camera", T_lidar_cam)
    tree.add("base_link", "imu", T_base_imu)

    np.testing.assert_allclose(tree.lookup("base_link", "camera"), T_base_lidar @ T_lidar_cam, atol=1e-12)
    np.testing.assert_allclose(tree.lookup("camera", "lidar"), np.linalg.inv(T_lidar_cam), atol=1e-12)
    np.testing.assert_allclose(tree.lookup("imu", "camera"), np.linalg.inv(T_base_imu) @ T_base_lidar @ T_lidar_cam, atol=1e-12)
    np.testing.assert_array_equal(tree.lookup("lidar", "lidar"), np.eye(4))
    assert "camera" in tree and "radar" not in tree


def test_disconnected_frames_and_non_rigid_transforms_are_errors():
    tree = TransformTree()
    tree.add("base_link", "lidar", _rigid(4))
    with pytest.raises(TransformLookupError, match="no transform chain from 'radar' to 'lidar'"):
        tree.lookup("lidar", "radar")
    sheared = np.eye(4)
    sheared[0, 1] = 0.5
    with pytest.raises(ValueError, match="base_link -> camera is not rigid"):
        tree.add("base_link", "camera", sheared)
