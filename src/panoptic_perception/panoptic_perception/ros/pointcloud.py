"""``sensor_msgs/PointCloud2`` <-> numpy structured arrays, vectorised (no Python loop over points).

Reading builds a numpy dtype from the ``PointField`` list (names, types, offsets, ``itemsize =
point_step``) and views the message buffer through it, so any layout a driver publishes (padding
inside ``point_step``, padded rows, organised clouds, big-endian data) reads without unpacking
points one by one. Writing packs a structured array's bytes exactly as its dtype lays them out,
which is also what ``sensor_msgs_py.point_cloud2.create_cloud`` does; padding bytes are zeroed so
the output never leaks stale memory.

Messages are duck-typed (anything with the PointCloud2 attribute names and a bytes-like ``data``
reads), so clouds deserialised by other libraries, e.g. rosbags, convert too.
"""

from __future__ import annotations

import array
import sys
from typing import Any

import numpy as np
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header

from ..core.frame import PanopticCloud
from .errors import ConversionError
from .stamps import make_header

MAX_POINTS = 50_000_000  # more than any sensor publishes in one message; guards against corrupt headers

_FIELD_DTYPES: dict[int, np.dtype] = {
    PointField.INT8: np.dtype(np.int8),
    PointField.UINT8: np.dtype(np.uint8),
    PointField.INT16: np.dtype(np.int16),
    PointField.UINT16: np.dtype(np.uint16),
    PointField.INT32: np.dtype(np.int32),
    PointField.UINT32: np.dtype(np.uint32),
    PointField.FLOAT32: np.dtype(np.float32),
    PointField.FLOAT64: np.dtype(np.float64),
}
_NUMPY_TO_FIELD: dict[tuple[str, int], int] = {(dt.kind, dt.itemsize): code for code, dt in _FIELD_DTYPES.items()}
_NATIVE_BIGENDIAN = sys.byteorder == "big"
_CHECKED: dict[str, bool] = {"check_fields": True} if "_check_fields" in PointCloud2.__slots__ else {}

# The perception/panoptic_points layout (DESIGN.md). Every field sits at an offset that is a
# multiple of its size; bytes 18-19 are padding so the u32 fields stay 4-byte aligned. 40 bytes/point.
PANOPTIC_POINT_DTYPE = np.dtype(
    {
        "names": ["x", "y", "z", "intensity", "class_id", "instance_id", "track_id", "label", "score", "uncertainty"],
        "formats": ["<f4", "<f4", "<f4", "<f4", "<u2", "<u4", "<u4", "<u4", "<f4", "<f4"],
        "offsets": [0, 4, 8, 12, 16, 20, 24, 28, 32, 36],
        "itemsize": 40,
    }
).newbyteorder("=")

_INTENSITY_NAMES = ("intensity", "i")
_TIME_NAMES = ("t", "time", "timestamp")
_ABSOLUTE_TIME_S = 1e6  # a float time field above this [s] is an absolute stamp (e.g. Hesai), not a sweep offset


def fields_to_dtype(fields: Any, point_step: int, is_bigendian: bool = False) -> np.dtype:
    """The structured dtype that the ``PointField`` list describes (``itemsize = point_step``)."""
    if len(fields) == 0:
        raise ConversionError("PointCloud2.fields is empty")
    order = ">" if is_bigendian else "<"
    names: list[str] = []
    formats: list[Any] = []
    offsets: list[int] = []
    for i, field in enumerate(fields):
        name = field.name or f"unnamed_field_{i}"
        if name in names:
            raise ConversionError(f"PointCloud2.fields: duplicate field name {name!r}")
        base = _FIELD_DTYPES.get(int(field.datatype))
        if base is None:
            raise ConversionError(f"PointCloud2.fields[{i}] ({name!r}): unknown datatype {field.datatype}")
        count = int(field.count)
        if count < 1:
            raise ConversionError(f"PointCloud2.fields[{i}] ({name!r}): count must be >= 1, got {count}")
        end = int(field.offset) + base.itemsize * count
        if end > point_step:
            raise ConversionError(f"PointCloud2.fields[{i}] ({name!r}) ends at byte {end}, beyond point_step {point_step}")
        base = base.newbyteorder(order)
        names.append(name)
        formats.append(base if count == 1 else (base, (count,)))
        offsets.append(int(field.offset))
    try:
        return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": point_step})
    except (ValueError, TypeError) as err:
        raise ConversionError(f"PointCloud2.fields do not form a valid layout: {err}") from err


