"""``sensor_msgs/Image`` <-> numpy, for the encodings cameras and depth sensors publish.

Rows may be padded (``step > width * channels * bytes``) and multi-byte data may be big-endian;
both are handled with views, one copy into an owned native array.
"""

from __future__ import annotations

import array
import re
import sys
from typing import Any

import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from .errors import ConversionError
from .stamps import make_header

MAX_PIXELS = 100_000_000
# With rosidl field checks on, the data setter keeps an array.array('B') without copying (see pointcloud.py).
_CHECKED: dict[str, bool] = {"check_fields": True} if "_check_fields" in Image.__slots__ else {}

# encoding -> (element dtype, channels); names as in sensor_msgs/image_encodings.hpp
_NAMED_ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "rgb16": (np.dtype(np.uint16), 3),
    "bgr16": (np.dtype(np.uint16), 3),
    "rgba16": (np.dtype(np.uint16), 4),
    "bgra16": (np.dtype(np.uint16), 4),
    "mono8": (np.dtype(np.uint8), 1),
    "mono16": (np.dtype(np.uint16), 1),
}
_CV_ENCODING = re.compile(r"^(8|16|32|64)(U|S|F)C([1-4])$")  # OpenCV-style: 8UC3, 16UC1, 32FC1, ...
_CV_TYPES = {("8", "U"): np.uint8, ("8", "S"): np.int8, ("16", "U"): np.uint16, ("16", "S"): np.int16,
             ("32", "S"): np.int32, ("32", "F"): np.float32, ("64", "F"): np.float64}  # fmt: skip


def encoding_layout(encoding: str) -> tuple[np.dtype, int]:
    """(element dtype, channels) of an image encoding."""
    if encoding in _NAMED_ENCODINGS:
        return _NAMED_ENCODINGS[encoding]
    match = _CV_ENCODING.match(encoding)
    if match and (match.group(1), match.group(2)) in _CV_TYPES:
        return np.dtype(_CV_TYPES[(match.group(1), match.group(2))]), int(match.group(3))
    raise ConversionError(f"Image.encoding {encoding!r} is not supported")


def checked_image_buffer(msg: Any, max_pixels: int = MAX_PIXELS) -> tuple[np.dtype, int, np.ndarray]:
    """(element dtype, channels, raw bytes) of an image whose encoding, size, step and data length agree."""
    dtype, channels = encoding_layout(msg.encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height * width > max_pixels:
        raise ConversionError(f"Image width*height = {width}*{height} exceeds {max_pixels} pixels")
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ConversionError(
            f"Image.step {step} is smaller than width*channels*bytes = {width}*{channels}*{dtype.itemsize} = {row_bytes}"
        )
    raw = np.frombuffer(msg.data, dtype=np.uint8)
    if raw.size != step * height:
        raise ConversionError(f"Image.data has {raw.size} bytes, expected step*height = {step}*{height} = {step * height}")
    return dtype, channels, raw


def image_to_array(msg: Image) -> np.ndarray:
    """An owned native-byte-order array: (H, W) for one channel, (H, W, C) otherwise."""
    dtype, channels, raw = checked_image_buffer(msg)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    stored = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    shape = (height, width, channels) if channels > 1 else (height, width)
    if raw.size == 0:
        return np.zeros(shape, dtype=dtype)
    strides = (step, channels * dtype.itemsize, dtype.itemsize)[: len(shape)]
    view = np.ndarray(shape=shape, dtype=stored, buffer=raw, strides=strides)
    return view.astype(dtype, order="C")  # one copy: drops row padding, swaps bytes if needed


def image_to_rgb(msg: Image) -> np.ndarray:
    """(H, W, 3) uint8 RGB for the camera encoder.

    bgr* channels are swapped, alpha dropped, mono replicated, 16-bit colour and mono16 keep their
    high byte. ``8UC3`` carries no channel order and passes through unchanged.
    """
    encoding = msg.encoding
    image = image_to_array(msg)
    if encoding in ("rgb8", "8UC3"):
        return image
    if encoding in ("bgr8", "bgra8", "rgba8"):
        rgb = image[..., :3]
        return np.ascontiguousarray(rgb[..., ::-1] if encoding.startswith("bgr") else rgb)
    if encoding in ("mono8", "8UC1"):
        return np.repeat(image[..., None], 3, axis=2)
    if encoding == "mono16":
        return np.repeat((image >> 8).astype(np.uint8)[..., None], 3, axis=2)
    if encoding in ("rgb16", "bgr16", "rgba16", "bgra16"):
        rgb = (image[..., :3] >> 8).astype(np.uint8)
        return np.ascontiguousarray(rgb[..., ::-1] if encoding.startswith("bgr") else rgb)
    raise ConversionError(f"Image.encoding {encoding!r} cannot be shown as RGB")


def array_to_image(
    array_: np.ndarray, encoding: str, header: Header | None = None, frame_id: str = "", stamp_ns: int | None = None
) -> Image:
    """An ``Image`` (unpadded rows, native byte order) from (H, W) or (H, W, C) data matching ``encoding``."""
    dtype, channels = encoding_layout(encoding)
    data: Any = np.asarray(array_)
    expected_ndim = 2 if channels == 1 else 3
    if data.ndim == 3 and channels == 1 and data.shape[2] == 1:
        data = data[..., 0]
    if data.ndim != expected_ndim or (channels > 1 and data.shape[2] != channels):
        raise ConversionError(f"encoding {encoding!r} needs {channels} channel(s); got array of shape {data.shape}")
    if data.dtype.kind != dtype.kind or data.dtype.itemsize != dtype.itemsize:
        raise ConversionError(f"encoding {encoding!r} needs {dtype} data; got {data.dtype}")
    height, width = data.shape[:2]
    if height * width > MAX_PIXELS:
        raise ConversionError(f"image {width}x{height} exceeds {MAX_PIXELS} pixels")
    data = np.ascontiguousarray(data, dtype=dtype.newbyteorder("="))
    buffer = array.array("B")
    buffer.frombytes(data.reshape(-1).view(np.uint8))
    msg = Image(
        header=make_header(header, frame_id, stamp_ns),
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=int(sys.byteorder == "big"),
        step=width * channels * dtype.itemsize,
        **_CHECKED,
    )
    msg.data = buffer
    return msg
