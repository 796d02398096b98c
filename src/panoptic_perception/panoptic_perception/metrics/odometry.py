"""Odometry metrics: ATE after SE(3)/Sim(3) Umeyama alignment, KITTI-protocol and frame-to-frame RPE.

Poses are (N, 4, 4) homogeneous world-from-sensor matrices (or (N, 3, 4) KITTI rows reshaped);
estimated and reference poses correspond index by index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import MetricsInputError

KITTI_LENGTHS = (100.0, 200.0, 300.0, 400.0, 500.0, 600.0, 700.0, 800.0)
KITTI_STEP = 10


def as_poses(poses: np.ndarray, name: str = "poses") -> np.ndarray:
    """(N, 4, 4) float64 from (N, 4, 4), (N, 3, 4) or (N, 12) KITTI rows."""
    arr = np.asarray(poses, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[1] == 12:
        arr = arr.reshape(-1, 3, 4)
    if arr.ndim != 3 or arr.shape[1:] not in ((3, 4), (4, 4)):
        raise MetricsInputError(f"{name}: expected (N, 4, 4), (N, 3, 4) or (N, 12) poses, got {arr.shape}")
    out = np.tile(np.eye(4), (arr.shape[0], 1, 1))
    out[:, :3, :] = arr[:, :3, :]
    if not np.all(np.isfinite(out)):
        raise MetricsInputError(f"{name}: poses contain NaN or inf")
    return out


def _pair(est: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    est, ref = as_poses(est, "estimate"), as_poses(ref, "reference")
    if est.shape[0] != ref.shape[0]:
        raise MetricsInputError(f"estimate has {est.shape[0]} poses, reference {ref.shape[0]}")
    return est, ref


def umeyama(src: np.ndarray, dst: np.ndarray, with_scale: bool) -> tuple[np.ndarray, np.ndarray, float]:
    """(R, t, s) minimising sum ||dst - (s R src + t)||^2 (Umeyama 1991); src, dst (N, 3)."""
    if src.shape[0] < 3:
        raise MetricsInputError(f"alignment needs at least 3 positions, got {src.shape[0]}")
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    xs, xd = src - mu_s, dst - mu_d
    cov = xd.T @ xs / src.shape[0]  # Eq. 38
    u, d, vt = np.linalg.svd(cov)
    sign = np.eye(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:  # Eq. 39: reflection guard
        sign[2, 2] = -1.0
    rot = u @ sign @ vt
    var_s = float((xs * xs).sum() / src.shape[0])
    scale = float(np.trace(np.diag(d) @ sign) / var_s) if with_scale else 1.0  # Eq. 42
    return rot, mu_d - scale * rot @ mu_s, scale


@dataclass
class AteResult:
    alignment: str
    rmse: float
    mean: float
    median: float
    std: float
    max: float
    scale: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def ate(estimate: np.ndarray, reference: np.ndarray, alignment: str = "se3") -> AteResult:
    """Absolute trajectory error (m) of positions after ``alignment`` in {"se3", "sim3", "none"}."""
    if alignment not in ("se3", "sim3", "none"):
        raise MetricsInputError(f"alignment must be 'se3', 'sim3' or 'none', got {alignment!r}")
    est, ref = _pair(estimate, reference)
    p_est, p_ref = est[:, :3, 3], ref[:, :3, 3]
    rot, trans, scale = np.eye(3), np.zeros(3), 1.0
    if alignment != "none":
        rot, trans, scale = umeyama(p_est, p_ref, with_scale=alignment == "sim3")
    err = np.linalg.norm(p_ref - (scale * p_est @ rot.T + trans), axis=1)
    return AteResult(alignment, float(np.sqrt(np.mean(err**2))), float(err.mean()), float(np.median(err)),
                     float(err.std()), float(err.max()), scale)


def _rotation_angle(rot: np.ndarray) -> np.ndarray:
    """Angle (rad) of rotation matrices (..., 3, 3)."""
    cos = 0.5 * (np.trace(rot, axis1=-2, axis2=-1) - 1.0)
    return np.arccos(np.clip(cos, -1.0, 1.0))


def _relative_errors(est: np.ndarray, ref: np.ndarray, i: np.ndarray, j: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Translation norm (m) and angle (rad) of inv(est_i^-1 est_j) (ref_i^-1 ref_j) for index pairs."""
    d_est = np.linalg.inv(est[i]) @ est[j]
    d_ref = np.linalg.inv(ref[i]) @ ref[j]
    err = np.linalg.inv(d_est) @ d_ref
    return np.linalg.norm(err[:, :3, 3], axis=1), _rotation_angle(err[:, :3, :3])


