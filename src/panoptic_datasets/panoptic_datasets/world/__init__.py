"""A procedural synthetic driving world with ray-cast LiDAR and cameras and full ground truth."""

from ..frame import CameraTruth, LabeledFrame, LidarSpec, ObjectState, Rig
from .rig import PRESETS, make_rig
from .scene import World
from .scene_config import SceneConfig
from .simulate import EPOCH_NS, FAULTS, simulate

__all__ = [
    "EPOCH_NS",
    "FAULTS",
    "PRESETS",
    "CameraTruth",
    "LabeledFrame",
    "LidarSpec",
    "ObjectState",
    "Rig",
    "SceneConfig",
    "World",
    "make_rig",
    "simulate",
]
