"""Constant-velocity Kalman filter on a 3D centroid, state ``x = (x, y, z, vx, vy, vz)``.

All functions broadcast over leading batch dimensions: ``mean`` (..., 6), ``cov`` (..., 6, 6), so one
call predicts or updates every track of a frame. Process noise is the continuous white-noise
acceleration model with spectral density ``q`` [m^2/s^3]; the measurement is the centroid with
isotropic standard deviation ``sigma`` [m]. Box size and yaw are carried by the track, not filtered.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.stats import chi2

from .errors import TrackerConfigError

H = np.hstack([np.eye(3), np.zeros((3, 3))])  # measurement picks the position


@lru_cache(maxsize=16)
def chi2_gate(dof: int = 3, probability: float = 0.99) -> float:
    """Squared-Mahalanobis gate: the ``probability`` quantile of chi-square with ``dof`` degrees of freedom."""
    if not 0.0 < probability < 1.0:
        raise TrackerConfigError(f"gate probability must be in (0, 1), got {probability}")
    return float(chi2.ppf(probability, dof))


class ConstantVelocityKalman:
    """Predict/update/gating for constant-velocity centroid tracks."""

    def __init__(self, process_noise: float = 1.0, measurement_noise: float = 0.1,
                 initial_velocity_std: float = 5.0) -> None:
        if process_noise <= 0 or measurement_noise <= 0 or initial_velocity_std <= 0:
            raise TrackerConfigError("Kalman noise parameters must be positive, got "
                                     f"q={process_noise}, sigma={measurement_noise}, v0={initial_velocity_std}")
        self.q = float(process_noise)
        self.sigma = float(measurement_noise)
        self.v0 = float(initial_velocity_std)
        self.R = np.eye(3) * self.sigma**2
        self._step: tuple[float, np.ndarray, np.ndarray] | None = None  # (dt, F, Q) of the last predict: sweeps repeat dt

    def initiate(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """State of a new track at measured centroid(s) ``z`` (..., 3), velocity 0 with wide uncertainty."""
        z = np.asarray(z, dtype=np.float64)
        mean = np.concatenate([z, np.zeros_like(z)], axis=-1)
        cov = np.zeros(z.shape[:-1] + (6, 6))
        cov[..., :3, :3] = self.R
        cov[..., 3:, 3:] = np.eye(3) * self.v0**2
        return mean, cov

    def transition(self, dt: float) -> tuple[np.ndarray, np.ndarray]:
        """(F, Q) for a step of ``dt`` seconds."""
        F = np.eye(6)
        F[:3, 3:] = np.eye(3) * dt
        I3 = np.eye(3)
        Q = self.q * np.block([[I3 * dt**3 / 3, I3 * dt**2 / 2], [I3 * dt**2 / 2, I3 * dt]])
        return F, Q

    def predict(self, mean: np.ndarray, cov: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
        if self._step is None or self._step[0] != dt:
            self._step = (dt, *self.transition(dt))
        _, F, Q = self._step
        return mean @ F.T, F @ cov @ F.T + Q

    def project(self, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predicted measurement and its covariance ``S = H P H^T + R``."""
        return mean[..., :3], cov[..., :3, :3] + self.R

    def update(self, mean: np.ndarray, cov: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z_pred, S = self.project(mean, cov)
        PHt = cov[..., :, :3]
        K = np.swapaxes(np.linalg.solve(S, np.swapaxes(PHt, -1, -2)), -1, -2)  # P H^T S^-1 (S symmetric)
        innovation = np.asarray(z, dtype=np.float64) - z_pred
        new_mean = mean + (K @ innovation[..., None])[..., 0]
        # Joseph form keeps the covariance symmetric positive definite.
        IKH = np.eye(6) - K @ H
        new_cov = IKH @ cov @ np.swapaxes(IKH, -1, -2) + K @ self.R @ np.swapaxes(K, -1, -2)
        return new_mean, new_cov

    def gating_distance(self, mean: np.ndarray, cov: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distance of measurements ``z`` (M, 3) to each track (T, 6): returns (T, M)."""
        z_pred, S = self.project(np.atleast_2d(mean), cov.reshape(-1, 6, 6))
        diff = np.asarray(z, dtype=np.float64)[None, :, :] - z_pred[:, None, :]  # (T, M, 3)
        L = np.linalg.cholesky(S)  # (T, 3, 3)
        y = np.linalg.solve(L[:, None, :, :], diff[..., None])[..., 0]
        return np.sum(y * y, axis=-1)
