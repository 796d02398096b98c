"""Point-to-plane ICP on a synthetic scene of planes (ground and walls) with a known motion."""

import numpy as np
import pypose as pp
import pytest
import torch

from panoptic_perception.odometry import (
    DegenerateGeometryError,
    OdometryInputError,
    VoxelMap,
    register_scan,
    robust_weights,
)

# Scan -> map: 0.4 m forward, 0.25 m left, 3 cm up, 3 deg yaw, 0.5 deg roll.
T_TRUE = pp.se3(torch.tensor([0.4, 0.25, 0.03, np.radians(0.5), 0.0, np.radians(3.0)], dtype=torch.float64)).Exp()
T_TRUE = T_TRUE.matrix().numpy()


def _planes(rng: np.random.Generator, n: int) -> np.ndarray:
    """Ground z = 0 and three walls (x = -6, x = 7, y = 8), points in the map frame."""
    u = rng.uniform(-1.0, 1.0, size=(n, 2))
    ground = np.column_stack([8 * u[:, 0], 9 * u[:, 1], np.zeros(n)])
    left = np.column_stack([np.full(n, -6.0), 9 * u[:, 0], 1.5 + 1.5 * u[:, 1]])
    right = np.column_stack([np.full(n, 7.0), 9 * u[:, 0], 1.5 + 1.5 * u[:, 1]])
    back = np.column_stack([7 * u[:, 0], np.full(n, 8.0), 1.5 + 1.5 * u[:, 1]])
    return np.vstack([ground, left, right, back])


def _box(rng: np.random.Generator, centre: np.ndarray, n: int = 1500) -> np.ndarray:
    """Points on the four sides and top of a 2 x 1.5 x 1.5 m box standing on the ground."""
    half = np.array([1.0, 0.75, 0.75])
    pts = rng.uniform(-1.0, 1.0, size=(n, 3)) * half
    face = rng.integers(0, 5, size=n)
    for k, (axis, sign) in enumerate([(0, 1), (0, -1), (1, 1), (1, -1), (2, 1)]):
        pts[face == k, axis] = sign * half[axis]
    return pts + centre + np.array([0.0, 0.0, 0.75])


def _to_scan(points_map: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    T_inv = np.linalg.inv(T_TRUE)
    return points_map @ T_inv[:3, :3].T + T_inv[:3, 3] + rng.normal(0.0, noise, size=points_map.shape)


def _errors(T: np.ndarray) -> tuple[float, float]:
    """Translation [m] and rotation [deg] error of T against the true motion."""
    delta = np.linalg.inv(T_TRUE) @ T
    angle = np.degrees(np.arccos(np.clip((np.trace(delta[:3, :3]) - 1) / 2, -1.0, 1.0)))
    return float(np.linalg.norm(delta[:3, 3])), float(angle)


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(0)
    box_before = _box(rng, np.array([2.0, 3.0, 0.0]))
    vmap = VoxelMap(np.vstack([_planes(rng, 6000), box_before]), voxel_size=0.2)
    scan_static = _to_scan(_planes(rng, 1500), noise=0.01, rng=rng)
    box_after = _to_scan(_box(rng, np.array([2.0, 4.2, 0.0])), noise=0.01, rng=rng)  # the box drove 1.2 m
    return vmap, scan_static, box_after


@pytest.mark.parametrize("kernel", ["geman_mcclure", "huber"])
def test_icp_recovers_a_known_motion_to_a_centimetre_and_a_tenth_of_a_degree(world, kernel):
    vmap, scan, _ = world
    result = register_scan(scan, vmap, kernel=kernel)
    t_err, r_err = _errors(result.T)
    assert result.converged
    assert t_err < 0.01 and r_err < 0.1
    assert result.rmse < 0.02


def test_points_of_a_moving_box_with_weight_zero_do_not_affect_the_estimate(world):
    vmap, scan, box = world
    reference = register_scan(scan, vmap)
    weights = np.concatenate([np.ones(len(scan)), np.zeros(len(box))])
    masked = register_scan(np.vstack([scan, box]), vmap, weights=weights)
    np.testing.assert_allclose(masked.T, reference.T, atol=1e-12)
    assert masked.inliers == reference.inliers


def test_voxel_map_normals_are_unit_and_perpendicular_to_the_ground():
    rng = np.random.default_rng(1)
    vmap = VoxelMap(_planes(rng, 3000), voxel_size=0.25)
    np.testing.assert_allclose(np.linalg.norm(vmap.normals, axis=1), 1.0, atol=1e-9)
    # Ground voxels away from the walls (near a wall the neighbourhood spans the corner).
    ground = (np.abs(vmap.points[:, 2]) < 1e-6) & (np.abs(vmap.points[:, 0]) < 5) & (np.abs(vmap.points[:, 1]) < 7)
    assert ground.sum() > 1000
    np.testing.assert_allclose(np.abs(vmap.normals[ground, 2]), 1.0, atol=1e-6)


def test_robust_weights_down_weight_large_residuals():
    r = np.array([0.0, 0.1, 1.0])
    np.testing.assert_allclose(robust_weights(r, "geman_mcclure", 0.1), [1.0, 0.25, (0.01 / 1.01) ** 2])
    np.testing.assert_allclose(robust_weights(r, "huber", 0.1), [1.0, 1.0, 0.1])
    with pytest.raises(OdometryInputError, match="kernel"):
        robust_weights(r, "cauchy", 0.1)


def test_icp_on_the_ground_plane_alone_raises_a_degenerate_geometry_error():
    rng = np.random.default_rng(2)
    ground = _planes(rng, 3000)[:3000]
    with pytest.raises(DegenerateGeometryError, match="6 degrees of freedom"):
        register_scan(ground, VoxelMap(ground, voxel_size=0.25))


def test_register_scan_raises_on_weights_of_the_wrong_length(world):
    vmap, scan, _ = world
    with pytest.raises(OdometryInputError, match="weights"):
        register_scan(scan, vmap, weights=np.ones(3))
