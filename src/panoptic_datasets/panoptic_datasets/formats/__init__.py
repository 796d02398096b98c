"""Dataset formats: SemanticKITTI, KITTI raw, nuScenes and rosbag2/MCAP readers and writers.

The bag reader/writer need rclpy and are imported on first use, so the file formats stay ROS-free.
"""

from __future__ import annotations

from typing import Any

from .errors import FormatError, ReaderError, WriterError
from .kitti_raw import KittiRawReader, KittiRawWriter
from .nuscenes import NuScenesReader, NuScenesWriter
from .semantickitti import SemanticKittiReader, SemanticKittiWriter
from .source import FrameSource

__all__ = [
    "BagReader",
    "BagWriter",
    "FormatError",
    "FrameSource",
    "KittiRawReader",
    "KittiRawWriter",
    "NuScenesReader",
    "NuScenesWriter",
    "ReaderError",
    "SemanticKittiReader",
    "SemanticKittiWriter",
    "WriterError",
    "convert",
]


def __getattr__(name: str) -> Any:
    if name in ("BagReader", "BagWriter"):
        from . import bag

        return getattr(bag, name)
    if name == "convert":
        from .convert import convert

        return convert
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