def dtype_to_fields(dtype: np.dtype) -> list[PointField]:
    """``PointField``s for a structured dtype, in dtype order, at the dtype's own offsets."""
    if dtype.names is None:
        raise ConversionError(f"points must be a numpy structured array, got dtype {dtype}")
    fields = []
    for name in dtype.names:
        field_dtype, offset = dtype.fields[name][:2]
        if field_dtype.subdtype is not None:
            base, shape = field_dtype.subdtype
            count = int(np.prod(shape))
        else:
            base, count = field_dtype, 1
        code = _NUMPY_TO_FIELD.get((base.kind, base.itemsize)) if base.names is None else None
        if code is None:
            raise ConversionError(
                f"field {name!r}: dtype {field_dtype} has no PointField datatype "
                "(use int8..int32, uint8..uint32, float32, float64)"
            )
        if count < 1:
            raise ConversionError(f"field {name!r}: empty subarray {field_dtype}")
        fields.append(PointField(name=name, offset=int(offset), datatype=code, count=count))
    return fields


def _cloud_view(msg: Any) -> np.ndarray:
    """A zero-copy view of the message's points in message byte order: (N,) or, with padded rows, (H, W)."""
    height, width = int(msg.height), int(msg.width)
    point_step, row_step = int(msg.point_step), int(msg.row_step)
    n = height * width
    if n > MAX_POINTS:
        raise ConversionError(f"PointCloud2 width*height = {width}*{height} exceeds {MAX_POINTS} points")
    dtype = fields_to_dtype(msg.fields, point_step, bool(msg.is_bigendian))
    if row_step < width * point_step:
        raise ConversionError(f"PointCloud2.row_step {row_step} is smaller than width*point_step = {width * point_step}")
    raw = np.frombuffer(msg.data, dtype=np.uint8)
    if raw.size != row_step * height:
        raise ConversionError(
            f"PointCloud2.data has {raw.size} bytes, expected row_step*height = {row_step}*{height} = {row_step * height}"
        )
    if n == 0:
        return np.empty(0, dtype=dtype)
    if row_step == width * point_step:
        return raw.view(dtype)
    return np.ndarray(shape=(height, width), dtype=dtype, buffer=raw, strides=(row_step, point_step))


def _native(dtype: np.dtype) -> np.dtype:
    return dtype.newbyteorder("=")


def cloud_to_array(msg: PointCloud2) -> np.ndarray:
    """All points as an owned, flat (row-major for organised clouds) structured array in native byte order.

    The dtype has one field per ``PointField`` (``count > 1`` -> subarray) at the message's offsets
    and ``itemsize = point_step``, so ``array_to_cloud(cloud_to_array(msg))`` reproduces the layout.
    """
    view = _cloud_view(msg)
    native = _native(view.dtype)
    if native == view.dtype:
        return _copy_records(view)
    return view.astype(native).reshape(-1)


def _copy_records(view: np.ndarray) -> np.ndarray:
    """An owned flat copy of (N,) or row-strided (H, W) records.

    Copying as bytes is one memcpy per row; numpy copies a padded structured dtype field by field.
    """
    records = np.array(view.view(np.uint8), copy=True, order="C")
    return records.reshape(-1).view(view.dtype)


def _finite_rows(values: np.ndarray) -> np.ndarray:
    # Column by column: np.isfinite(values).all(axis=1) is an order of magnitude slower on (N, 3).
    keep = np.isfinite(values[:, 0])
    for column in range(1, values.shape[1]):
        keep &= np.isfinite(values[:, column])
    return keep


def _padding_ranges(dtype: np.dtype) -> list[tuple[int, int]]:
    used = np.zeros(dtype.itemsize, dtype=bool)
    for name in dtype.names:
        field_dtype, offset = dtype.fields[name][:2]
        used[offset : offset + field_dtype.itemsize] = True
    ranges, start = [], None
    for i, is_used in enumerate(used.tolist() + [True]):
        if not is_used and start is None:
            start = i
        elif is_used and start is not None:
            ranges.append((start, i))
            start = None
    return ranges


def _is_dense(points: np.ndarray) -> bool:
    for name in points.dtype.names:
        field_dtype = points.dtype.fields[name][0]
        base = field_dtype.subdtype[0] if field_dtype.subdtype is not None else field_dtype
        if base.kind == "f" and not np.isfinite(points[name]).all():
            return False
    return True


