"""PointCloud2 <-> numpy: byte layouts, every datatype, organised/big-endian clouds, malformed messages."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header

from panoptic_perception.core import PanopticCloud
from panoptic_perception.ros.conversions import (
    PANOPTIC_POINT_DTYPE,
    ConversionError,
    array_to_cloud,
    cloud_to_array,
    cloud_to_sensor_points,
    cloud_xyz,
    msg_to_panoptic_array,
    ns_to_stamp,
    panoptic_cloud_to_msg,
    stamp_to_ns,
)

F32 = PointField.FLOAT32
XYZI = [(1.0, 2.0, 3.0, 0.5), (-4.25, 5.5, -6.0, 10.0), (7.0, float("nan"), 9.0, 0.0)]


def _fields(*spec: tuple[str, int, int, int]) -> list[PointField]:
    return [PointField(name=n, offset=o, datatype=d, count=c) for n, o, d, c in spec]


def _cloud(fields, data: bytes, width: int, height: int = 1, point_step: int = 16, row_step: int | None = None,
           is_bigendian: bool = False) -> PointCloud2:  # fmt: skip
    return PointCloud2(
        height=height,
        width=width,
        fields=fields,
        is_bigendian=is_bigendian,
        point_step=point_step,
        row_step=point_step * width if row_step is None else row_step,
        data=data,
    )


# --- layouts pinned against sensor_msgs_py.point_cloud2.create_cloud --------------------------------------
# create_cloud(header, fields, points, point_step=None) packs the points with the numpy dtype built from the
# fields (names, formats, offsets, itemsize = point_step or the end of the last field) in native (little)
# byte order and sets height = 1, width = N, point_step = itemsize, row_step = itemsize * N,
# is_bigendian = False on x86/ARM, is_dense = False. The bytes below are what that algorithm yields.


def test_array_to_cloud_packs_xyzi_like_create_cloud():
    dtype = np.dtype({"names": list("xyz") + ["intensity"], "formats": ["<f4"] * 4, "offsets": [0, 4, 8, 12]})
    points = np.array(XYZI, dtype=dtype)

    msg = array_to_cloud(points, frame_id="lidar", stamp_ns=5_000_000_001)

    assert msg.fields == _fields(("x", 0, F32, 1), ("y", 4, F32, 1), ("z", 8, F32, 1), ("intensity", 12, F32, 1))
    assert (msg.height, msg.width, msg.point_step, msg.row_step) == (1, 3, 16, 48)
    assert msg.is_bigendian is False
    assert msg.is_dense is False  # a NaN point, and create_cloud always says False
    assert bytes(msg.data) == b"".join(struct.pack("<4f", *p) for p in XYZI)
    assert msg.header.frame_id == "lidar" and (msg.header.stamp.sec, msg.header.stamp.nanosec) == (5, 1)


def test_array_to_cloud_keeps_velodyne_padding_like_create_cloud_with_point_step():
    # Velodyne/Ouster drivers: x, y, z at 0, 4, 8, intensity at 16, 32-byte points (create_cloud(..., point_step=32)).
    dtype = np.dtype({"names": ["x", "y", "z", "intensity"], "formats": ["<f4"] * 4, "offsets": [0, 4, 8, 16],
                      "itemsize": 32})  # fmt: skip
    points = np.array(XYZI[:2], dtype=dtype)

    msg = array_to_cloud(points)

    assert msg.fields == _fields(("x", 0, F32, 1), ("y", 4, F32, 1), ("z", 8, F32, 1), ("intensity", 16, F32, 1))
    assert (msg.point_step, msg.row_step) == (32, 64)
    assert bytes(msg.data) == b"".join(struct.pack("<3f4xf12x", *p) for p in XYZI[:2])


def test_array_to_cloud_zeroes_padding_whatever_the_array_held():
    dtype = np.dtype({"names": ["x", "ring"], "formats": ["<f4", "<u2"], "offsets": [0, 8], "itemsize": 16})
    raw = np.frombuffer(bytes(range(32)), dtype=dtype).copy()  # padding bytes are 4..7 and 10..15
    raw["x"] = [1.5, 2.5]
    raw["ring"] = [7, 9]

    msg = array_to_cloud(raw)

    assert bytes(msg.data) == struct.pack("<f4xH6x", 1.5, 7) + struct.pack("<f4xH6x", 2.5, 9)


def test_array_to_cloud_marks_finite_cloud_dense():
    points = np.array([(1.0, 2.0, 3.0), (4.0, 5.0, 6.0)], dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4")])
    assert array_to_cloud(points).is_dense is True
    points["z"][1] = np.inf
    assert array_to_cloud(points).is_dense is False


def test_array_to_cloud_writes_native_order_from_big_endian_array():
    points = np.array([(1.0, 258)], dtype=[("x", ">f4"), ("ring", ">u2")])
    msg = array_to_cloud(points)
    assert msg.is_bigendian is False
    assert bytes(msg.data) == struct.pack("<fH", 1.0, 258)


def test_array_to_cloud_makes_organised_cloud_from_2d_array():
    points = np.zeros((2, 3), dtype=[("x", "<f4"), ("y", "<f4")])
    points["x"] = np.arange(6).reshape(2, 3)
    msg = array_to_cloud(points)
    assert (msg.height, msg.width, msg.row_step) == (2, 3, 24)
    np.testing.assert_array_equal(cloud_to_array(msg)["x"], np.arange(6))


def test_header_argument_is_copied_and_overridden_by_explicit_frame_and_stamp():
    header = Header(frame_id="base", stamp=Time(sec=3, nanosec=4))
    points = np.zeros(1, dtype=[("x", "<f4")])
    assert array_to_cloud(points, header=header).header == header
    msg = array_to_cloud(points, header=header, frame_id="lidar", stamp_ns=7)
    assert (msg.header.frame_id, stamp_to_ns(msg.header.stamp), header.frame_id) == ("lidar", 7, "base")


# --- reading -----------------------------------------------------------------------------------------------

ALL_TYPES = np.dtype(
    [
        ("i8", "i1"),
        ("u8", "u1"),
        ("i16", "<i2"),
        ("u16", "<u2"),
        ("i32", "<i4"),
        ("u32", "<u4"),
        ("f32", "<f4"),
        ("f64", "<f8"),
        ("normal", "<f4", (3,)),
    ]  # fmt: skip
)


def _random_points(dtype: np.dtype, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    points = np.zeros(n, dtype=dtype)
    for name in dtype.names:
        field = points[name]
        base = dtype.fields[name][0].base
        if base.kind in "iu":
            info = np.iinfo(base)
            field[...] = rng.integers(info.min, info.max, size=field.shape, endpoint=True, dtype=base)
        else:
            field[...] = rng.normal(scale=1e3, size=field.shape)
    return points


def test_every_datatype_and_count_round_trips_through_a_message():
    points = _random_points(ALL_TYPES, 7)

    msg = array_to_cloud(points)
    back = cloud_to_array(msg)

    assert [(f.name, f.offset, f.datatype, f.count) for f in msg.fields] == [
        ("i8", 0, 1, 1), ("u8", 1, 2, 1), ("i16", 2, 3, 1), ("u16", 4, 4, 1), ("i32", 6, 5, 1), ("u32", 10, 6, 1),
        ("f32", 14, 7, 1), ("f64", 18, 8, 1), ("normal", 26, 7, 3)]  # fmt: skip
    assert msg.point_step == 38
    assert back.dtype == ALL_TYPES
    assert back.tobytes() == points.tobytes()


def test_cloud_to_array_returns_an_owned_copy():
    msg = array_to_cloud(np.array([(1.0,)], dtype=[("x", "<f4")]))
    points = cloud_to_array(msg)
    points["x"] = 5.0
    assert struct.unpack("<f", bytes(msg.data)) == (1.0,)


def test_big_endian_cloud_reads_as_native_values():
    points = _random_points(ALL_TYPES, 5, seed=1)
    big = points.astype(ALL_TYPES.newbyteorder(">"))
    fields = array_to_cloud(points).fields
    msg = _cloud(fields, big.tobytes(), width=5, point_step=38, is_bigendian=True)

    back = cloud_to_array(msg)

    assert back.dtype == ALL_TYPES
    for name in ALL_TYPES.names:
        np.testing.assert_array_equal(back[name], points[name])


def test_organised_cloud_with_row_padding_flattens_row_major():
    fields = _fields(("x", 0, F32, 1), ("y", 4, F32, 1), ("z", 8, F32, 1), ("intensity", 16, F32, 1))
    rows = []
    for r in range(2):
        row = b"".join(struct.pack("<3f4xf12x", 10 * r + c, -c, r, 100 * r + c) for c in range(3))
        rows.append(row + b"\xff" * 8)  # row_step padding after 3 * 32 bytes
    msg = _cloud(fields, b"".join(rows), width=3, height=2, point_step=32, row_step=104)

    points = cloud_to_array(msg)

    assert points.shape == (6,)
    np.testing.assert_array_equal(points["x"], [0, 1, 2, 10, 11, 12])
    np.testing.assert_array_equal(points["intensity"], [0, 1, 2, 100, 101, 102])
    np.testing.assert_array_equal(cloud_xyz(msg)[4], [11, -1, 1])


def test_unnamed_field_gets_positional_name():
    msg = _cloud(_fields(("", 0, F32, 1)), struct.pack("<f", 2.0), width=1, point_step=4)
    assert cloud_to_array(msg).dtype.names == ("unnamed_field_0",)


def test_empty_cloud_reads_as_empty_array():
    msg = _cloud(_fields(("x", 0, F32, 1)), b"", width=0, point_step=4)
    assert cloud_to_array(msg).shape == (0,)
    assert cloud_xyz(np.zeros(0, dtype=[("x", "f4"), ("y", "f4"), ("z", "f4")])).shape == (0, 3)


def test_cloud_xyz_drops_nan_and_inf_points_only_when_asked():
    dtype = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f8")])
    points = np.array([(1, 2, 3), (np.nan, 0, 0), (4, 5, np.inf), (6, 7, 8)], dtype=dtype)
    msg = array_to_cloud(points)
    np.testing.assert_array_equal(cloud_xyz(msg), [[1, 2, 3], [6, 7, 8]])
    assert cloud_xyz(msg).dtype == np.float32
    assert cloud_xyz(points, remove_nans=False).shape == (4, 3)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"data": b"\x00" * 20}, r"data has 20 bytes, expected row_step\*height = 16\*1 = 16"),
        ({"point_step": 12, "row_step": 12, "data": b"\x00" * 12}, r"'intensity'.*ends at byte 16, beyond point_step 12"),
        ({"fields": _fields(("x", 0, 9, 1))}, r"fields\[0\] \('x'\): unknown datatype 9"),
        ({"fields": _fields(("x", 0, F32, 0))}, r"count must be >= 1"),
        ({"fields": _fields(("x", 0, F32, 1), ("x", 4, F32, 1))}, r"duplicate field name 'x'"),
        ({"fields": []}, r"fields is empty"),
        ({"row_step": 8, "data": b"\x00" * 8}, r"row_step 8 is smaller than width\*point_step = 16"),
        ({"width": 10_000, "height": 10_000}, r"width\*height = 10000\*10000 exceeds 50000000 points"),
    ],
)
def test_malformed_cloud_is_rejected_naming_the_field(change, match):
    msg = _cloud(_fields(("x", 0, F32, 1), ("intensity", 12, F32, 1)), b"\x00" * 16, width=1)
    for key, value in change.items():
        setattr(msg, key, value)
    with pytest.raises(ConversionError, match=match):
        cloud_to_array(msg)


@pytest.mark.parametrize(
    ("points", "match"),
    [
        (np.zeros(2, dtype=[("x", "<i8")]), r"field 'x': dtype int64 has no PointField datatype"),
        (np.zeros(2, dtype=[("flag", "?")]), r"field 'flag'"),
        (np.zeros((2, 3), dtype=np.float32), r"must be a numpy structured array"),
        (np.zeros((2, 2, 2), dtype=[("x", "<f4")]), r"must be 1-D"),
    ],
)
def test_array_without_pointfield_layout_is_rejected(points, match):
    with pytest.raises(ConversionError, match=match):
        array_to_cloud(points)


# --- panoptic output cloud ---------------------------------------------------------------------------------


def _panoptic_cloud(n: int = 4, track: bool = True) -> PanopticCloud:
    rng = np.random.default_rng(3)
    return PanopticCloud(
        stamp_ns=1_700_000_000_250_000_000,
        points=rng.normal(size=(n, 4)).astype(np.float32),
        class_id=np.arange(n, dtype=np.uint16) + 1,
        instance_id=np.arange(n, dtype=np.uint32) * 70_000,
        score=np.linspace(0, 1, n, dtype=np.float32),
        uncertainty=np.linspace(1, 0, n, dtype=np.float32),
        track_id=np.arange(n, dtype=np.uint32) + 100 if track else None,
        frame_id="velodyne",
    )


def test_panoptic_point_dtype_is_aligned_40_byte_layout():
    offsets = {name: PANOPTIC_POINT_DTYPE.fields[name][1] for name in PANOPTIC_POINT_DTYPE.names}
    assert offsets == {"x": 0, "y": 4, "z": 8, "intensity": 12, "class_id": 16, "instance_id": 20, "track_id": 24,
                       "label": 28, "score": 32, "uncertainty": 36}  # fmt: skip
    assert PANOPTIC_POINT_DTYPE.itemsize == 40
    assert all(offset % PANOPTIC_POINT_DTYPE.fields[n][0].itemsize == 0 for n, offset in offsets.items())


def test_panoptic_cloud_message_carries_every_field_and_the_sweep_stamp():
    cloud = _panoptic_cloud()

    msg = panoptic_cloud_to_msg(cloud)

    assert msg.header.frame_id == "velodyne"
    assert stamp_to_ns(msg.header.stamp) == cloud.stamp_ns
    assert [(f.name, f.offset, f.datatype) for f in msg.fields][4:6] == [("class_id", 16, 4), ("instance_id", 20, 6)]
    first = struct.unpack("<4fH2x3I2f", bytes(msg.data)[40:80])
    assert first[4:8] == (2, 70_000, 101, 2 | (70_000 & 0xFFFF) << 16)
    assert first[8:] == pytest.approx((1 / 3, 2 / 3))
    back = msg_to_panoptic_array(msg)
    np.testing.assert_array_equal(back["label"], cloud.label)
    np.testing.assert_array_equal(back["score"], cloud.score)
    np.testing.assert_array_equal(np.stack([back[k] for k in ("x", "y", "z", "intensity")], 1), cloud.points)


def test_panoptic_cloud_without_tracks_publishes_track_zero_and_frame_override():
    msg = panoptic_cloud_to_msg(_panoptic_cloud(track=False), frame_id="lidar_top")
    assert msg.header.frame_id == "lidar_top"
    assert not msg_to_panoptic_array(msg)["track_id"].any()


def test_panoptic_cloud_with_misaligned_arrays_is_rejected():
    cloud = _panoptic_cloud()
    cloud.score = cloud.score[:2]
    with pytest.raises(ConversionError, match=r"PanopticCloud.score has shape \(2,\), expected \(4,\)"):
        panoptic_cloud_to_msg(cloud)


def test_msg_to_panoptic_array_casts_other_layouts_and_names_missing_fields():
    other = np.dtype([(n, "<u4" if n == "class_id" else PANOPTIC_POINT_DTYPE.fields[n][0])
                      for n in reversed(PANOPTIC_POINT_DTYPE.names)])  # fmt: skip
    points = np.zeros(3, dtype=other)
    points["class_id"] = [1, 2, 19]
    points["score"] = [0.25, 0.5, 1.0]
    back = msg_to_panoptic_array(array_to_cloud(points))
    assert back.dtype == PANOPTIC_POINT_DTYPE
    np.testing.assert_array_equal(back["class_id"], [1, 2, 19])
    np.testing.assert_array_equal(back["score"], [0.25, 0.5, 1.0])

    xyz_only = array_to_cloud(np.zeros(1, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("label", "<u4")]))
    with pytest.raises(ConversionError, match=r"no field\(s\) \['intensity', 'class_id', 'instance_id', 'track_id', 'score'"):
        msg_to_panoptic_array(xyz_only)


def test_msg_to_panoptic_array_refuses_float_class_ids():
    dtype = np.dtype([(n, "<f4") for n in PANOPTIC_POINT_DTYPE.names])
    with pytest.raises(ConversionError, match=r"field 'class_id': float32 cannot be stored as uint16"):
        msg_to_panoptic_array(array_to_cloud(np.zeros(1, dtype=dtype)))


# --- sensor input ------------------------------------------------------------------------------------------


def test_sensor_points_from_velodyne_layout_with_float_time_drop_nan_points():
    dtype = np.dtype({"names": ["x", "y", "z", "intensity", "ring", "time"],
                      "formats": ["<f4", "<f4", "<f4", "<f4", "<u2", "<f4"], "offsets": [0, 4, 8, 16, 20, 24],
                      "itemsize": 32})  # fmt: skip
    points = np.zeros(3, dtype=dtype)
    points["x"] = [1, np.nan, 3]
    points["intensity"] = [0.2, 0.4, 0.6]
    points["time"] = [0.0, 0.05, 0.099]
    xyzi, time = cloud_to_sensor_points(array_to_cloud(points))
    assert xyzi.dtype == np.float32 and xyzi.shape == (2, 4)
    np.testing.assert_array_equal(xyzi[:, 0], [1, 3])
    np.testing.assert_allclose(xyzi[:, 3], [0.2, 0.6], rtol=1e-6)
    np.testing.assert_allclose(time, [0.0, 0.099], rtol=1e-6)


def test_sensor_points_from_ouster_layout_scale_u16_intensity_and_u32_nanoseconds():
    dtype = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("t", "<u4"), ("intensity", "<u2")])
    points = np.zeros(2, dtype=dtype)
    points["t"] = [0, 50_000_000]
    points["intensity"] = [0, 65535]
    xyzi, time = cloud_to_sensor_points(array_to_cloud(points))
    np.testing.assert_allclose(xyzi[:, 3], [0.0, 1.0])
    np.testing.assert_allclose(time, [0.0, 0.05])
    scaled, _ = cloud_to_sensor_points(array_to_cloud(points), intensity_scale=1.0)
    np.testing.assert_array_equal(scaled[:, 3], [0, 65535])


def test_sensor_points_from_big_endian_cloud_match_little_endian():
    dtype = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("t", "<u4"), ("intensity", "<u2")])
    points = np.zeros(3, dtype=dtype)
    points["x"], points["z"] = [1.5, -2.0, np.nan], [0.25, 8.0, 1.0]
    points["t"], points["intensity"] = [10, 20, 30], [100, 200, 300]
    little = array_to_cloud(points)
    big = _cloud(little.fields, points.astype(dtype.newbyteorder(">")).tobytes(), width=3, point_step=18,
                 is_bigendian=True)  # fmt: skip
    for expected, actual in zip(cloud_to_sensor_points(little), cloud_to_sensor_points(big), strict=True):
        np.testing.assert_array_equal(actual, expected)
    assert cloud_to_sensor_points(big)[0].shape == (2, 4)


def test_sensor_points_make_absolute_float_timestamps_relative_to_header():
    points = np.zeros(2, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("i", "<f4"), ("timestamp", "<f8")])
    points["i"] = [3.0, 4.0]
    points["timestamp"] = [1_700_000_000.5, 1_700_000_000.6]
    msg = array_to_cloud(points, stamp_ns=1_700_000_000_500_000_000)
    xyzi, time = cloud_to_sensor_points(msg)
    np.testing.assert_array_equal(xyzi[:, 3], [3.0, 4.0])  # 'i' accepted as intensity
    np.testing.assert_allclose(time, [0.0, 0.1], atol=1e-6)


def test_sensor_points_without_intensity_or_time_give_zeros_and_none():
    msg = array_to_cloud(np.ones(2, dtype=[("x", "<f8"), ("y", "<f8"), ("z", "<f8")]))
    xyzi, time = cloud_to_sensor_points(msg)
    np.testing.assert_array_equal(xyzi, [[1, 1, 1, 0], [1, 1, 1, 0]])
    assert time is None


def test_sensor_points_require_xyz():
    msg = array_to_cloud(np.ones(2, dtype=[("x", "<f4"), ("y", "<f4"), ("intensity", "<f4")]))
    with pytest.raises(ConversionError, match=r"no field\(s\) \['z'\]"):
        cloud_to_sensor_points(msg)


# --- stamps ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ns", [0, 1, 999_999_999, 1_700_000_000_123_456_789, -1, -1_500_000_000])
def test_stamps_round_trip_with_nonnegative_nanosec(ns):
    stamp = ns_to_stamp(ns)
    assert 0 <= stamp.nanosec < 1_000_000_000
    assert stamp_to_ns(stamp) == ns


def test_stamp_out_of_int32_seconds_or_bad_nanosec_is_rejected():
    with pytest.raises(ConversionError, match=r"does not fit builtin_interfaces/Time.sec"):
        ns_to_stamp(2**31 * 1_000_000_000)
    with pytest.raises(ConversionError, match=r"stamp.nanosec must be in \[0, 1e9\)"):
        stamp_to_ns(Time(sec=1, nanosec=1_000_000_000))


def test_built_messages_survive_rclpy_serialization():
    from rclpy.serialization import deserialize_message, serialize_message

    points = _random_points(ALL_TYPES, 4, seed=5)
    for msg in (array_to_cloud(points, frame_id="lidar", stamp_ns=9), panoptic_cloud_to_msg(_panoptic_cloud())):
        wire = deserialize_message(serialize_message(msg), PointCloud2)
        assert wire == msg
        assert cloud_to_array(wire).tobytes() == cloud_to_array(msg).tobytes()
