"""Dense bundle adjustment over keyframe poses and per-pixel inverse depths (DROID-SLAM's DBA layer).

Minimises, over free poses G_t0..G_N-1 and all inverse depths d,

    E = sum_e sum_p || target_e(p) - x1_e(p) ||^2_{diag(w_e(p))}  +  alpha * sum_{p: d_sens > 0} (d_sens(p) - d(p))^2

by Gauss-Newton. The normal equations have the block structure [[B, E], [E^T, C]] (poses, depths) with
C diagonal (one scalar per pixel), so the pose step solves the Schur complement
S = B - E C^-1 E^T and the depth step is back-substituted (DROID-SLAM Sec. 3.3).
Damping (our choice): B <- B + ep I + lm diag(B) (Tikhonov plus Levenberg-Marquardt) and
C <- C + eta + lm C, where ``eta`` may be a per-pixel tensor (DROID-SLAM predicts it).
S is far smaller than B (the depths absorb most of the information), so ``lm`` must be tiny: with
DROID-SLAM's 1e-4 Gauss-Newton degrades to linear convergence (about 13x per step on the test scene).
The first ``t0`` poses are held fixed (gauge); with no depth prior, fix two poses so the scale is set.
"""

from __future__ import annotations

from dataclasses import dataclass

import pypose as pp
import torch

from .errors import OdometryInputError
from .lie import as_se3, retract
from .projective_ops import projective_transform

MIN_DISP = 1e-4  # [1/m] inverse depths are clamped above this after each step (10 km)


@dataclass(frozen=True)
class BAProblem:
    """One dense BA problem: edges ii -> jj with measured target pixels and per-pixel confidence."""

    intrinsics: torch.Tensor  # (N, 4) or (4,) fx, fy, cx, cy [px]
    ii: torch.Tensor  # (E,) source frame of each edge
    jj: torch.Tensor  # (E,) target frame of each edge
    target: torch.Tensor  # (E, H, W, 2) where pixel p of frame ii lands in frame jj [px]
    weight: torch.Tensor  # (E, H, W, 2) confidence of each coordinate, >= 0
    t0: int = 1  # number of leading poses held fixed
    disps_sens: torch.Tensor | None = None  # (N, H, W) sensor inverse depth, 0 where unknown
    alpha: float = 0.0  # weight of the sensor-depth prior
    eta: float | torch.Tensor = 1e-7  # depth damping, scalar or (N, H, W)
    ep: float = 1e-6  # pose Tikhonov damping
    lm: float = 1e-6  # Levenberg-Marquardt factor on the diagonals (see module docstring)


def _validate(poses: pp.LieTensor, disps: torch.Tensor, pb: BAProblem) -> None:
    num, ht, wd = disps.shape
    edges = pb.ii.shape[0]
    if pb.target.shape != (edges, ht, wd, 2):
        raise OdometryInputError(f"target: expected ({edges}, {ht}, {wd}, 2), got {tuple(pb.target.shape)}")
    if pb.weight.shape != pb.target.shape:
        raise OdometryInputError(f"weight: expected {tuple(pb.target.shape)}, got {tuple(pb.weight.shape)}")
    if not 1 <= pb.t0 < num:
        raise OdometryInputError(f"t0: must fix at least one and at most {num - 1} of {num} poses, got {pb.t0}")
    if pb.disps_sens is not None and pb.disps_sens.shape != disps.shape:
        raise OdometryInputError(f"disps_sens: expected {tuple(disps.shape)}, got {tuple(pb.disps_sens.shape)}")
    if int(torch.minimum(pb.ii, pb.jj).min()) < 0 or int(torch.maximum(pb.ii, pb.jj).max()) >= num:
        raise OdometryInputError(f"ii, jj: frame indices must lie in [0, {num})")


@dataclass(frozen=True)
class SchurSystem:
    """The reduced normal equations ``S dx = b`` of one Gauss-Newton step and what back-substitution needs."""

    S: torch.Tensor  # (6F, 6F) Schur complement on the F free poses: their information matrix
    b: torch.Tensor  # (6F,)
    E: torch.Tensor  # (6F, N*HW) pose-depth coupling
    Q: torch.Tensor  # (N*HW,) inverse of the damped depth diagonal C
    g: torch.Tensor  # (N*HW,) depth gradient


