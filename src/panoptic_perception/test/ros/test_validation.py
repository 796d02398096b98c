"""Input validation of clouds and images, and the throttled logger."""

from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import Image, PointCloud2, PointField

from panoptic_perception.ros.conversions import ConversionError, array_to_cloud, array_to_image
from panoptic_perception.ros.validation import ThrottledLogger, validate_cloud_msg, validate_image_msg

XYZI = np.dtype({"names": ["x", "y", "z", "intensity"], "formats": ["<f4"] * 4})


class RecordingLogger:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def warning(self, message: str) -> None:
        self.lines.append(("warning", message))

    def error(self, message: str) -> None:
        self.lines.append(("error", message))


class FakeClock:
    def __init__(self) -> None:
        self.s = 100.0

    def __call__(self) -> float:
        return self.s


def _cloud(n: int = 4) -> PointCloud2:
    return array_to_cloud(np.zeros(n, dtype=XYZI), frame_id="lidar")


# --- ThrottledLogger ---------------------------------------------------------------------------------------


def test_throttled_logger_emits_once_per_period_and_reports_the_suppressed_count():
    logger, clock = RecordingLogger(), FakeClock()
    throttled = ThrottledLogger(logger, period_s=2.0, clock=clock)

    assert throttled.warning("cloud", "bad cloud 1")
    clock.s += 0.5
    assert not throttled.warning("cloud", "bad cloud 2")
    clock.s += 1.0
    assert not throttled.warning("cloud", "bad cloud 3")
    assert throttled.suppressed("cloud") == 2
    clock.s += 0.5  # 2.0 s after the first emission
    assert throttled.warning("cloud", "bad cloud 4")
    clock.s += 2.0
    assert throttled.warning("cloud", "bad cloud 5")

    assert logger.lines == [
        ("warning", "bad cloud 1"),
        ("warning", "bad cloud 4 (2 similar suppressed)"),
        ("warning", "bad cloud 5"),
    ]
    assert throttled.suppressed("cloud") == 0


def test_throttled_logger_keys_are_independent_and_errors_go_to_error():
    logger, clock = RecordingLogger(), FakeClock()
    throttled = ThrottledLogger(logger, period_s=5.0, clock=clock)

    assert throttled.warning("image/front", "front broken")
    assert throttled.error("image/rear", "rear broken")
    assert not throttled.error("image/front", "front still broken")

    assert logger.lines == [("warning", "front broken"), ("error", "rear broken")]
    assert (throttled.suppressed("image/front"), throttled.suppressed("image/rear")) == (1, 0)


def test_throttled_logger_with_zero_period_emits_everything():
    logger = RecordingLogger()
    throttled = ThrottledLogger(logger, period_s=0.0, clock=FakeClock())
    assert all(throttled.warning("k", f"m{i}") for i in range(3))
    assert [line for _, line in logger.lines] == ["m0", "m1", "m2"]
    with pytest.raises(ValueError, match="period_s must be >= 0"):
        ThrottledLogger(logger, period_s=-1.0)


def test_throttled_logger_wraps_an_rclpy_logger():
    import rclpy.logging

    throttled = ThrottledLogger(rclpy.logging.get_logger("test_validation"), period_s=60.0)
    assert throttled.warning("k", "first (expected in the test log)")
    assert not throttled.warning("k", "second")
    assert throttled.suppressed("k") == 1


def test_throttled_logger_logs_warnings_and_errors_to_one_rclpy_logger():
    """rclpy refuses one call site at two severities ("Logger severity cannot be changed between calls"): a node
    that warned once and then hit an error crashed in its callback."""
    import rclpy.logging

    throttled = ThrottledLogger(rclpy.logging.get_logger("test_validation_levels"), period_s=0.0)
    assert throttled.warning("a", "a warning (expected in the test log)")
    assert throttled.error("b", "an error (expected in the test log)")
    assert throttled.warning("a", "a warning again (expected in the test log)")


# --- clouds ------------------------------------------------------------------------------------------------


def test_a_well_formed_cloud_passes():
    assert validate_cloud_msg(_cloud()) is None


