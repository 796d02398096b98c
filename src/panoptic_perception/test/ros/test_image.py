"""sensor_msgs/Image <-> numpy: every encoding with padded rows, byte order, RGB for the encoder."""

from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import Image

from panoptic_perception.ros.conversions import (
    ConversionError,
    array_to_image,
    image_to_array,
    image_to_rgb,
    stamp_to_ns,
)

H, W = 3, 5
ENCODINGS = {  # encoding -> (dtype, channels)
    "rgb8": (np.uint8, 3),
    "bgr8": (np.uint8, 3),
    "rgba8": (np.uint8, 4),
    "bgra8": (np.uint8, 4),
    "mono8": (np.uint8, 1),
    "mono16": (np.uint16, 1),
    "16UC1": (np.uint16, 1),
    "32FC1": (np.float32, 1),
    "8UC1": (np.uint8, 1),
    "8UC3": (np.uint8, 3),
}


def _pixels(dtype, channels: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (H, W, channels) if channels > 1 else (H, W)
    if np.dtype(dtype).kind == "f":
        return rng.normal(scale=10, size=shape).astype(dtype)
    return rng.integers(0, np.iinfo(dtype).max, size=shape, endpoint=True).astype(dtype)


def _padded_msg(pixels: np.ndarray, encoding: str, pad: int, big_endian: bool = False) -> Image:
    """An Image whose rows carry ``pad`` junk bytes after the pixels, as some drivers align rows."""
    stored = pixels.astype(pixels.dtype.newbyteorder(">" if big_endian else "<"))
    row_bytes = stored.reshape(H, -1).view(np.uint8).reshape(H, -1)
    rows = np.concatenate([row_bytes, np.full((H, pad), 0xAB, dtype=np.uint8)], axis=1)
    return Image(height=H, width=W, encoding=encoding, is_bigendian=int(big_endian), step=rows.shape[1],
                 data=rows.tobytes())  # fmt: skip


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_every_encoding_reads_through_row_padding(encoding):
    dtype, channels = ENCODINGS[encoding]
    pixels = _pixels(dtype, channels)

    image = image_to_array(_padded_msg(pixels, encoding, pad=7))

    assert image.dtype == np.dtype(dtype) and image.flags.c_contiguous
    np.testing.assert_array_equal(image, pixels)


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_every_encoding_round_trips_through_array_to_image(encoding):
    dtype, channels = ENCODINGS[encoding]
    pixels = _pixels(dtype, channels, seed=1)

    msg = array_to_image(pixels, encoding, frame_id="cam_front", stamp_ns=42)

    assert (msg.height, msg.width, msg.encoding, msg.is_bigendian) == (H, W, encoding, 0)
    assert msg.step == W * channels * np.dtype(dtype).itemsize
    assert bytes(msg.data) == pixels.astype(np.dtype(dtype).newbyteorder("<")).tobytes()
    assert (msg.header.frame_id, stamp_to_ns(msg.header.stamp)) == ("cam_front", 42)
    np.testing.assert_array_equal(image_to_array(msg), pixels)


@pytest.mark.parametrize("encoding", ["mono16", "16UC1", "32FC1"])
def test_big_endian_images_read_as_native_values(encoding):
    dtype, channels = ENCODINGS[encoding]
    pixels = _pixels(dtype, channels, seed=2)
    np.testing.assert_array_equal(image_to_array(_padded_msg(pixels, encoding, pad=2, big_endian=True)), pixels)


def test_image_to_rgb_swaps_bgr_drops_alpha_and_replicates_mono():
    rgb = _pixels(np.uint8, 3, seed=3)
    alpha = np.full((H, W, 1), 9, dtype=np.uint8)
    bgr = rgb[..., ::-1]

    assert image_to_rgb(array_to_image(rgb, "rgb8")).tobytes() == rgb.tobytes()
    np.testing.assert_array_equal(image_to_rgb(array_to_image(bgr, "bgr8")), rgb)
    np.testing.assert_array_equal(image_to_rgb(array_to_image(np.concatenate([rgb, alpha], 2), "rgba8")), rgb)
    np.testing.assert_array_equal(image_to_rgb(array_to_image(np.concatenate([bgr, alpha], 2), "bgra8")), rgb)
    mono = rgb[..., 0]
    np.testing.assert_array_equal(image_to_rgb(array_to_image(mono, "mono8")), np.stack([mono] * 3, axis=2))
    mono16 = mono.astype(np.uint16) << 8 | 0xFF
    np.testing.assert_array_equal(image_to_rgb(array_to_image(mono16, "mono16")), np.stack([mono] * 3, axis=2))
    out = image_to_rgb(_padded_msg(bgr, "bgr8", pad=3))
    assert out.dtype == np.uint8 and out.shape == (H, W, 3) and out.flags.c_contiguous


def test_depth_image_has_no_rgb_view():
    with pytest.raises(ConversionError, match=r"'32FC1' cannot be shown as RGB"):
        image_to_rgb(array_to_image(np.zeros((H, W), np.float32), "32FC1"))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"encoding": "yuv422"}, r"Image.encoding 'yuv422' is not supported"),
        ({"step": 14}, r"Image.step 14 is smaller than width\*channels\*bytes = 5\*3\*1 = 15"),
        ({"data": bytes(44)}, r"Image.data has 44 bytes, expected step\*height = 15\*3 = 45"),
        ({"width": 20_000, "height": 20_000}, r"exceeds 100000000 pixels"),
    ],
)
def test_malformed_image_is_rejected_naming_the_field(change, match):
    msg = array_to_image(np.zeros((H, W, 3), np.uint8), "rgb8")
    for key, value in change.items():
        setattr(msg, key, value)
    with pytest.raises(ConversionError, match=match):
        image_to_array(msg)


@pytest.mark.parametrize(
    ("array", "encoding", "match"),
    [
        (np.zeros((H, W), np.uint8), "rgb8", r"'rgb8' needs 3 channel\(s\); got array of shape \(3, 5\)"),
        (np.zeros((H, W, 3), np.float32), "rgb8", r"'rgb8' needs uint8 data; got float32"),
        (np.zeros((H, W), np.float64), "32FC1", r"'32FC1' needs float32 data; got float64"),
        (np.zeros((H, W), np.uint8), "jpeg", r"'jpeg' is not supported"),
    ],
)
def test_array_not_matching_encoding_is_rejected(array, encoding, match):
    with pytest.raises(ConversionError, match=match):
        array_to_image(array, encoding)


def test_single_channel_array_with_trailing_axis_is_accepted():
    pixels = _pixels(np.uint16, 1, seed=4)
    np.testing.assert_array_equal(image_to_array(array_to_image(pixels[..., None], "16UC1")), pixels)


def test_built_image_survives_rclpy_serialization():
    from rclpy.serialization import deserialize_message, serialize_message

    pixels = _pixels(np.uint16, 1, seed=5)
    msg = array_to_image(pixels, "mono16", frame_id="cam")
    wire = deserialize_message(serialize_message(msg), Image)
    assert wire == msg
    np.testing.assert_array_equal(image_to_array(wire), pixels)
