"""Map export: binary PLY and PCD v0.7 point clouds of voxel centres, and the JSON instance list.

Both clouds carry x, y, z (float32, odom frame [m]), class_id (uint16), instance_id (uint32),
label (uint32, class | instance << 16) and r, g, b (uint8: the class colour for stuff, a per-instance
colour for thing voxels with an instance). Records are packed little endian, 22 bytes each.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any, BinaryIO

import numpy as np

from .storage import atomic_write

POINT_DTYPE = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("class_id", "<u2"), ("instance_id", "<u4"),
                        ("label", "<u4"), ("r", "u1"), ("g", "u1"), ("b", "u1")])
_PLY_TYPES = {"<f4": "float", "<u2": "ushort", "<u4": "uint", "|u1": "uchar"}
_PCD_TYPES = {"<f4": ("4", "F"), "<u2": ("2", "U"), "<u4": ("4", "U"), "|u1": ("1", "U")}


def instance_colors(instance_id: np.ndarray) -> np.ndarray:
    """Distinct, stable (N, 3) uint8 colours per instance id (golden-ratio hue walk)."""
    h = (instance_id.astype(np.float64) * 0.618033988749895) % 1.0
    k = (np.array([5.0, 3.0, 1.0]) + h[:, None] * 6.0) % 6.0
    rgb = 1.0 - 0.75 * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)
    return (rgb * 255).astype(np.uint8)


def make_records(centres: np.ndarray, class_id: np.ndarray, instance_id: np.ndarray,
                 class_colors: np.ndarray) -> np.ndarray:
    rec = np.zeros(centres.shape[0], POINT_DTYPE)
    for i, c in enumerate("xyz"):
        rec[c] = centres[:, i]
    rec["class_id"] = class_id
    rec["instance_id"] = instance_id
    rec["label"] = class_id.astype(np.uint32) | ((instance_id.astype(np.uint32) & 0xFFFF) << 16)
    rgb = class_colors[class_id].copy()
    has = instance_id > 0
    rgb[has] = instance_colors(instance_id[has])
    rec["r"], rec["g"], rec["b"] = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    return rec


def ply_header(n: int) -> bytes:
    props = [f"property {_PLY_TYPES[POINT_DTYPE[name].str]} {name}" for name in POINT_DTYPE.names]
    lines = ["ply", "format binary_little_endian 1.0", "comment panoptic map voxel centres (odom frame)",
             f"element vertex {n}", *props, "end_header"]
    return ("\n".join(lines) + "\n").encode("ascii")


def pcd_header(n: int) -> bytes:
    sizes, types = zip(*(_PCD_TYPES[POINT_DTYPE[name].str] for name in POINT_DTYPE.names), strict=True)
    lines = ["# .PCD v0.7 - panoptic map voxel centres (odom frame)", "VERSION 0.7",
             "FIELDS " + " ".join(POINT_DTYPE.names), "SIZE " + " ".join(sizes), "TYPE " + " ".join(types),
             "COUNT " + " ".join("1" for _ in POINT_DTYPE.names), f"WIDTH {n}", "HEIGHT 1",
             "VIEWPOINT 0 0 0 1 0 0 0", f"POINTS {n}", "DATA binary"]
    return ("\n".join(lines) + "\n").encode("ascii")


def write_ply(path: str | os.PathLike[str], records: np.ndarray) -> None:
    def write(f: BinaryIO) -> None:
        f.write(ply_header(records.shape[0]))
        f.write(records.astype(POINT_DTYPE, copy=False).tobytes())
    atomic_write(path, write)


def write_pcd(path: str | os.PathLike[str], records: np.ndarray) -> None:
    def write(f: BinaryIO) -> None:
        f.write(pcd_header(records.shape[0]))
        f.write(records.astype(POINT_DTYPE, copy=False).tobytes())
    atomic_write(path, write)


def write_json(path: str | os.PathLike[str], doc: Any) -> None:
    atomic_write(path, lambda f: f.write(json.dumps(doc, indent=1, sort_keys=True).encode("utf-8")))


def write_instances(path: str | os.PathLike[str], instances: Sequence[dict[str, Any]]) -> None:
    write_json(path, {"frame_id": "odom", "instances": list(instances)})
