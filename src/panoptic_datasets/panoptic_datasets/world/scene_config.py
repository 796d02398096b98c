"""What a synthetic scene looks like: the knobs of the procedural world, validated."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

LIGHTS = ("day", "dusk", "night")


@dataclass
class SceneConfig:
    """A procedural urban scene; everything not set here is drawn from ``seed``."""

    seed: int = 0
    dynamic_share: float = 0.5  # share of vehicles/pedestrians that move (0 = static world, 1 = all move)
    speed_scale: float = 1.0  # multiplies agent speeds
    light: str = "day"  # "day" | "dusk" | "night"
    ego_speed: float = 8.0  # [m/s]
    num_vehicles: int = 20
    num_pedestrians: int = 10
    num_cyclists: int = 3
    occlusion_heavy: bool = False  # more crossing agents close to the ego path
    block_length: float = 80.0  # [m] distance between cross streets
    lanes_per_direction: int = 2
    lane_width: float = 3.5  # [m]
    sidewalk_width: float = 3.5  # [m]
    road_length: float = 400.0  # [m] of main road ahead of the start; the drive must stay on it
    parked_bicycles: int = 4  # parked bicycles and motorcycles on sidewalks (static things)

    def __post_init__(self) -> None:
        _check_int("seed", self.seed, 0, 2**63 - 1)
        _check_range("dynamic_share", self.dynamic_share, 0.0, 1.0)
        _check_range("speed_scale", self.speed_scale, 0.0, 5.0)
        if self.light not in LIGHTS:
            raise ValueError(f"SceneConfig.light must be one of {', '.join(LIGHTS)}; got {self.light!r}")
        _check_range("ego_speed", self.ego_speed, 0.0, 30.0)
        for name in ("num_vehicles", "num_pedestrians", "num_cyclists", "parked_bicycles"):
            _check_int(name, getattr(self, name), 0, 500)
        if not isinstance(self.occlusion_heavy, bool):
            raise ValueError(f"SceneConfig.occlusion_heavy must be a bool; got {self.occlusion_heavy!r}")
        _check_range("block_length", self.block_length, 40.0, 200.0)
        _check_int("lanes_per_direction", self.lanes_per_direction, 1, 3)
        _check_range("lane_width", self.lane_width, 2.5, 4.5)
        _check_range("sidewalk_width", self.sidewalk_width, 1.5, 6.0)
        _check_range("road_length", self.road_length, 100.0, 3000.0)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SceneConfig:
        """Build from a mapping (e.g. a YAML scene config); unknown keys are an error."""
        if not isinstance(d, dict):
            raise ValueError(f"scene config must be a mapping; got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown scene config keys: {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**d)


def _check_range(name: str, value: Any, lo: float, hi: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise ValueError(f"SceneConfig.{name} must be a number in [{lo}, {hi}]; got {value!r}")


def _check_int(name: str, value: Any, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"SceneConfig.{name} must be an integer in [{lo}, {hi}]; got {value!r}")
