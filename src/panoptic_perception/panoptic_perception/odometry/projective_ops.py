"""Projective geometry of inverse-depth keyframes (DROID-SLAM's notation), with analytic Jacobians.

Points are homogeneous and scaled by inverse depth: pixel (u, v) of frame i with inverse depth
``d`` is ``X = [(u - cx) / fx, (v - cy) / fy, 1, d]``, which is the 3D point ``[x, y, z, 1] / z``
up to scale. Poses are world -> camera (see :mod:`.lie`); Jacobians w.r.t. a pose are for the
left perturbation ``G <- Exp(xi) G`` with ``xi = [rho, phi]``.
Intrinsics are ``(fx, fy, cx, cy)`` in pixels; pixel centres have integer coordinates.
"""

from __future__ import annotations

import pypose as pp
import torch

from .errors import OdometryInputError
from .lie import adjoint_matrix, as_se3

MIN_DEPTH = 0.1  # [m] points closer than this to the camera (or behind it) are invalid


def pixel_grid(ht: int, wd: int, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(u, v) pixel coordinates, each (H, W)."""
    v, u = torch.meshgrid(torch.arange(ht, dtype=dtype, device=device), torch.arange(wd, dtype=dtype, device=device),
                          indexing="ij")
    return u, v


def iproj(disps: torch.Tensor, intrinsics: torch.Tensor, jacobian: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Back-project inverse depths (..., H, W) with intrinsics (..., 4) into homogeneous points (..., H, W, 4).

    The Jacobian dX/dd is (..., H, W, 4) (it is ``[0, 0, 0, 1]`` everywhere).
    """
    ht, wd = disps.shape[-2:]
    fx, fy, cx, cy = intrinsics[..., None, None, :].unbind(dim=-1)
    u, v = pixel_grid(ht, wd, disps.dtype, disps.device)
    ones = torch.ones_like(disps)
    X = torch.stack([(u - cx) / fx * ones, (v - cy) / fy * ones, ones, disps], dim=-1)
    if not jacobian:
        return X, None
    J = torch.zeros_like(X)
    J[..., 3] = 1.0
    return X, J


def proj(X: torch.Tensor, intrinsics: torch.Tensor, jacobian: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Project homogeneous points (..., H, W, 4) to pixels (..., H, W, 2); Jacobian dx/dX is (..., H, W, 2, 4)."""
    fx, fy, cx, cy = intrinsics[..., None, None, :].unbind(dim=-1)
    x, y, z = X[..., 0], X[..., 1], X[..., 2]
    iz = 1.0 / torch.where(z.abs() < 1e-12, torch.full_like(z, 1e-12), z)
    coords = torch.stack([fx * x * iz + cx, fy * y * iz + cy], dim=-1)
    if not jacobian:
        return coords, None
    zero = torch.zeros_like(z)
    Jp = torch.stack([
        fx * iz, zero, -fx * x * iz * iz, zero,
        zero, fy * iz, -fy * y * iz * iz, zero,
    ], dim=-1).unflatten(-1, (2, 4))
    return coords, Jp


def actp(Gij: pp.LieTensor, X0: torch.Tensor, jacobian: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Apply poses Gij (..., 7) to homogeneous points X0 (..., H, W, 4).

    The Jacobian d(Exp(xi) Gij X0)/dxi at xi = 0 is (..., H, W, 4, 6): ``[[w I, -[X1]x], [0, 0]]``.
    """
    X1 = Gij[..., None, None, :].Act(X0)
    if not jacobian:
        return X1, None
    x, y, z, w = X1.unbind(dim=-1)
    o = torch.zeros_like(w)
    Ja = torch.stack([
        w, o, o, o, z, -y,
        o, w, o, -z, o, x,
        o, o, w, y, -x, o,
        o, o, o, o, o, o,
    ], dim=-1).unflatten(-1, (4, 6))
    return X1, Ja


def projective_transform(
    poses: torch.Tensor,
    disps: torch.Tensor,
    intrinsics: torch.Tensor,
    ii: torch.Tensor,
    jj: torch.Tensor,
    jacobian: bool = True,
    min_depth: float = MIN_DEPTH,
) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None]:
    """Reproject every pixel of frame ``ii[e]`` into frame ``jj[e]`` for each edge e.

    poses (N, 7) world -> camera, disps (N, H, W) inverse depth [1/m], intrinsics (N, 4) or (4,),
    ii, jj (E,) frame indices. Returns coords (E, H, W, 2), valid (E, H, W) (positive inverse depth
    and depth in frame j above ``min_depth``), and with ``jacobian`` the Jacobians of coords w.r.t.
    pose i ``Ji`` (E, H, W, 2, 6), pose j ``Jj`` (E, H, W, 2, 6) and the inverse depth ``Jz`` (E, H, W, 2).
    """
    if not jacobian:
        coords, valid, _ = _reproject(poses, disps, intrinsics, ii, jj, False, min_depth)
        return coords, valid, None
    coords, valid, Jj, Jz, Ad = reproject_with_jacobians(poses, disps, intrinsics, ii, jj, min_depth)
    return coords, valid, (-Jj @ Ad[:, None, None], Jj, Jz)


def reproject_with_jacobians(
    poses: torch.Tensor,
    disps: torch.Tensor,
    intrinsics: torch.Tensor,
    ii: torch.Tensor,
    jj: torch.Tensor,
    min_depth: float = MIN_DEPTH,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``projective_transform`` for the BA: coords, valid, ``Jj``, ``Jz`` and ``Ad(Gij)`` (E, 6, 6) instead of ``Ji``.

    ``Ji = -Jj Ad(Gij)`` for every pixel, so sums over pixels that involve ``Ji`` follow from those of ``Jj``
    with one 6x6 product per edge instead of a product per pixel.
    """
    coords, valid, (Jj, Jz, Gij) = _reproject(poses, disps, intrinsics, ii, jj, True, min_depth)  # type: ignore[misc]
    return coords, valid, Jj, Jz, adjoint_matrix(Gij)


def _reproject(poses: torch.Tensor, disps: torch.Tensor, intrinsics: torch.Tensor, ii: torch.Tensor, jj: torch.Tensor,
               jacobian: bool, min_depth: float) -> tuple[torch.Tensor, torch.Tensor, tuple | None]:
    num, ht, wd = disps.shape
    poses = as_se3(poses)
    if poses.shape != (num, 7):
        raise OdometryInputError(f"poses: expected ({num}, 7) for {num} disparity maps, got {tuple(poses.shape)}")
    if intrinsics.shape == (4,):
        intrinsics = intrinsics.expand(num, 4)
    if intrinsics.shape != (num, 4):
        raise OdometryInputError(f"intrinsics: expected (4,) or ({num}, 4), got {tuple(intrinsics.shape)}")
    if ii.shape != jj.shape or ii.ndim != 1:
        raise OdometryInputError(f"ii, jj: expected two (E,) index tensors, got {tuple(ii.shape)} and {tuple(jj.shape)}")

    Gij = poses[jj] * poses[ii].Inv()
    X0, Jz0 = iproj(disps[ii], intrinsics[ii], jacobian=jacobian)
    X1, Ja = actp(Gij, X0, jacobian=jacobian)
    x1, Jp = proj(X1, intrinsics[jj], jacobian=jacobian)
    valid = (X0[..., 3] > 0) & (X1[..., 2] > min_depth * X1[..., 3])
    if not jacobian:
        return x1, valid, None

    # Pose j enters as Exp(xi_j) Gij; pose i as Gij Exp(-xi_i) = Exp(-Ad(Gij) xi_i) Gij, so Ji = -Jj Ad(Gij).
    Jj = Jp @ Ja
    # dX1/dd = Gij [0, 0, 0, 1]^T: the translation column (homogeneous scale 1).
    Jz = (Jp @ Gij[:, None, None].Act(Jz0)[..., None])[..., 0]
    return x1, valid, (Jj, Jz, Gij)
