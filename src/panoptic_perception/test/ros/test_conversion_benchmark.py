"""Benchmarks: a 120,000-point panoptic cloud (PANOPTIC_POINT_DTYPE, 40 B/point) each way; goal < 5 ms.

Run for real with
``python -m pytest src/panoptic_perception/test/ros/test_conversion_benchmark.py --benchmark-enable --benchmark-only``;
in CI (benchmarks disabled) each runs once and its result is checked.
"""

from __future__ import annotations

import array

import numpy as np
import pytest
from sensor_msgs.msg import PointCloud2

from panoptic_perception.core import PanopticCloud
from panoptic_perception.ros.conversions import (
    PANOPTIC_POINT_DTYPE,
    array_to_cloud,
    cloud_to_array,
    msg_to_panoptic_array,
    panoptic_cloud_to_msg,
)

N_POINTS = 120_000


@pytest.fixture(scope="module")
def panoptic_points() -> np.ndarray:
    rng = np.random.default_rng(0)
    points = np.zeros(N_POINTS, dtype=PANOPTIC_POINT_DTYPE)
    for name in ("x", "y", "z"):
        points[name] = rng.uniform(-80, 80, N_POINTS)
    points["intensity"] = rng.uniform(0, 1, N_POINTS)
    points["class_id"] = rng.integers(0, 20, N_POINTS)
    points["instance_id"] = rng.integers(0, 300, N_POINTS)
    points["track_id"] = rng.integers(0, 300, N_POINTS)
    points["label"] = points["class_id"] | points["instance_id"] << 16
    points["score"] = rng.uniform(0, 1, N_POINTS)
    points["uncertainty"] = rng.uniform(0, 1, N_POINTS)
    return points


@pytest.mark.benchmark(group="pointcloud2 120k panoptic")
def test_benchmark_array_to_cloud(benchmark, panoptic_points):
    msg = benchmark(array_to_cloud, panoptic_points, frame_id="lidar", stamp_ns=1)
    assert (msg.width, msg.point_step, len(msg.data)) == (N_POINTS, 40, N_POINTS * 40)
    assert bytes(msg.data) == panoptic_points.tobytes()


@pytest.mark.benchmark(group="pointcloud2 120k panoptic")
def test_benchmark_panoptic_cloud_to_msg(benchmark, panoptic_points):
    p = panoptic_points
    cloud = PanopticCloud(
        stamp_ns=1,
        points=np.stack([p["x"], p["y"], p["z"], p["intensity"]], axis=1),
        class_id=p["class_id"].copy(),
        instance_id=p["instance_id"].copy(),
        score=p["score"].copy(),
        uncertainty=p["uncertainty"].copy(),
        track_id=p["track_id"].copy(),
    )
    msg = benchmark(panoptic_cloud_to_msg, cloud)
    assert bytes(msg.data) == panoptic_points.tobytes()


@pytest.mark.benchmark(group="pointcloud2 120k panoptic")
def test_benchmark_cloud_to_array(benchmark, panoptic_points):
    msg = array_to_cloud(panoptic_points)
    points = benchmark(cloud_to_array, msg)
    assert points.dtype == PANOPTIC_POINT_DTYPE
    assert points.tobytes() == panoptic_points.tobytes()


@pytest.mark.benchmark(group="pointcloud2 120k panoptic")
def test_benchmark_msg_to_panoptic_array(benchmark, panoptic_points):
    msg = array_to_cloud(panoptic_points)
    points = benchmark(msg_to_panoptic_array, msg)
    assert points.tobytes() == panoptic_points.tobytes()


# How the generated PointCloud2 code stores 4.8 MB of data: why _cloud_msg assigns an array.array
# after construction on a message built with check_fields=True.
def _via_constructor(buffer):
    return PointCloud2(data=buffer)


def _via_setter_checks_off(buffer):
    msg = PointCloud2()
    msg.data = buffer
    return msg


def _via_setter_check_fields(buffer):
    msg = PointCloud2(**({"check_fields": True} if "_check_fields" in PointCloud2.__slots__ else {}))
    msg.data = buffer
    return msg


@pytest.mark.benchmark(group="PointCloud2.data assignment 4.8 MB")
@pytest.mark.parametrize("store", [_via_constructor, _via_setter_checks_off, _via_setter_check_fields])
def test_benchmark_data_assignment(benchmark, store, panoptic_points):
    buffer = array.array("B", panoptic_points.tobytes())
    msg = benchmark(store, buffer)
    assert len(msg.data) == N_POINTS * 40
    assert msg.data == buffer
    assert (msg.data is buffer) == (store is _via_setter_check_fields and "_check_fields" in PointCloud2.__slots__)
