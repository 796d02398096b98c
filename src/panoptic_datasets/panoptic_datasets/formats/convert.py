"""Convert any reader (SemanticKITTI, KITTI raw, nuScenes) into a rosbag2/MCAP bag."""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from .source import FrameSource


def convert(source: FrameSource | str | Path, bag_path: str | Path, fmt: str | None = None, *, progress: bool = True) -> int:
    """Write every frame of ``source`` (a reader, or a dataset path in format ``fmt`` or detected) to a new bag.

    Returns the number of frames written.
    """
    from ..sources import open_dataset
    from .bag import BagWriter

    reader = open_dataset(source, fmt) if isinstance(source, (str, Path)) else source
    sequence = getattr(reader, "sequence", None)
    count = 0
    with BagWriter(bag_path, T_base_lidar=reader.T_base_lidar, sequence=sequence) as writer:
        for frame in tqdm(reader, total=len(reader), desc=f"-> {Path(bag_path).name}", unit="frame", disable=not progress):
            writer.write(frame)
            count += 1
    return count
