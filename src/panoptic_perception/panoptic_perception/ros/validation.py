"""Input checks a node runs before converting a message, and a logger that cannot flood the console.

The layout checks (field list, point_step/row_step, data length, encoding, step) are the ones the
conversions run; these validators add what a conversion accepts but a node must not process:
empty messages and sizes beyond a configurable cap.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from .errors import ConversionError
from .image import checked_image_buffer
from .pointcloud import _cloud_view, _column, _require

__all__ = ["MAX_CLOUD_POINTS", "MAX_IMAGE_PIXELS", "ThrottledLogger", "validate_cloud_msg", "validate_image_msg"]

MAX_CLOUD_POINTS = 5_000_000
MAX_IMAGE_PIXELS = 50_000_000


def validate_cloud_msg(msg: Any, max_points: int = MAX_CLOUD_POINTS) -> None:
    """Raise :class:`ConversionError` unless ``msg`` is a non-empty PointCloud2 with scalar x, y, z."""
    height, width = int(msg.height), int(msg.width)
    if height * width == 0:
        raise ConversionError(f"PointCloud2 is empty (width*height = {width}*{height})")
    if height * width > max_points:
        raise ConversionError(f"PointCloud2 width*height = {width}*{height} exceeds the limit of {max_points} points")
    points = _cloud_view(msg)
    _require(points, ("x", "y", "z"))
    for name in "xyz":
        _column(points, name)


def validate_image_msg(msg: Any, max_pixels: int = MAX_IMAGE_PIXELS) -> None:
    """Raise :class:`ConversionError` unless ``msg`` is a non-empty Image of a known encoding with consistent sizes."""
    height, width = int(msg.height), int(msg.width)
    if height == 0 or width == 0:
        raise ConversionError(f"Image has zero size (width x height = {width} x {height})")
    checked_image_buffer(msg, max_pixels)


class _Logger(Protocol):
    def warning(self, message: str) -> Any: ...

    def error(self, message: str) -> Any: ...


class ThrottledLogger:
    """At most one message per key per ``period_s``; the next one emitted says how many were suppressed.

    Wraps an rclpy logger (or anything with ``warning``/``error``). ``clock`` returns seconds;
    the default is monotonic so that sim-time jumps neither flood nor silence the log.
    """

    def __init__(self, logger: _Logger, period_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        if period_s < 0:
            raise ValueError(f"ThrottledLogger period_s must be >= 0, got {period_s}")
        self._logger = logger
        self._period_s = period_s
        self._clock = clock
        self._last_emit: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, key: str, message: str) -> bool:
        """Log ``message`` as a warning unless ``key`` was logged within the period; True when emitted."""
        text = self._admit(key, message)
        if text is not None:
            self._logger.warning(text)
        return text is not None

    def error(self, key: str, message: str) -> bool:
        """Log ``message`` as an error unless ``key`` was logged within the period; True when emitted."""
        text = self._admit(key, message)
        if text is not None:
            self._logger.error(text)  # its own call site: rclpy refuses one call site at two severities
        return text is not None

    def suppressed(self, key: str) -> int:
        """Messages of ``key`` suppressed since its last emission."""
        return self._suppressed.get(key, 0)

    def _admit(self, key: str, message: str) -> str | None:
        """The text to log now, or None while ``key`` is throttled."""
        now = self._clock()
        last = self._last_emit.get(key)
        if last is not None and now - last < self._period_s:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return None
        suppressed = self._suppressed.pop(key, 0)
        self._last_emit[key] = now
        return f"{message} ({suppressed} similar suppressed)" if suppressed else message
