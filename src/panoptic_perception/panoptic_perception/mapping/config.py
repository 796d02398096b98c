"""``MapConfig``: every knob of the panoptic map, validated in one place."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from .errors import MappingInputError

SOLVERS = ("auto", "exact", "anneal", "greedy")


@dataclass
class MapConfig:
    voxel_size: float = 0.2  # [m]
    num_classes: int = 20  # class histogram width (class table incl. unlabeled)
    # Occupancy log-odds (OctoMap-style clamping); voxels falling to ``logodds_min`` are pruned.
    logodds_hit: float = 0.85
    logodds_miss: float = -0.4
    logodds_min: float = -2.0
    logodds_max: float = 3.5
    carve: bool = True  # free-space carving by range-image visibility (see voxel_map.py)
    carve_margin: float = 0.08  # carve only voxels this share of the measured range in front of it (+2 voxels)
    # Local window: 2D blocks of ``block_size`` farther than ``window_radius`` from the sensor go to disk.
    block_size: float = 32.0  # [m]
    window_radius: float = 80.0  # [m]
    spill_dir: str | None = None  # where evicted blocks live; None = a private temporary directory
    root_dir: str = "."  # SaveMap/ResetMap paths are confined under this directory
    # Instance merging (merging.py)
    coarse_factor: int = 2  # association cells are coarse_factor * voxel_size wide
    min_segment_points: int = 10
    min_containment: float = 0.25  # share of a segment's cells inside a map instance to propose a merge
    new_instance_quality: float = 0.2  # linear reward of "segment starts a new instance"
    conflict_penalty: float = 4.0  # quadratic penalty of two incompatible hypotheses
    solver: str = "auto"  # auto: exact up to exact_max_vars per component, else annealing
    exact_max_vars: int = 16
    anneal_sweeps: int = 200
    seed: int = 0
    # Dynamic layer
    dynamic_ttl_s: float = 1.0  # drop a moving track not observed for this long

    def __post_init__(self) -> None:
        for name in ("voxel_size", "block_size", "window_radius", "logodds_hit", "logodds_max", "dynamic_ttl_s",
                     "conflict_penalty"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                raise MappingInputError(f"MapConfig.{name} must be a positive number; got {v!r}")
        for name in ("logodds_miss", "logodds_min"):
            if not getattr(self, name) < 0:
                raise MappingInputError(f"MapConfig.{name} must be negative; got {getattr(self, name)!r}")
        for name in ("num_classes", "coarse_factor", "min_segment_points", "exact_max_vars", "anneal_sweeps"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise MappingInputError(f"MapConfig.{name} must be a positive integer; got {v!r}")
        if self.exact_max_vars > 22:
            raise MappingInputError(f"MapConfig.exact_max_vars must be <= 22 (2^n states); got {self.exact_max_vars}")
        if not 0.0 < self.min_containment <= 1.0:
            raise MappingInputError(f"MapConfig.min_containment must be in (0, 1]; got {self.min_containment!r}")
        if self.solver not in SOLVERS:
            raise MappingInputError(f"MapConfig.solver must be one of {', '.join(SOLVERS)}; got {self.solver!r}")
        if self.block_size < 4 * self.voxel_size:
            raise MappingInputError("MapConfig.block_size must hold at least 4 voxels")

    @property
    def voxels_per_block(self) -> int:
        return max(1, round(self.block_size / self.voxel_size))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MapConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise MappingInputError(f"unknown map config keys: {', '.join(unknown)}")
        return cls(**d)
