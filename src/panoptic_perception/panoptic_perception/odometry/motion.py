"""SE(3) on 4x4 numpy matrices for the stage's bookkeeping: constant-velocity prediction and covariance transport.

Velocities are body-frame twists ``[v, w]`` per second: ``T(t) = T(t_k) Exp((t - t_k) xi)``.
"""

from __future__ import annotations

import numpy as np
import pypose as pp
import torch

from .lie import adjoint_matrix


def exp(xi: np.ndarray) -> np.ndarray:
    return pp.se3(torch.as_tensor(np.asarray(xi, dtype=np.float64))).Exp().matrix().numpy()


def log(T: np.ndarray) -> np.ndarray:
    return pp.mat2SE3(torch.as_tensor(np.asarray(T, dtype=np.float64)), check=False).Log().tensor().numpy()


def adjoint(T: np.ndarray) -> np.ndarray:
    """(6, 6) Ad(T) for xi = [rho, phi]: ``T Exp(xi) T^-1 = Exp(Ad(T) xi)``."""
    return adjoint_matrix(pp.mat2SE3(torch.as_tensor(np.asarray(T, dtype=np.float64)), check=False)).numpy()


def body_velocity(T_prev: np.ndarray, t_prev: float, T_cur: np.ndarray, t_cur: float) -> np.ndarray:
    """Twist per second that takes T_prev to T_cur; zero when the stamps coincide."""
    dt = t_cur - t_prev
    if dt <= 0:
        return np.zeros(6)
    return log(np.linalg.inv(T_prev) @ T_cur) / dt


def advance(T: np.ndarray, velocity: np.ndarray, dt: float) -> np.ndarray:
    return T @ exp(velocity * dt)


def to_vector(T: np.ndarray) -> np.ndarray:
    """4x4 -> pypose's (7,) [t, q_xyzw]."""
    return pp.mat2SE3(torch.as_tensor(np.asarray(T, dtype=np.float64)), check=False).tensor().numpy()


def from_vector(pose: np.ndarray) -> np.ndarray:
    """pypose's (7,) [t, q_xyzw] -> 4x4."""
    return pp.SE3(torch.as_tensor(np.asarray(pose, dtype=np.float64))).matrix().numpy()


def ros_pose_covariance(T: np.ndarray, cov_body: np.ndarray) -> np.ndarray:
    """Covariance of a body perturbation ``T Exp(xi)`` as ROS pose covariance in T's parent frame.

    ``T Exp([rho, phi]) ~ (R Exp(phi), t + R rho)``: the position error is ``R rho`` and the fixed-axis
    rotation error ``R phi``.
    """
    J = np.zeros((6, 6))
    J[:3, :3] = J[3:, 3:] = T[:3, :3]
    cov = J @ cov_body @ J.T
    return 0.5 * (cov + cov.T)
