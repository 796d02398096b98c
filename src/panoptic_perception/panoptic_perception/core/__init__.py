"""ROS-free types, class table and geometry shared by every stage."""

from .frame import CameraImage, CameraModel, PanopticCloud, SensorFrame
from .labels import INSTANCE_SHIFT, ClassInfo, ClassTable, load_class_table, pack_label, unpack_label

__all__ = [
    "INSTANCE_SHIFT",
    "CameraImage",
    "CameraModel",
    "ClassInfo",
    "ClassTable",
    "PanopticCloud",
    "SensorFrame",
    "load_class_table",
    "pack_label",
    "unpack_label",
]
