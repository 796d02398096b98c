"""ROS-free types, class table and geometry shared by every stage."""

from .frame import CameraImage, CameraModel, PanopticCloud, SensorFrame
from .labels import INSTANCE_SHIFT, ClassInfo, ClassTable, load_class_table, pack_label, unpack_label
from .pose_buffer import PoseBuffer
from .sync import CameraSyncConfig, LidarCameraSynchronizer, SyncConfig, SyncCounters, SyncedSet, SyncHealthWindow
from .timing import StageTimer
from .transforms import TransformLookupError, TransformTree

__all__ = [
    "INSTANCE_SHIFT",
    "CameraImage",
    "CameraModel",
    "CameraSyncConfig",
    "ClassInfo",
    "ClassTable",
    "LidarCameraSynchronizer",
    "PanopticCloud",
    "PoseBuffer",
    "SensorFrame",
    "StageTimer",
    "SyncConfig",
    "SyncCounters",
    "SyncHealthWindow",
    "SyncedSet",
    "TransformLookupError",
    "TransformTree",
    "load_class_table",
    "pack_label",
    "unpack_label",
]