def array_to_cloud(
    points: np.ndarray, header: Header | None = None, frame_id: str = "", stamp_ns: int | None = None
) -> PointCloud2:
    """A ``PointCloud2`` from a structured array: fields in dtype order at the dtype's offsets.

    ``point_step`` is the dtype's itemsize (padding kept, zeroed), data is native byte order,
    ``is_dense`` is False when any float field holds NaN/inf. A 1-D array gives ``height = 1``;
    a 2-D (H, W) array gives an organised cloud.
    """
    points = np.asarray(points)
    fields = dtype_to_fields(points.dtype)
    if points.ndim == 1:
        height, width = 1, points.shape[0]
    elif points.ndim == 2:
        height, width = points.shape
    else:
        raise ConversionError(f"points must be 1-D (or 2-D organised), got shape {points.shape}")
    if height * width > MAX_POINTS:
        raise ConversionError(f"{height * width} points exceed {MAX_POINTS}")
    native = _native(points.dtype)
    if native != points.dtype:
        points = points.astype(native)
    flat = np.ascontiguousarray(points).reshape(-1)
    return _cloud_msg(make_header(header, frame_id, stamp_ns), fields, height, width, native.itemsize,
                      _packed_bytes(flat), _is_dense(flat))  # fmt: skip


def _cloud_msg(header: Header, fields: list[PointField], height: int, width: int, point_step: int,
               data: array.array, is_dense: bool) -> PointCloud2:  # fmt: skip
    """The message around ``data`` without copying it.

    The generated ``data`` setter keeps an ``array.array('B')`` as is only when field checks are on
    (rosidl ``check_fields``; generated code without that switch always keeps it); with checks off
    it copies the buffer again. ``data`` is assigned after construction because the constructor
    itself always copies its ``data`` argument. The message keeps checks on: assigning ``bytes`` to
    its ``data`` later is validated per byte (slow); assign an ``array.array('B')``.
    """
    msg = PointCloud2(**_CHECKED)
    msg.header = header
    msg.height, msg.width = height, width
    msg.fields = fields
    msg.is_bigendian = _NATIVE_BIGENDIAN
    msg.point_step, msg.row_step = point_step, point_step * width
    msg.is_dense = is_dense
    msg.data = data
    return msg


