"""Camera frames for DeepDPS: image, per-pixel panoptic labels, dense depth and LiDAR-sparse depth, cached as NPZ.

The sequences and scenes are those of ``data.py`` (same split seeds, same light/dynamic draws), but a
DeepDPS frame keeps what a camera-only model needs: per camera the RGB image, train-id semantic,
instance id, the renderer's dense depth along the optical axis and the sweep's points projected into
the image (nearest return per pixel). Depths are stored as float16 [m] (relative precision 5e-4);
0 = no depth. Files are written with ``np.savez_compressed`` and read with ``allow_pickle=False``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from panoptic_datasets.world import LabeledFrame, make_rig, simulate
from panoptic_perception.core import CameraModel
from panoptic_perception.models.deepdps.losses import grid_depth

from .config import DataConfig
from .data import cache_root, frame_path, scene_for_seed, sequence_seeds
from .errors import TrainingDataError

CAMERA_KEYS = ("images", "semantic", "instance", "depth", "lidar_depth", "K", "T_cam_lidar", "seed", "index")


def lidar_depth_image(points: np.ndarray, camera: CameraModel) -> np.ndarray:
    """(N, >=3) LiDAR points -> (H, W) float32 depth of the nearest return per pixel [m], 0 = none."""
    uv, depth, inside = camera.project(np.asarray(points)[:, :3])
    u = np.floor(uv[inside, 0] + 0.5).astype(np.int64).clip(0, camera.width - 1)
    v = np.floor(uv[inside, 1] + 0.5).astype(np.int64).clip(0, camera.height - 1)
    out = np.full(camera.height * camera.width, np.inf)
    np.minimum.at(out, v * camera.width + u, depth[inside])
    out[~np.isfinite(out)] = 0.0
    return out.reshape(camera.height, camera.width).astype(np.float32)


def camera_frame_arrays(frame: LabeledFrame, seed: int) -> dict[str, np.ndarray]:
    """The cached arrays of one frame, cameras stacked in name order (M, ...)."""
    names = sorted(set(frame.sensor.cameras) & set(frame.cameras))
    if not names:
        raise TrainingDataError(f"sequence {seed} frame {frame.sensor.index}: no camera image (dropout)")
    images = [frame.sensor.cameras[n] for n in names]
    truths = [frame.cameras[n] for n in names]
    return {
        "images": np.stack([c.rgb for c in images]),
        "semantic": np.stack([t.semantic for t in truths]).astype(np.uint8),
        "instance": np.stack([t.instance for t in truths]).astype(np.uint32),
        "depth": np.stack([t.depth for t in truths]).astype(np.float16),
        "lidar_depth": np.stack([lidar_depth_image(frame.sensor.points, c.camera) for c in images]).astype(np.float16),
        "K": np.stack([c.camera.K for c in images]).astype(np.float64),
        "T_cam_lidar": np.stack([c.camera.T_cam_lidar for c in images]).astype(np.float64),
        "seed": np.array(seed, dtype=np.int64),
        "index": np.array(frame.sensor.index, dtype=np.int64),
    }


def generate_camera_sequence(config: DataConfig, seed: int) -> None:
    """Simulate one sequence and write its frames atomically (temp file, then rename)."""
    for frame in simulate(scene_for_seed(seed, config), make_rig(config.rig), config.frames_per_sequence):
        path = frame_path(config, seed, frame.sensor.index)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
        np.savez_compressed(tmp, **camera_frame_arrays(frame, seed))
        tmp.replace(path)


def ensure_camera_cache(config: DataConfig, progress: bool = True) -> list[Path]:
    """Generate the missing sequences of ``config`` (``data.cache_dir`` must not be a ``data.py`` cache)."""
    seeds = sequence_seeds(config)
    missing = [s for s in seeds if not all(frame_path(config, s, i).exists() for i in range(config.frames_per_sequence))]
    for seed in tqdm(missing, desc=f"caching {config.split} camera frames", unit="seq", disable=not progress):
        generate_camera_sequence(config, seed)
    return [frame_path(config, s, i) for s in seeds for i in range(config.frames_per_sequence)]


def load_camera_sample(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            sample = {k: npz[k] for k in CAMERA_KEYS}
    except (OSError, ValueError, KeyError) as err:
        raise TrainingDataError(f"{path}: unreadable DeepDPS frame ({err}); is data.cache_dir a DeepDPS cache?") from err
    m, h, w, _ = sample["images"].shape
    for key in ("semantic", "instance", "depth", "lidar_depth"):
        if sample[key].shape != (m, h, w):
            raise TrainingDataError(f"{path}: {key} has shape {sample[key].shape}, expected {(m, h, w)}")
    return sample


class CameraDepthDataset(Dataset):
    """One item per cached (frame, camera): dict of numpy arrays for that camera, no augmentation."""

    def __init__(self, config: DataConfig, generate: bool = True, progress: bool = True) -> None:
        self.config = config
        paths = ensure_camera_cache(config, progress) if generate else [
            frame_path(config, s, i) for s in sequence_seeds(config) for i in range(config.frames_per_sequence)
        ]
        absent = [p for p in paths if not p.exists()]
        if absent:
            raise TrainingDataError(f"{len(absent)} cached camera frames missing under {cache_root(config)}, e.g. {absent[0]}")
        with np.load(paths[0], allow_pickle=False) as npz:
            cameras = npz["images"].shape[0]
        self.items = [(p, c) for p in paths for c in range(cameras)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        path, cam = self.items[index]
        sample = load_camera_sample(path)
        return {k: (v[cam] if k in ("images", "semantic", "instance", "depth", "lidar_depth", "K", "T_cam_lidar") else v)
                for k, v in sample.items()}


def mirror_camera_sample(sample: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Horizontal mirror of the image and every per-pixel label (K's cx mirrored: pixel centres at integers)."""
    out = {k: np.ascontiguousarray(v[:, ::-1]) if k in ("images", "semantic", "instance", "depth", "lidar_depth") else v
           for k, v in sample.items()}
    K = sample["K"].copy()
    K[0, 2] = sample["images"].shape[1] - 1 - K[0, 2]
    out["K"] = K
    return out