def test_an_empty_cloud_is_rejected():
    with pytest.raises(ConversionError, match=r"PointCloud2 is empty \(width\*height = 0\*1\)"):
        validate_cloud_msg(_cloud(0))


def test_a_cloud_above_the_point_limit_is_rejected_before_its_data_is_read():
    with pytest.raises(ConversionError, match=r"width\*height = 5\*1 exceeds the limit of 4 points"):
        validate_cloud_msg(_cloud(5), max_points=4)
    huge = PointCloud2(height=1000, width=10_000, point_step=16, row_step=160_000, fields=_cloud().fields)  # no data
    with pytest.raises(ConversionError, match="exceeds the limit of 5000000 points"):
        validate_cloud_msg(huge)


def test_a_cloud_without_z_is_rejected():
    xy = np.dtype({"names": ["x", "y"], "formats": ["<f4", "<f4"]})
    with pytest.raises(ConversionError, match=r"no field\(s\) \['z'\]; fields are \['x', 'y'\]"):
        validate_cloud_msg(array_to_cloud(np.zeros(3, dtype=xy)))


def test_a_cloud_with_vector_x_is_rejected():
    vector = np.dtype({"names": ["x", "y", "z"], "formats": [("<f4", (2,)), "<f4", "<f4"]})
    with pytest.raises(ConversionError, match="field 'x' has count > 1"):
        validate_cloud_msg(array_to_cloud(np.zeros(3, dtype=vector)))


def test_a_cloud_whose_data_length_disagrees_with_its_header_is_rejected():
    msg = _cloud(4)
    msg.width = 5
    msg.row_step = 5 * msg.point_step
    with pytest.raises(ConversionError, match=r"PointCloud2.data has 64 bytes, expected row_step\*height = 80\*1 = 80"):
        validate_cloud_msg(msg)


def test_a_cloud_with_an_unknown_field_datatype_is_rejected():
    msg = _cloud(2)
    msg.fields = [PointField(name="x", offset=0, datatype=99, count=1)] + list(msg.fields[1:])
    with pytest.raises(ConversionError, match=r"fields\[0\] \('x'\): unknown datatype 99"):
        validate_cloud_msg(msg)


# --- images ------------------------------------------------------------------------------------------------


def test_a_well_formed_image_passes():
    assert validate_image_msg(array_to_image(np.zeros((4, 6, 3), dtype=np.uint8), "rgb8")) is None


def test_a_zero_size_image_is_rejected():
    with pytest.raises(ConversionError, match=r"Image has zero size \(width x height = 0 x 4\)"):
        validate_image_msg(Image(height=4, width=0, encoding="rgb8", step=0))


def test_an_image_of_unknown_encoding_is_rejected():
    msg = array_to_image(np.zeros((2, 2), dtype=np.uint8), "mono8")
    msg.encoding = "yuv422_yuy2"
    with pytest.raises(ConversionError, match="Image.encoding 'yuv422_yuy2' is not supported"):
        validate_image_msg(msg)


def test_an_image_above_the_pixel_limit_is_rejected():
    msg = array_to_image(np.zeros((4, 6), dtype=np.uint8), "mono8")
    with pytest.raises(ConversionError, match=r"width\*height = 6\*4 exceeds 20 pixels"):
        validate_image_msg(msg, max_pixels=20)
    huge = Image(height=10_000, width=10_000, encoding="rgb8", step=30_000)  # no data
    with pytest.raises(ConversionError, match="exceeds 50000000 pixels"):
        validate_image_msg(huge)


def test_an_image_whose_data_length_or_step_disagrees_is_rejected():
    msg = array_to_image(np.zeros((4, 6, 3), dtype=np.uint8), "rgb8")
    msg.height = 5
    with pytest.raises(ConversionError, match=r"Image.data has 72 bytes, expected step\*height = 18\*5 = 90"):
        validate_image_msg(msg)
    msg = array_to_image(np.zeros((4, 6, 3), dtype=np.uint8), "rgb8")
    msg.step = 10
    with pytest.raises(ConversionError, match=r"Image.step 10 is smaller than width\*channels\*bytes = 6\*3\*1 = 18"):
        validate_image_msg(msg)
