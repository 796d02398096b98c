"""Frame sources by name: a dataset path in any supported format, or a freshly simulated world."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from panoptic_perception.core import CameraModel

from .formats.errors import ReaderError
from .formats.source import FrameSource
from .frame import LabeledFrame, Rig

FORMATS = ("bag", "semantickitti", "kitti_raw", "nuscenes")


class SyntheticSource:
    """``num_frames`` of the synthetic world; re-iterable (each pass simulates again, identically)."""

    def __init__(self, config: Any, rig: Rig, num_frames: int, **simulate_kwargs: Any) -> None:
        self.config = config
        self.rig = rig
        self.num_frames = num_frames
        self.simulate_kwargs = simulate_kwargs

    @classmethod
    def from_names(cls, seed: int, rig: str, num_frames: int, scene: dict[str, Any] | None = None) -> SyntheticSource:
        from .world import SceneConfig, make_rig

        config = SceneConfig.from_dict({**(scene or {}), "seed": seed})
        return cls(config, make_rig(rig), num_frames)

    @property
    def cameras(self) -> dict[str, CameraModel]:
        return dict(self.rig.cameras)

    @property
    def T_base_lidar(self) -> np.ndarray:
        return self.rig.T_base_lidar

    @property
    def lidar_frame(self) -> str:
        return "lidar"

    def __len__(self) -> int:
        return self.num_frames

    def __iter__(self) -> Iterator[LabeledFrame]:
        from .world import simulate

        return iter(simulate(self.config, self.rig, self.num_frames, **self.simulate_kwargs))


def detect_format(path: str | Path) -> str:
    """The format of a dataset folder, from the files that define it."""
    path = Path(path)
    if not path.exists():
        raise ReaderError(f"{path}: no such file or folder")
    if (path / "metadata.yaml").is_file():
        return "bag"
    if (path / "velodyne").is_dir() or (path / "sequences").is_dir():
        return "semantickitti"
    if (path / "velodyne_points").is_dir() or any(path.glob("*_drive_*_sync")):
        return "kitti_raw"
    if any(path.glob("v1.0-*")):
        return "nuscenes"
    raise ReaderError(f"{path}: not a bag, SemanticKITTI, KITTI raw or nuScenes folder")


def open_dataset(path: str | Path, fmt: str | None = None) -> FrameSource:
    """A reader for ``path``; ``fmt`` one of FORMATS, or detected from the folder's contents."""
    path = Path(path)
    fmt = fmt or detect_format(path)
    if fmt == "bag":
        from .formats.bag import BagReader

        return BagReader(path)
    if fmt == "semantickitti":
        from .formats.semantickitti import SemanticKittiReader

        if (path / "sequences").is_dir():
            sequences = sorted(p for p in (path / "sequences").iterdir() if p.is_dir())
            if len(sequences) != 1:
                raise ReaderError(f"{path / 'sequences'}: {len(sequences)} sequences; name one (sequences/NN)")
            path = sequences[0]
        return SemanticKittiReader(path)
    if fmt == "kitti_raw":
        from .formats.kitti_raw import KittiRawReader

        return KittiRawReader(path)
    if fmt == "nuscenes":
        from .formats.nuscenes import NuScenesReader

        return NuScenesReader(path)
    raise ReaderError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
