"""sensor_msgs/CameraInfo <-> core.CameraModel."""

from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, RegionOfInterest

from panoptic_perception.core import CameraModel
from panoptic_perception.ros.conversions import (
    ConversionError,
    camera_info_to_model,
    camera_model_to_info,
    stamp_to_ns,
)

K = np.array([[721.5, 0.0, 609.6], [0.0, 721.5, 172.9], [0.0, 0.0, 1.0]])
T_CAM_LIDAR = np.array([[0.0, -1.0, 0.0, 0.1], [0.0, 0.0, -1.0, -0.2], [1.0, 0.0, 0.0, -0.3], [0.0, 0.0, 0.0, 1.0]])


def _camera(D=(-0.3, 0.1, 0.001, -0.002, 0.0)) -> CameraModel:
    return CameraModel(name="front", width=1242, height=375, K=K, T_cam_lidar=T_CAM_LIDAR, D=np.array(D))


def test_camera_model_becomes_plumb_bob_info_with_identity_r_and_p_k_zero():
    msg = camera_model_to_info(_camera(), frame_id="cam_front_optical", stamp_ns=1_000_000_007)

    assert (msg.width, msg.height, msg.distortion_model) == (1242, 375, "plumb_bob")
    np.testing.assert_array_equal(msg.k, K.ravel())
    np.testing.assert_array_equal(msg.d, [-0.3, 0.1, 0.001, -0.002, 0.0])
    np.testing.assert_array_equal(msg.r, np.eye(3).ravel())
    np.testing.assert_array_equal(np.reshape(msg.p, (3, 4)), np.hstack([K, np.zeros((3, 1))]))
    assert (msg.header.frame_id, stamp_to_ns(msg.header.stamp)) == ("cam_front_optical", 1_000_000_007)


@pytest.mark.parametrize("D", [(-0.3, 0.1, 0.001, -0.002, 0.05), (0.1, -0.2, 0.0, 0.001, 0.3, 0.05, -0.01, 0.02)])
def test_camera_info_round_trips_plumb_bob_and_rational_polynomial(D):
    camera = _camera(D)

    msg = camera_model_to_info(camera)
    back = camera_info_to_model(msg, "front", T_CAM_LIDAR)

    assert msg.distortion_model == ("plumb_bob" if len(D) == 5 else "rational_polynomial")
    assert (back.name, back.width, back.height) == ("front", 1242, 375)
    np.testing.assert_array_equal(back.K, K)
    np.testing.assert_array_equal(back.D, D)
    np.testing.assert_array_equal(back.T_cam_lidar, T_CAM_LIDAR)


def test_camera_info_without_distortion_model_means_no_distortion():
    msg = CameraInfo(width=640, height=480, k=K.ravel())
    np.testing.assert_array_equal(camera_info_to_model(msg, "c", np.eye(4)).D, np.zeros(5))


def _info(**changes) -> CameraInfo:
    msg = CameraInfo(width=640, height=480, k=K.ravel(), distortion_model="plumb_bob", d=[0.0] * 5)
    for key, value in changes.items():
        setattr(msg, key, value)
    return msg


@pytest.mark.parametrize(
    ("msg", "match"),
    [
        (_info(k=np.zeros(9)), r"CameraInfo.k of camera 'front' is not a valid intrinsic matrix"),
        (
            _info(distortion_model="equidistant", d=[0.0] * 4),
            r"distortion_model 'equidistant' of camera 'front' is not supported",
        ),
        (_info(d=[0.0] * 4), r"plumb_bob needs 5 coefficients, got 4"),
        (_info(d=[0.0, float("nan"), 0.0, 0.0, 0.0]), r"non-finite coefficients"),
        (_info(binning_x=2), r"binning 2x0 is not supported"),
        (_info(roi=RegionOfInterest(x_offset=10, y_offset=0, width=320, height=240)), r"roi of camera 'front'"),
        (_info(width=0), r"CameraInfo of camera 'front': .*image size must be positive"),
    ],
)
def test_invalid_camera_info_is_rejected_naming_the_field(msg, match):
    with pytest.raises(ConversionError, match=match):
        camera_info_to_model(msg, "front", np.eye(4))


def test_camera_model_with_unknown_distortion_length_is_rejected():
    with pytest.raises(ConversionError, match=r"camera 'front': 4 distortion coefficients match no distortion_model"):
        camera_model_to_info(_camera(D=(0.0, 0.0, 0.0, 0.0)))
