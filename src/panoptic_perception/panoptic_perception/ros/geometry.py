"""geometry_msgs transforms and poses <-> 4x4 homogeneous matrices (float64).

Quaternions are (x, y, z, w) as in geometry_msgs, Hamilton convention, active rotation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from geometry_msgs.msg import Point, Pose, Quaternion, Transform, TransformStamped, Vector3

from .errors import ConversionError
from .stamps import make_header

RIGID_TOLERANCE = 1e-6


def quaternion_to_rotation(x: float, y: float, z: float, w: float) -> np.ndarray:
    """3x3 rotation of a quaternion, normalised first; a zero or non-finite quaternion is an error."""
    q = np.array([x, y, z, w], dtype=np.float64)
    norm = np.linalg.norm(q)
    if not np.isfinite(norm) or norm < 1e-12:
        raise ConversionError(f"quaternion (x, y, z, w) = {q.tolist()} has no rotation (zero or non-finite norm)")
    x, y, z, w = q / norm
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def rotation_to_quaternion(R: np.ndarray) -> np.ndarray:
    """(x, y, z, w) with w >= 0 of a rotation matrix (Shepperd: pivot on the largest diagonal term)."""
    trace = R[0, 0] + R[1, 1] + R[2, 2]
    pivots = [trace, R[0, 0], R[1, 1], R[2, 2]]
    k = int(np.argmax(pivots))
    if k == 0:
        s = 2.0 * np.sqrt(1.0 + trace)
        q = [(R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s, 0.25 * s]
    elif k == 1:
        s = 2.0 * np.sqrt(1.0 + R[0, 0] - R[1, 1] - R[2, 2])
        q = [0.25 * s, (R[0, 1] + R[1, 0]) / s, (R[0, 2] + R[2, 0]) / s, (R[2, 1] - R[1, 2]) / s]
    elif k == 2:
        s = 2.0 * np.sqrt(1.0 + R[1, 1] - R[0, 0] - R[2, 2])
        q = [(R[0, 1] + R[1, 0]) / s, 0.25 * s, (R[1, 2] + R[2, 1]) / s, (R[0, 2] - R[2, 0]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + R[2, 2] - R[0, 0] - R[1, 1])
        q = [(R[0, 2] + R[2, 0]) / s, (R[1, 2] + R[2, 1]) / s, 0.25 * s, (R[1, 0] - R[0, 1]) / s]
    q = np.asarray(q)
    q /= np.linalg.norm(q)
    return -q if q[3] < 0 else q


def transform_to_matrix(msg: Transform | TransformStamped | Pose | Any) -> np.ndarray:
    """4x4 float64 ``T`` of a Transform, TransformStamped, Pose or a message wrapping one (PoseStamped, Odometry)."""
    while hasattr(msg, "transform") or hasattr(msg, "pose"):
        msg = msg.transform if hasattr(msg, "transform") else msg.pose
    if hasattr(msg, "rotation"):
        q, t = msg.rotation, msg.translation
    elif hasattr(msg, "orientation"):
        q, t = msg.orientation, msg.position
    else:
        raise ConversionError(f"{type(msg).__name__} is not a Transform, TransformStamped or Pose")
    T = np.eye(4)
    T[:3, :3] = quaternion_to_rotation(q.x, q.y, q.z, q.w)
    T[:3, 3] = (t.x, t.y, t.z)
    if not np.isfinite(T).all():
        raise ConversionError(f"translation ({t.x}, {t.y}, {t.z}) is not finite")
    return T


def _check_rigid(T: Any) -> np.ndarray:
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4):
        raise ConversionError(f"transform must be 4x4, got shape {T.shape}")
    if not np.isfinite(T).all():
        raise ConversionError("transform has non-finite entries")
    if not np.array_equal(T[3], [0.0, 0.0, 0.0, 1.0]):
        raise ConversionError(f"transform bottom row must be [0, 0, 0, 1], got {T[3].tolist()}")
    R = T[:3, :3]
    error = np.abs(R.T @ R - np.eye(3)).max()
    if error > RIGID_TOLERANCE or np.linalg.det(R) < 0:
        raise ConversionError(
            f"transform rotation is not a proper rotation (|R^T R - I| = {error:.3g}, det = {np.linalg.det(R):.6g})"
        )
    return T


def matrix_to_transform(T: np.ndarray, parent_frame: str, child_frame: str, stamp_ns: int = 0) -> TransformStamped:
    """``TransformStamped`` (header.frame_id = parent, child_frame_id = child) of a rigid 4x4 ``T_parent_child``."""
    T = _check_rigid(T)
    x, y, z, w = rotation_to_quaternion(T[:3, :3])
    return TransformStamped(
        header=make_header(frame_id=parent_frame, stamp_ns=stamp_ns),
        child_frame_id=child_frame,
        transform=Transform(
            translation=Vector3(x=float(T[0, 3]), y=float(T[1, 3]), z=float(T[2, 3])),
            rotation=Quaternion(x=float(x), y=float(y), z=float(z), w=float(w)),
        ),
    )


def matrix_to_pose(T: np.ndarray) -> Pose:
    """``Pose`` of a rigid 4x4 ``T``."""
    T = _check_rigid(T)
    x, y, z, w = rotation_to_quaternion(T[:3, :3])
    return Pose(
        position=Point(x=float(T[0, 3]), y=float(T[1, 3]), z=float(T[2, 3])),
        orientation=Quaternion(x=float(x), y=float(y), z=float(z), w=float(w)),
    )