@dataclass
class CameraBatch:
    images: torch.Tensor  # (B, 3, H, W) float in [0, 1]
    semantic: torch.Tensor  # (B, h, w) long train ids at the label size
    instance: torch.Tensor  # (B, h, w) long
    depth: torch.Tensor  # (B, h, w) dense depth [m], 0 = none
    lidar_depth: torch.Tensor  # (B, h, w) LiDAR-sparse depth [m], 0 = none


def collate_camera(samples: list[dict[str, np.ndarray]], label_stride: int = 1) -> CameraBatch:
    """Stack samples; labels subsampled by ``label_stride`` (nearest for ids, mean of valid depths per cell)."""
    if label_stride < 1:
        raise TrainingDataError(f"label_stride must be >= 1, got {label_stride}")
    images = torch.from_numpy(np.stack([s["images"] for s in samples])).permute(0, 3, 1, 2).float().div(255.0)
    h, w = images.shape[-2] // label_stride, images.shape[-1] // label_stride
    off = label_stride // 2

    def ids(key: str) -> torch.Tensor:
        grid = [s[key][off::label_stride, off::label_stride][:h, :w] for s in samples]
        return torch.from_numpy(np.stack(grid).astype(np.int64))

    def depth(key: str) -> torch.Tensor:
        d = torch.from_numpy(np.stack([s[key] for s in samples]).astype(np.float32))
        return d if label_stride == 1 else grid_depth(d[:, : h * label_stride, : w * label_stride], (h, w))

    return CameraBatch(images, ids("semantic"), ids("instance"), depth("depth"), depth("lidar_depth"))
