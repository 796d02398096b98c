"""Analytic Jacobians of the reprojection against central finite differences (float64)."""

import pypose as pp
import pytest
import torch

from panoptic_perception.odometry import OdometryInputError, actp, iproj, proj, projective_transform, retract

DT = torch.float64
EPS = 1e-6


def _rel_err(analytic: torch.Tensor, numeric: torch.Tensor) -> float:
    return float((analytic - numeric).abs().max() / numeric.abs().max().clamp(min=1e-12))


@pytest.fixture
def graph():
    gen = torch.Generator().manual_seed(0)
    num, ht, wd = 3, 5, 6
    poses = retract(pp.identity_SE3(num, dtype=DT), 0.1 * torch.randn(num, 6, generator=gen, dtype=DT))
    disps = 0.2 + 0.1 * torch.rand(num, ht, wd, generator=gen, dtype=DT)
    intrinsics = torch.tensor([[20.0, 22.0, 2.5, 2.0], [21.0, 21.0, 2.4, 2.1], [19.0, 23.0, 2.6, 1.9]], dtype=DT)
    ii, jj = torch.tensor([0, 1, 2, 0]), torch.tensor([1, 2, 0, 2])
    return poses, disps, intrinsics, ii, jj


def test_iproj_then_proj_returns_the_pixel_grid():
    disps = torch.full((4, 5), 0.25, dtype=DT)
    K = torch.tensor([30.0, 31.0, 2.0, 1.5], dtype=DT)
    X, _ = iproj(disps, K)
    x, _ = proj(X, K)
    v, u = torch.meshgrid(torch.arange(4, dtype=DT), torch.arange(5, dtype=DT), indexing="ij")
    torch.testing.assert_close(x, torch.stack([u, v], -1), atol=1e-12, rtol=0)
    torch.testing.assert_close(X[..., 3], disps)


def test_proj_and_actp_jacobians_match_finite_differences():
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(2, 3, 4, generator=gen, dtype=DT)
    X[..., 2] = 2.0 + X[..., 2].abs()
    K = torch.tensor([25.0, 26.0, 3.0, 2.0], dtype=DT)
    _, Jp = proj(X, K, jacobian=True)
    for k in range(4):
        dX = torch.zeros(4, dtype=DT)
        dX[k] = EPS
        numeric = (proj(X + dX, K)[0] - proj(X - dX, K)[0]) / (2 * EPS)
        assert _rel_err(Jp[..., k], numeric) < 1e-6

    G = pp.se3(0.5 * torch.randn(2, 6, generator=gen, dtype=DT)).Exp()
    X0 = torch.randn(2, 2, 3, 4, generator=gen, dtype=DT)
    _, Ja = actp(G, X0, jacobian=True)
    for k in range(6):
        xi = torch.zeros(2, 6, dtype=DT)
        xi[:, k] = EPS
        numeric = (actp(retract(G, xi), X0)[0] - actp(retract(G, -xi), X0)[0]) / (2 * EPS)
        assert _rel_err(Ja[..., k], numeric) < 1e-6


@pytest.mark.parametrize("which", ["i", "j"])
def test_pose_jacobians_of_projective_transform_match_finite_differences(graph, which):
    poses, disps, K, ii, jj = graph
    _, valid, (Ji, Jj, _) = projective_transform(poses, disps, K, ii, jj)
    assert bool(valid.all())
    J, frames = (Ji, ii) if which == "i" else (Jj, jj)
    for e in range(len(ii)):
        for k in range(6):
            xi = torch.zeros(len(poses), 6, dtype=DT)
            xi[frames[e], k] = EPS
            plus = projective_transform(retract(poses, xi), disps, K, ii, jj, jacobian=False)[0][e]
            minus = projective_transform(retract(poses, -xi), disps, K, ii, jj, jacobian=False)[0][e]
            assert _rel_err(J[e, ..., k], (plus - minus) / (2 * EPS)) < 1e-6, (which, e, k)


def test_inverse_depth_jacobian_of_projective_transform_matches_finite_differences(graph):
    poses, disps, K, ii, jj = graph
    _, _, (_, _, Jz) = projective_transform(poses, disps, K, ii, jj)
    # Each output pixel depends only on its own inverse depth, so one perturbation of all pixels suffices.
    for e in range(len(ii)):
        dd = torch.zeros_like(disps)
        dd[ii[e]] = EPS
        plus = projective_transform(poses, disps + dd, K, ii, jj, jacobian=False)[0][e]
        minus = projective_transform(poses, disps - dd, K, ii, jj, jacobian=False)[0][e]
        assert _rel_err(Jz[e], (plus - minus) / (2 * EPS)) < 1e-6


def test_projective_transform_marks_points_behind_the_target_camera_invalid():
    disps = torch.full((2, 3, 3), 0.5, dtype=DT)  # 2 m in front of camera 0
    K = torch.tensor([10.0, 10.0, 1.0, 1.0], dtype=DT)
    # Camera 1 sits 3 m further along +z than camera 0, so the points are 1 m behind it.
    poses = pp.SE3(torch.tensor([[0, 0, 0, 0, 0, 0, 1], [0, 0, -3.0, 0, 0, 0, 1]], dtype=DT))
    _, valid, _ = projective_transform(poses, disps, K, torch.tensor([0]), torch.tensor([1]), jacobian=False)
    assert not bool(valid.any())


def test_projective_transform_raises_on_mismatched_intrinsics(graph):
    poses, disps, _, ii, jj = graph
    with pytest.raises(OdometryInputError, match="intrinsics"):
        projective_transform(poses, disps, torch.ones(2, 4, dtype=DT), ii, jj)