def _packed_bytes(flat: np.ndarray) -> array.array:
    """The points' bytes (padding zeroed) as the ``array.array('B')`` a message stores."""
    data = array.array("B")
    data.frombytes(flat.view(np.uint8))
    itemsize = flat.dtype.itemsize
    for start, stop in _padding_ranges(flat.dtype) if flat.size else ():
        # Zero through the widest unsigned view the gap allows: far faster than byte-wise strides.
        unit = next(u for u in (8, 4, 2, 1) if itemsize % u == 0 and start % u == 0 and stop % u == 0)
        rows = np.frombuffer(data, dtype=np.dtype(f"u{unit}")).reshape(flat.size, itemsize // unit)
        rows[:, start // unit : stop // unit] = 0
        del rows  # release the buffer export so the message may resize data later
    return data


def _column(points: np.ndarray, name: str) -> np.ndarray:
    column = points[name]
    if column.ndim != points.ndim:
        raise ConversionError(f"field {name!r} has count > 1; expected a scalar field")
    return column.reshape(-1)


def _points_of(msg_or_array: Any) -> np.ndarray:
    if isinstance(msg_or_array, np.ndarray):
        if msg_or_array.dtype.names is None:
            raise ConversionError(f"expected a structured array or PointCloud2, got dtype {msg_or_array.dtype}")
        return msg_or_array
    return _cloud_view(msg_or_array)


def _require(points: np.ndarray, names: tuple[str, ...]) -> None:
    missing = [name for name in names if name not in (points.dtype.names or ())]
    if missing:
        raise ConversionError(f"point cloud has no field(s) {missing}; fields are {list(points.dtype.names or ())}")


def cloud_xyz(msg_or_array: PointCloud2 | np.ndarray, remove_nans: bool = True) -> np.ndarray:
    """(N, 3) float32 x, y, z; with ``remove_nans`` points with any non-finite coordinate are dropped."""
    points = _points_of(msg_or_array)
    _require(points, ("x", "y", "z"))
    xyz = np.empty((points.size, 3), dtype=np.float32)
    for axis, name in enumerate("xyz"):
        xyz[:, axis] = _column(points, name)
    if remove_nans:
        keep = _finite_rows(xyz)
        if not keep.all():
            xyz = np.compress(keep, xyz, axis=0)  # compress: several times faster than boolean indexing here
    return xyz


def panoptic_cloud_to_msg(cloud: PanopticCloud, frame_id: str | None = None) -> PointCloud2:
    """The ``perception/panoptic_points`` message: PANOPTIC_POINT_DTYPE, stamped with the sweep stamp."""
    n = len(cloud.points)
    if np.ndim(cloud.points) != 2 or np.shape(cloud.points)[1] < 3:
        raise ConversionError(f"PanopticCloud.points must be (N, 4), got shape {np.shape(cloud.points)}")
    columns = {
        "class_id": cloud.class_id,
        "instance_id": cloud.instance_id,
        "score": cloud.score,
        "uncertainty": cloud.uncertainty,
        "track_id": cloud.track_id if cloud.track_id is not None else np.zeros(n, dtype=np.uint32),
    }
    for name, values in columns.items():
        if np.shape(values) != (n,):
            raise ConversionError(f"PanopticCloud.{name} has shape {np.shape(values)}, expected ({n},)")
    # Fill the message buffer in place (padding stays zero): one allocation, no copy of the whole cloud.
    data = array.array("B", bytes(PANOPTIC_POINT_DTYPE.itemsize)) * n
    points = np.frombuffer(data, dtype=PANOPTIC_POINT_DTYPE)
    for axis, name in enumerate(("x", "y", "z", "intensity")):
        if axis < cloud.points.shape[1]:
            points[name] = cloud.points[:, axis]
    for name, values in columns.items():
        points[name] = values
    points["label"] = cloud.label
    is_dense = _is_dense(points)
    del points  # release the buffer export
    header = make_header(frame_id=frame_id if frame_id is not None else cloud.frame_id, stamp_ns=cloud.stamp_ns)
    return _cloud_msg(header, dtype_to_fields(PANOPTIC_POINT_DTYPE), 1, n, PANOPTIC_POINT_DTYPE.itemsize, data, is_dense)


def msg_to_panoptic_array(msg: PointCloud2) -> np.ndarray:
    """A PANOPTIC_POINT_DTYPE array from a panoptic cloud; fields are cast, missing ones are an error."""
    view = _cloud_view(msg)
    if view.dtype == PANOPTIC_POINT_DTYPE:
        return _copy_records(view)
    _require(view, PANOPTIC_POINT_DTYPE.names)
    out = np.zeros(view.size, dtype=PANOPTIC_POINT_DTYPE)
    for name in PANOPTIC_POINT_DTYPE.names:
        source = _column(view, name)
        target = PANOPTIC_POINT_DTYPE.fields[name][0]
        if not np.can_cast(source.dtype, target, casting="same_kind"):
            raise ConversionError(f"field {name!r}: {source.dtype} cannot be stored as {target}")
        out[name] = source
    return out


def _intensity(points: np.ndarray, scale: float | None) -> np.ndarray:
    name = next((n for n in _INTENSITY_NAMES if n in points.dtype.names), None)
    if name is None:
        return np.zeros(points.size, dtype=np.float32)
    values = _column(points, name)
    if scale is None:
        # Integer intensities (Ouster u16, Livox u8) map their full range onto [0, 1]; floats pass through.
        scale = 1.0 / np.iinfo(values.dtype).max if values.dtype.kind in "iu" else 1.0
    return values.astype(np.float32) * np.float32(scale)


def _time_offsets(points: np.ndarray, msg: Any) -> np.ndarray | None:
    name = next((n for n in _TIME_NAMES if n in points.dtype.names), None)
    if name is None:
        return None
    values = _column(points, name)
    if values.dtype.kind in "iu":
        return values.astype(np.float64) * 1e-9  # Ouster 't': u32 nanoseconds since the sweep stamp
    seconds = values.astype(np.float64)
    if seconds.size and np.nanmax(np.abs(seconds)) > _ABSOLUTE_TIME_S:
        stamp = msg.header.stamp
        return (seconds - float(stamp.sec)) - float(stamp.nanosec) * 1e-9
    return seconds  # Velodyne 'time': f32 seconds relative to the sweep stamp


def cloud_to_sensor_points(msg: PointCloud2, intensity_scale: float | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """(N, 4) float32 x, y, z, intensity for ``SensorFrame`` and per-point time offsets [s] or None.

    Intensity comes from ``intensity`` or ``i`` (zeros when absent): integer fields are divided by
    their type's maximum, float fields pass through, unless ``intensity_scale`` multiplies explicitly.
    The time offset comes from ``t``/``time``/``timestamp``: integer fields are nanoseconds, float
    fields seconds, relative to the header stamp (absolute float stamps are made relative).
    Points with a non-finite coordinate or intensity are dropped.
    """
    view = _cloud_view(msg)
    _require(view, ("x", "y", "z"))
    points = np.empty((view.size, 4), dtype=np.float32)
    for axis, name in enumerate("xyz"):
        points[:, axis] = _column(view, name)
    points[:, 3] = _intensity(view, intensity_scale)
    time = _time_offsets(view, msg)
    keep = _finite_rows(points)
    if not keep.all():
        points = np.compress(keep, points, axis=0)
        time = time[keep] if time is not None else None
    return points, time