def schur_system(poses: torch.Tensor, disps: torch.Tensor, pb: BAProblem) -> SchurSystem:
    """Assemble the normal equations at (poses, disps) and eliminate the depths."""
    poses = as_se3(poses)
    _validate(poses, disps, pb)
    num, ht, wd = disps.shape
    hw = ht * wd
    free = num - pb.t0
    dtype, device = disps.dtype, disps.device

    coords, valid, (Ji, Jj, Jz) = projective_transform(poses, disps, pb.intrinsics, pb.ii, pb.jj, jacobian=True)
    w = (pb.weight * valid[..., None]).flatten(1, 2)  # (E, HW, 2)
    r = (pb.target - coords).flatten(1, 2)  # (E, HW, 2)
    Ji, Jj, Jz = Ji.flatten(1, 2), Jj.flatten(1, 2), Jz.flatten(1, 2)
    wJiT = (w[..., None] * Ji).transpose(-1, -2)  # (E, HW, 6, 2)
    wJjT = (w[..., None] * Jj).transpose(-1, -2)

    # Pose-pose blocks and pose gradient, summed over pixels, scattered into (free x free) 6x6 blocks.
    Hii, Hij = (wJiT @ Ji).sum(1), (wJiT @ Jj).sum(1)
    Hji, Hjj = (wJjT @ Ji).sum(1), (wJjT @ Jj).sum(1)
    vi, vj = (wJiT @ r[..., None])[..., 0].sum(1), (wJjT @ r[..., None])[..., 0].sum(1)
    pi, pj = pb.ii - pb.t0, pb.jj - pb.t0  # free-pose index, < 0 for fixed poses
    B = torch.zeros(free * free, 6, 6, dtype=dtype, device=device)
    v = torch.zeros(free, 6, dtype=dtype, device=device)
    for a, b, block in ((pi, pi, Hii), (pi, pj, Hij), (pj, pi, Hji), (pj, pj, Hjj)):
        keep = (a >= 0) & (b >= 0)
        B.index_add_(0, (a * free + b)[keep], block[keep])
    for a, grad in ((pi, vi), (pj, vj)):
        keep = a >= 0
        v.index_add_(0, a[keep], grad[keep])

    # Pose-depth coupling E: pose (ii or jj) with the depths of frame ii, shape (free, num, 6, HW).
    Eik = (wJiT @ Jz[..., None])[..., 0].transpose(1, 2)  # (E, 6, HW)
    Ejk = (wJjT @ Jz[..., None])[..., 0].transpose(1, 2)
    E = torch.zeros(free * num, 6, hw, dtype=dtype, device=device)
    for a, block in ((pi, Eik), (pj, Ejk)):
        keep = a >= 0
        E.index_add_(0, (a * num + pb.ii)[keep], block[keep])

    # Depth-depth diagonal C and depth gradient, one scalar per pixel.
    C = torch.zeros(num, hw, dtype=dtype, device=device).index_add_(0, pb.ii, (w * Jz * Jz).sum(-1))
    g = torch.zeros(num, hw, dtype=dtype, device=device).index_add_(0, pb.ii, (w * Jz * r).sum(-1))
    if pb.disps_sens is not None and pb.alpha > 0:
        sens = pb.disps_sens.flatten(1)
        has = (sens > 0).to(dtype)
        C = C + pb.alpha * has
        g = g + pb.alpha * has * (sens - disps.flatten(1))
    eta = pb.eta.flatten(1) if isinstance(pb.eta, torch.Tensor) else pb.eta
    C = C + eta + pb.lm * C

    # Schur complement on the poses, then back-substitution for the depths.
    B = B.view(free, free, 6, 6).permute(0, 2, 1, 3).reshape(6 * free, 6 * free)
    B = B + torch.diag(pb.ep + pb.lm * torch.diagonal(B))
    E = E.view(free, num, 6, hw).permute(0, 2, 1, 3).reshape(6 * free, num * hw)
    Q = 1.0 / C.flatten()
    EQ = E * Q
    return SchurSystem(S=B - EQ @ E.T, b=v.flatten() - EQ @ g.flatten(), E=E, Q=Q, g=g.flatten())


def ba_step(poses: torch.Tensor, disps: torch.Tensor, pb: BAProblem) -> tuple[pp.LieTensor, torch.Tensor]:
    """One Gauss-Newton step; returns updated (poses (N, 7) SE3, disps (N, H, W))."""
    poses = as_se3(poses)
    num, ht, wd = disps.shape
    free = num - pb.t0
    sys = schur_system(poses, disps, pb)
    dx = torch.linalg.solve(sys.S, sys.b)
    dz = sys.Q * (sys.g - sys.E.T @ dx)

    poses = poses.clone()
    poses[pb.t0:] = retract(poses[pb.t0:], dx.view(free, 6))
    disps = (disps + dz.view(num, ht, wd)).clamp(min=MIN_DISP)
    return poses, disps


def dense_ba(
    poses: torch.Tensor, disps: torch.Tensor, pb: BAProblem, iters: int = 8, tol: float = 0.0
) -> tuple[pp.LieTensor, torch.Tensor, int]:
    """Run up to ``iters`` Gauss-Newton steps; stop early when the largest pose step is below ``tol``.

    Returns (poses, disps, number of steps taken).
    """
    poses = as_se3(poses)
    for step in range(1, iters + 1):
        new_poses, disps = ba_step(poses, disps, pb)
        moved = (new_poses * poses.Inv()).Log().tensor().abs().max()
        poses = new_poses
        if float(moved) < tol:
            return poses, disps, step
    return poses, disps, iters


def reprojection_error(poses: torch.Tensor, disps: torch.Tensor, pb: BAProblem) -> torch.Tensor:
    """Weighted RMS reprojection error [px] over valid pixels."""
    coords, valid, _ = projective_transform(as_se3(poses), disps, pb.intrinsics, pb.ii, pb.jj, jacobian=False)
    w = pb.weight * valid[..., None]
    return torch.sqrt((w * (pb.target - coords) ** 2).sum() / w.sum().clamp(min=1e-12))
