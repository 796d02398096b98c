"""SE(3) helpers on top of pypose, with the conventions the rest of the odometry core assumes.

pypose conventions (checked by the tests): an SE(3) element is stored as ``[tx, ty, tz, qx, qy, qz, qw]``
(quaternion xyzw, scalar last); a tangent vector is ``[rho, phi]`` (translation part first, rotation
part second). Perturbations are left-multiplicative everywhere: ``T <- Exp(xi) * T``.

Keyframe poses ``G_i`` map world points into camera i (world -> camera), as in DROID-SLAM; the
relative pose ``Gij = G_j * G_i^-1`` maps points from camera i into camera j.
"""

from __future__ import annotations

import pypose as pp
import torch

from .errors import OdometryInputError


def as_se3(poses: torch.Tensor, name: str = "poses") -> pp.LieTensor:
    """Wrap a (..., 7) tensor ``[t, q_xyzw]`` as a pypose SE(3) LieTensor (no copy)."""
    if isinstance(poses, pp.LieTensor):
        if poses.ltype != pp.SE3_type:
            raise OdometryInputError(f"{name}: expected an SE3 LieTensor, got {poses.ltype}")
        return poses
    if poses.shape[-1] != 7:
        raise OdometryInputError(f"{name}: expected (..., 7) [tx, ty, tz, qx, qy, qz, qw], got {tuple(poses.shape)}")
    return pp.SE3(poses)


def retract(poses: pp.LieTensor, xi: torch.Tensor) -> pp.LieTensor:
    """Left update ``Exp(xi) * T`` with ``xi = [rho, phi]`` of shape (..., 6)."""
    return pp.se3(xi).Exp() * poses


def adjoint_matrix(G: pp.LieTensor) -> torch.Tensor:
    """(..., 6, 6) matrix Ad(G) with ``Ad(G) xi = Log(G Exp(xi) G^-1)``.

    Built from pypose's ``Adj`` on the basis vectors. pypose's ``AdjT`` is NOT the transpose (it is the
    adjoint of the inverse), so the matrix is formed explicitly.
    """
    eye = torch.eye(6, dtype=G.dtype, device=G.device)
    basis = pp.se3(eye.expand(*G.shape[:-1], 6, 6))
    columns = G[..., None, :].Adj(basis).tensor()  # (..., 6 basis, 6)
    return columns.transpose(-1, -2)
