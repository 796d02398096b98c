"""ROS-free panoptic 3D map: voxel static layer, dynamic layer, multi-view instance merging, export."""

from .config import MapConfig
from .dynamic_layer import DynamicLayer, DynamicObject
from .errors import MapFileError, MapPathError, MappingError, MappingInputError
from .export import POINT_DTYPE, make_records, write_instances, write_pcd, write_ply
from .instances import InstanceRegistry, MapInstance, Segment, extract_segments, oriented_box
from .merging import InstanceMerger, MergeResult
from .panoptic_map import FrameUpdate, MapSnapshot, PanopticMap, moving_track_ids
from .qubo import qubo_energy, solve_anneal, solve_exact, solve_icm, solve_qubo
from .render import RenderedView, render
from .storage import atomic_write, confine_path
from .voxel_map import VoxelMap

__all__ = [
    "POINT_DTYPE",
    "DynamicLayer",
    "DynamicObject",
    "FrameUpdate",
    "InstanceMerger",
    "InstanceRegistry",
    "MapConfig",
    "MapFileError",
    "MapInstance",
    "MapPathError",
    "MapSnapshot",
    "MappingError",
    "MappingInputError",
    "MergeResult",
    "PanopticMap",
    "RenderedView",
    "Segment",
    "VoxelMap",
    "atomic_write",
    "confine_path",
    "extract_segments",
    "make_records",
    "moving_track_ids",
    "oriented_box",
    "qubo_energy",
    "render",
    "solve_anneal",
    "solve_exact",
    "solve_icm",
    "solve_qubo",
    "write_instances",
    "write_pcd",
    "write_ply",
]