@dataclass
class KittiRpeResult:
    translation_pct: float  # mean over segments of t_err / length, in %
    rotation_deg_per_100m: float  # mean over segments of r_err / length, deg per 100 m
    segments: int
    per_length: dict[str, dict[str, float]]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def rpe_kitti(estimate: np.ndarray, reference: np.ndarray, lengths: Sequence[float] = KITTI_LENGTHS,
              step: int = KITTI_STEP) -> KittiRpeResult:
    """KITTI odometry devkit protocol: every ``step``-th first frame, each segment length (m of gt path);
    the segment ends at the first frame whose travelled distance exceeds the start's by the length."""
    est, ref = _pair(estimate, reference)
    steps = np.linalg.norm(np.diff(ref[:, :3, 3], axis=0), axis=1)
    dist = np.concatenate([[0.0], np.cumsum(steps)])
    first_all = np.arange(0, est.shape[0], step)
    t_rel, r_rel, seg_len = [], [], []
    per_length: dict[str, dict[str, float]] = {}
    for length in lengths:
        last = np.searchsorted(dist, dist[first_all] + length, side="right")  # first index with dist > target
        ok = last < dist.shape[0]
        first, last = first_all[ok], last[ok]
        t_err, r_err = _relative_errors(est, ref, first, last)
        t_rel.append(t_err / length)
        r_rel.append(r_err / length)
        seg_len.append(np.full(first.shape[0], length))
        if first.shape[0]:
            per_length[f"{length:g}"] = {"translation_pct": float(100.0 * np.mean(t_err / length)),
                                         "rotation_deg_per_100m": float(np.degrees(np.mean(r_err / length)) * 100.0),
                                         "segments": int(first.shape[0])}
    t_all, r_all = np.concatenate(t_rel), np.concatenate(r_rel)
    if t_all.shape[0] == 0:
        raise MetricsInputError(f"trajectory ({dist[-1]:.1f} m) is shorter than the shortest segment "
                                f"({min(lengths):g} m)")
    return KittiRpeResult(float(100.0 * t_all.mean()), float(np.degrees(r_all.mean()) * 100.0),
                          int(t_all.shape[0]), per_length)


@dataclass
class FrameRpeResult:
    translation_rmse_m: float
    translation_mean_m: float
    rotation_rmse_deg: float
    rotation_mean_deg: float
    pairs: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def rpe_frame_to_frame(estimate: np.ndarray, reference: np.ndarray, delta: int = 1) -> FrameRpeResult:
    """Relative pose error between frames i and i + delta (translation m, rotation deg)."""
    est, ref = _pair(estimate, reference)
    if delta < 1 or est.shape[0] <= delta:
        raise MetricsInputError(f"need more than delta={delta} poses, got {est.shape[0]}")
    i = np.arange(est.shape[0] - delta)
    t_err, r_err = _relative_errors(est, ref, i, i + delta)
    r_deg = np.degrees(r_err)
    return FrameRpeResult(float(np.sqrt(np.mean(t_err**2))), float(t_err.mean()), float(np.sqrt(np.mean(r_deg**2))),
                          float(r_deg.mean()), int(i.shape[0]))
