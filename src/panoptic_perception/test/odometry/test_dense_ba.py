"""Dense BA on a synthetic keyframe scene with perfect correspondences from the true geometry."""

import pypose as pp
import pytest
import torch

from panoptic_perception.odometry import BAProblem, OdometryInputError, dense_ba, projective_transform, retract

DT = torch.float64


def _all_pairs(num: int) -> tuple[torch.Tensor, torch.Tensor]:
    ii, jj = torch.meshgrid(torch.arange(num), torch.arange(num), indexing="ij")
    keep = ii != jj
    return ii[keep], jj[keep]


def _truth(scene):
    """Targets from the true geometry, weight 1 where the target lands inside the image."""
    num, ht, wd = scene.disps.shape
    ii, jj = _all_pairs(num)
    target, valid, _ = projective_transform(scene.poses, scene.disps, scene.intrinsics, ii, jj, jacobian=False)
    inside = valid & (target[..., 0] >= 0) & (target[..., 0] <= wd - 1) & (target[..., 1] >= 0) & (target[..., 1] <= ht - 1)
    weight = inside[..., None].to(DT).expand(-1, -1, -1, 2).clone()
    return ii, jj, target, weight


def _pose_errors(poses, truth) -> tuple[float, float]:
    """Largest translation [m] and rotation [rad] error over the keyframes."""
    delta = (poses * truth.Inv()).Log().tensor()
    return float(delta[:, :3].norm(dim=-1).max()), float(delta[:, 3:].norm(dim=-1).max())


def _perturbed(scene, t0: int, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    xi = 0.02 * torch.randn(len(scene.poses), 6, generator=gen, dtype=DT)  # 2 cm, ~1 deg
    xi[:t0] = 0.0
    noise = 1.0 + 0.1 * torch.randn(scene.disps.shape, generator=gen, dtype=DT)
    return retract(scene.poses, xi), scene.disps * noise


def test_dense_ba_converges_to_the_true_poses_and_depths_in_under_ten_iterations(scene):
    ii, jj, target, weight = _truth(scene)
    poses0, disps0 = _perturbed(scene, t0=2)
    assert _pose_errors(poses0, scene.poses)[0] > 1e-2
    problem = BAProblem(scene.intrinsics, ii, jj, target, weight, t0=2)
    poses, disps, steps = dense_ba(poses0, disps0, problem, iters=9, tol=1e-9)
    t_err, r_err = _pose_errors(poses, scene.poses)
    assert steps < 10
    assert t_err < 1e-4 and r_err < 1e-4
    observed = torch.zeros_like(disps).index_add_(0, ii, weight[..., 0]) > 0
    assert float((disps - scene.disps)[observed].abs().max() / scene.disps.max()) < 1e-4


def test_dense_ba_with_a_sparse_depth_prior_recovers_the_metric_scale(scene):
    ii, jj, target, weight = _truth(scene)
    poses0, disps0 = _perturbed(scene, t0=1)
    scale = 2.0  # start at twice the true scale: translations doubled, inverse depths halved
    poses0 = pp.SE3(torch.cat([poses0.tensor()[:, :3] * scale, poses0.tensor()[:, 3:]], dim=-1))
    disps0 = disps0 / scale
    lidar = torch.rand(scene.disps.shape, generator=torch.Generator().manual_seed(2)) < 0.05  # 5 % of pixels
    disps_sens = torch.where(lidar, scene.disps, torch.zeros_like(scene.disps))
    problem = BAProblem(scene.intrinsics, ii, jj, target, weight, t0=1, disps_sens=disps_sens, alpha=1e3)

    poses, disps, _ = dense_ba(poses0, disps0, problem, iters=12)
    t_err, r_err = _pose_errors(poses, scene.poses)
    assert t_err < 1e-4 and r_err < 1e-4
    recovered = poses.Inv().translation()[1:].norm(dim=-1) / scene.poses.Inv().translation()[1:].norm(dim=-1)
    torch.testing.assert_close(recovered, torch.ones_like(recovered), atol=1e-4, rtol=0)

    # Without the prior the scale is a gauge freedom: the start's wrong scale is kept.
    no_prior = BAProblem(scene.intrinsics, ii, jj, target, weight, t0=1)
    poses_np, _, _ = dense_ba(poses0, disps0, no_prior, iters=12)
    assert _pose_errors(poses_np, scene.poses)[0] > 0.1


def test_zero_weights_on_a_corrupted_region_keep_its_outliers_out_of_the_solution(scene):
    ii, jj, target, weight = _truth(scene)
    # A "moving object" in frame 0: its pixels land 3 px right and 2 px up of where the static scene would.
    patch = torch.zeros(target.shape[1:3], dtype=torch.bool)
    patch[6:18, 8:20] = True
    region = (ii == 0)[:, None, None] & patch
    corrupted = target + region[..., None] * torch.tensor([3.0, -2.0], dtype=DT)
    poses0, disps0 = _perturbed(scene, t0=2)

    masked = BAProblem(scene.intrinsics, ii, jj, corrupted, weight * ~region[..., None], t0=2)
    poses, _, _ = dense_ba(poses0, disps0, masked, iters=9)
    t_err, r_err = _pose_errors(poses, scene.poses)
    assert t_err < 1e-4 and r_err < 1e-4

    uniform = BAProblem(scene.intrinsics, ii, jj, corrupted, weight, t0=2)
    poses_u, _, _ = dense_ba(poses0, disps0, uniform, iters=9)
    assert _pose_errors(poses_u, scene.poses)[0] > 1e-3


def test_dense_ba_raises_when_no_pose_is_fixed(scene):
    ii, jj, target, weight = _truth(scene)
    with pytest.raises(OdometryInputError, match="t0"):
        dense_ba(scene.poses, scene.disps, BAProblem(scene.intrinsics, ii, jj, target, weight, t0=0))


def test_pose_covariance_is_sigma2_inverse_schur_and_does_not_change_when_all_weights_are_scaled(scene):
    """Weights are relative: scaled by 1e-5 (the baseline's unboosted level) the covariance must stay put."""
    from panoptic_perception.odometry.dense_ba import schur_system
    from panoptic_perception.odometry.visual_window import pose_covariance

    ii, jj, target, weight = _truth(scene)
    gen = torch.Generator().manual_seed(3)
    target = target + 0.3 * torch.randn(target.shape, generator=gen, dtype=DT)  # 0.3 px noise
    problem = BAProblem(scene.intrinsics, ii, jj, target, weight, t0=2)  # two fixed poses pin the scale
    cov = pose_covariance(scene.poses, scene.disps, scene.intrinsics, problem, weight)
    coords, _, _ = projective_transform(scene.poses, scene.disps, scene.intrinsics, ii, jj, jacobian=False)
    S = schur_system(scene.poses, scene.disps, problem).S
    n = float(weight.sum())
    sigma2 = float((weight * (target - coords) ** 2).sum()) / (n - S.shape[0])  # uniform 0/1 weights: n_eff = n
    assert sigma2 == pytest.approx(0.09, rel=0.1)
    expected = torch.linalg.inv(S)[-6:, -6:] * sigma2
    assert torch.allclose(torch.from_numpy(cov), 0.5 * (expected + expected.T), rtol=1e-6)
    scaled = BAProblem(scene.intrinsics, ii, jj, target, 1e-5 * weight, t0=2)
    assert torch.allclose(torch.from_numpy(pose_covariance(scene.poses, scene.disps, scene.intrinsics, scaled, 1e-5 * weight)),
                          torch.from_numpy(cov), rtol=1e-3)  # the absolute damping (ep, eta) is all that differs
