"""What every reader offers: an ordered, sized stream of LabeledFrames plus the rig it came from."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np

from panoptic_perception.core import CameraModel

from ..frame import LabeledFrame


class FrameSource(Protocol):
    """A dataset reader (or generator wrapper) that a converter, the player or the CLI can consume."""

    @property
    def cameras(self) -> dict[str, CameraModel]: ...

    @property
    def T_base_lidar(self) -> np.ndarray: ...

    @property
    def lidar_frame(self) -> str: ...

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[LabeledFrame]: ...
