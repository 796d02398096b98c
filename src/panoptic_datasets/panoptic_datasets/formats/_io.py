"""Small file helpers shared by the format modules: binary arrays, PNG/JPEG, NPZ, JSON, poses."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from .errors import ReaderError, WriterError

# Fixed zip entry time: np.savez stamps entries with the wall clock, which breaks byte-identical output.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def read_float32_bin(path: Path, columns: int) -> np.ndarray:
    """Read a flat float32 file as an (N, columns) array; the size must be a multiple of a row."""
    if not path.is_file():
        raise ReaderError(f"{path}: file not found")
    raw = path.read_bytes()
    row = 4 * columns
    if len(raw) % row:
        raise ReaderError(
            f"{path}: size {len(raw)} bytes is not a multiple of {row} ({columns} float32 per point); truncated file?"
        )
    return np.frombuffer(raw, dtype="<f4").reshape(-1, columns).copy()


def read_uint32_bin(path: Path, count: int | None = None) -> np.ndarray:
    if not path.is_file():
        raise ReaderError(f"{path}: file not found")
    raw = path.read_bytes()
    if len(raw) % 4:
        raise ReaderError(f"{path}: size {len(raw)} bytes is not a multiple of 4 (uint32 labels)")
    values = np.frombuffer(raw, dtype="<u4").copy()
    if count is not None and len(values) != count:
        raise ReaderError(f"{path}: {len(values)} labels for {count} points")
    return values


def write_png(path: Path, image: np.ndarray) -> None:
    """Write uint8 RGB (H, W, 3) or uint8/uint16 single-channel (H, W) as PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    if not cv2.imwrite(str(path), np.ascontiguousarray(data)):
        raise WriterError(f"{path}: could not write image")


def write_jpeg(path: Path, rgb: np.ndarray, quality: int = 95) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), bgr, [cv2.IMWRITE_JPEG_QUALITY, quality]):
        raise WriterError(f"{path}: could not write image")


def read_image(path: Path, *, color: bool) -> np.ndarray:
    """Read an RGB uint8 image (color=True) or a single-channel image at its stored bit depth."""
    if not path.is_file():
        raise ReaderError(f"{path}: file not found")
    flag = cv2.IMREAD_COLOR if color else cv2.IMREAD_UNCHANGED
    image = cv2.imread(str(path), flag)
    if image is None:
        raise ReaderError(f"{path}: not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if color else image


def write_npz(path: Path, **arrays: np.ndarray) -> None:
    """Write an uncompressed-header, deflated NPZ with fixed entry times (byte-reproducible)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, array in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())


def read_npz(path: Path, key: str) -> np.ndarray:
    if not path.is_file():
        raise ReaderError(f"{path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            return data[key]
    except (KeyError, ValueError, OSError, zipfile.BadZipFile) as err:
        raise ReaderError(f"{path}: cannot read array {key!r}: {err}") from err


def write_json(path: Path, doc: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


def read_json(path: Path) -> Any:
    if not path.is_file():
        raise ReaderError(f"{path}: file not found")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ReaderError(f"{path}: malformed JSON: {err}") from err


def objects_to_json(objects: list) -> list[dict[str, Any]]:
    return [
        {
            "instance_id": int(o.instance_id),
            "class_id": int(o.class_id),
            "center": [float(v) for v in o.center],
            "size": [float(v) for v in o.size],
            "yaw": float(o.yaw),
            "velocity": [float(v) for v in o.velocity],
            "moving": bool(o.moving),
        }
        for o in objects
    ]


def objects_from_json(doc: Any, source: Path) -> list:
    from ..frame import ObjectState

    try:
        return [
            ObjectState(
                int(o["instance_id"]),
                int(o["class_id"]),
                np.asarray(o["center"], dtype=np.float64),
                np.asarray(o["size"], dtype=np.float64),
                float(o["yaw"]),
                np.asarray(o["velocity"], dtype=np.float64),
                bool(o["moving"]),
            )
            for o in doc
        ]
    except (KeyError, TypeError, ValueError) as err:
        raise ReaderError(f"{source}: malformed object list: {err!r}") from err


def invert(T: np.ndarray) -> np.ndarray:
    """Inverse of a rigid 4x4 transform."""
    out = np.eye(4)
    out[:3, :3] = T[:3, :3].T
    out[:3, 3] = -T[:3, :3].T @ T[:3, 3]
    return out


def quat_wxyz(T: np.ndarray) -> list[float]:
    x, y, z, w = Rotation.from_matrix(T[:3, :3]).as_quat()
    return [float(w), float(x), float(y), float(z)]


def transform_from(translation: Any, quat_wxyz_: Any) -> np.ndarray:
    w, x, y, z = (float(v) for v in quat_wxyz_)
    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat([x, y, z, w]).as_matrix()
    T[:3, 3] = np.asarray(translation, dtype=np.float64)
    return T
