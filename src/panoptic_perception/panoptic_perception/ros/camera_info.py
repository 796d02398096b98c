"""``sensor_msgs/CameraInfo`` <-> ``core.CameraModel``."""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

from ..core.frame import CameraModel
from .errors import ConversionError
from .stamps import make_header

# distortion_model -> number of coefficients in CameraInfo.d
_DISTORTION_SIZES = {"plumb_bob": 5, "rational_polynomial": 8}


def camera_info_to_model(msg: CameraInfo, name: str, T_cam_lidar: np.ndarray) -> CameraModel:
    """The camera model from intrinsics K and distortion D (plumb_bob or rational_polynomial).

    An empty ``distortion_model`` with empty ``d`` means no distortion. Binning and a region of
    interest change the effective intrinsics and are rejected rather than silently ignored.
    """
    K = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
    if not np.isfinite(K).all() or K[0, 0] <= 0 or K[1, 1] <= 0 or K[2, 2] != 1.0:
        raise ConversionError(f"CameraInfo.k of camera {name!r} is not a valid intrinsic matrix: {K.ravel().tolist()}")
    D = np.asarray(msg.d, dtype=np.float64)
    model = msg.distortion_model
    if model == "" and D.size == 0:
        D = np.zeros(5)
    elif model not in _DISTORTION_SIZES:
        raise ConversionError(f"CameraInfo.distortion_model {model!r} of camera {name!r} is not supported")
    elif D.size != _DISTORTION_SIZES[model]:
        raise ConversionError(
            f"CameraInfo.d of camera {name!r}: {model} needs {_DISTORTION_SIZES[model]} coefficients, got {D.size}"
        )
    if not np.isfinite(D).all():
        raise ConversionError(f"CameraInfo.d of camera {name!r} has non-finite coefficients")
    if msg.binning_x > 1 or msg.binning_y > 1:
        raise ConversionError(f"CameraInfo of camera {name!r}: binning {msg.binning_x}x{msg.binning_y} is not supported")
    roi = msg.roi
    if roi.x_offset or roi.y_offset or (roi.width and roi.width != msg.width) or (roi.height and roi.height != msg.height):
        raise ConversionError(f"CameraInfo.roi of camera {name!r} is not supported (only the full image)")
    try:
        return CameraModel(name=name, width=int(msg.width), height=int(msg.height), K=K, T_cam_lidar=T_cam_lidar, D=D)
    except ValueError as err:
        raise ConversionError(f"CameraInfo of camera {name!r}: {err}") from err


def camera_model_to_info(
    camera: CameraModel, header: Header | None = None, frame_id: str = "", stamp_ns: int | None = None
) -> CameraInfo:
    """CameraInfo with K, D, R = I and P = [K | 0] (a monocular camera)."""
    model = {size: name for name, size in _DISTORTION_SIZES.items()}.get(camera.D.size)
    if model is None:
        raise ConversionError(f"camera {camera.name!r}: {camera.D.size} distortion coefficients match no distortion_model")
    P = np.zeros((3, 4))
    P[:, :3] = camera.K
    return CameraInfo(
        header=make_header(header, frame_id, stamp_ns),
        height=camera.height,
        width=camera.width,
        distortion_model=model,
        d=camera.D.astype(np.float64).tolist(),
        k=camera.K.ravel(),
        r=np.eye(3).ravel(),
        p=P.ravel(),
    )
