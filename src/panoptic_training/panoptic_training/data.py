"""Synthetic training data: sequences of the standard splits, generated once and cached as NPZ.

Each sequence is one scene seed of a split (``panoptic_datasets.splits``); its light and
dynamic share are drawn from the seed, so the same data config always gives the same frames.
A cached frame holds the model inputs (points, intensity, camera images, K, T_cam_lidar) and
labels (per-point train-id semantic + instance, per-pixel camera semantic), written with
``np.savez_compressed`` and read with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from panoptic_datasets.splits import split_seed
from panoptic_datasets.world import LabeledFrame, SceneConfig, make_rig, simulate
from panoptic_perception.core import unpack_label
from panoptic_perception.models import RangeViewSpec, UPFuseBatch, collate

from .config import LIGHT_NAMES, DataConfig
from .errors import TrainingDataError

SAMPLE_KEYS = ("points", "semantic", "instance", "images", "camera_semantic", "K", "T_cam_lidar", "light", "seed", "index")


def scene_for_seed(seed: int, config: DataConfig) -> SceneConfig:
    """The scene of one sequence: light and dynamic share drawn from its seed."""
    rng = np.random.default_rng([seed, 2024])
    weights = np.asarray(config.light_weights, dtype=float)
    light = LIGHT_NAMES[int(rng.choice(len(LIGHT_NAMES), p=weights / weights.sum()))]
    lo, hi = config.dynamic_share_range
    return SceneConfig(seed=seed, light=light, dynamic_share=float(rng.uniform(lo, hi)))


def sequence_seeds(config: DataConfig) -> list[int]:
    return [split_seed(config.split, config.first_sequence + k) for k in range(config.num_sequences)]


def sequence_windows(config: DataConfig, window: int) -> list[list[int]]:
    """Dataset indices of every run of ``window`` consecutive frames of one sequence (MOPT's mini-sequences)."""
    if not 1 <= window <= config.frames_per_sequence:
        raise TrainingDataError(f"a window of {window} frames needs 1 <= window <= data.frames_per_sequence "
                                f"({config.frames_per_sequence})")
    per = config.frames_per_sequence
    starts = range(per - window + 1)
    return [[s * per + start + j for j in range(window)] for s in range(config.num_sequences) for start in starts]


def cache_root(config: DataConfig) -> Path:
    """Folder of this rig/scene recipe; the hash covers everything that changes the frames."""
    recipe = {"rig": config.rig, "frames": config.frames_per_sequence, "light_weights": list(config.light_weights),
              "dynamic_share_range": list(config.dynamic_share_range)}
    digest = hashlib.sha1(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:8]
    return Path(config.cache_dir) / f"{config.rig}-n{config.frames_per_sequence}-{digest}"


def frame_path(config: DataConfig, seed: int, index: int) -> Path:
    return cache_root(config) / f"seq{seed:04d}" / f"{index:03d}.npz"


def frame_to_arrays(frame: LabeledFrame, seed: int, light: str) -> dict[str, np.ndarray]:
    names = sorted(frame.sensor.cameras)
    if not names:
        raise TrainingDataError(f"sequence {seed} frame {frame.sensor.index}: no camera image (dropout)")
    semantic, instance = unpack_label(frame.point_label)
    cams = [frame.sensor.cameras[n] for n in names]
    return {
        "points": np.asarray(frame.sensor.points, dtype=np.float32),
        "semantic": semantic.astype(np.uint8),
        "instance": instance.astype(np.uint16),
        "images": np.stack([c.rgb for c in cams]),
        "camera_semantic": np.stack([frame.cameras[n].semantic for n in names]).astype(np.uint8),
        "K": np.stack([c.camera.K for c in cams]).astype(np.float64),
        "T_cam_lidar": np.stack([c.camera.T_cam_lidar for c in cams]).astype(np.float64),
        "light": np.array(LIGHT_NAMES.index(light), dtype=np.int64),
        "seed": np.array(seed, dtype=np.int64),
        "index": np.array(frame.sensor.index, dtype=np.int64),
    }


def generate_sequence(config: DataConfig, seed: int) -> None:
    """Simulate one sequence and write its frames (atomically: temp file, then rename)."""
    scene = scene_for_seed(seed, config)
    rig = make_rig(config.rig)
    for frame in simulate(scene, rig, config.frames_per_sequence):
        path = frame_path(config, seed, frame.sensor.index)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
        np.savez_compressed(tmp, **frame_to_arrays(frame, seed, scene.light))
        tmp.replace(path)


def _generate(args: tuple[DataConfig, int]) -> int:
    torch.set_num_threads(1)
    generate_sequence(*args)
    return args[1]


def ensure_cache(config: DataConfig, workers: int = 1, progress: bool = True) -> list[Path]:
    """Generate every missing sequence of ``config``; returns all frame paths in order."""
    seeds = sequence_seeds(config)
    missing = [s for s in seeds if not all(frame_path(config, s, i).exists() for i in range(config.frames_per_sequence))]
    if missing:
        bar = tqdm(total=len(missing), desc=f"caching {config.split} sequences", unit="seq", disable=not progress)
        if workers > 1:
            import multiprocessing

            with multiprocessing.get_context("spawn").Pool(workers) as pool:
                for _ in pool.imap_unordered(_generate, [(config, s) for s in missing]):
                    bar.update()
        else:
            for s in missing:
                generate_sequence(config, s)
                bar.update()
        bar.close()
    return [frame_path(config, s, i) for s in seeds for i in range(config.frames_per_sequence)]


def load_sample(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            sample = {k: npz[k] for k in SAMPLE_KEYS}
    except (OSError, ValueError, KeyError) as err:
        raise TrainingDataError(f"{path}: unreadable cached frame ({err}); delete it to regenerate") from err
    if sample["points"].ndim != 2 or sample["points"].shape[1] != 4 or len(sample["semantic"]) != len(sample["points"]):
        raise TrainingDataError(f"{path}: points must be (N, 4) with N labels, got {sample['points'].shape}")
    return sample


class SyntheticPanopticDataset(Dataset):
    """Cached frames of ``config``'s sequences; items are dicts of numpy arrays (no augmentation)."""

    def __init__(self, config: DataConfig, generate: bool = True, workers: int = 1, progress: bool = True) -> None:
        self.config = config
        if generate:
            self.paths = ensure_cache(config, workers, progress)
        else:
            self.paths = [frame_path(config, s, i) for s in sequence_seeds(config) for i in range(config.frames_per_sequence)]
            absent = [p for p in self.paths if not p.exists()]
            if absent:
                raise TrainingDataError(f"{len(absent)} cached frames missing, e.g. {absent[0]}; run with generation on")

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        return load_sample(self.paths[index])


@dataclass
class TrainBatch:
    """Model inputs (the runtime's own ``UPFuseBatch``) and the labels, padded like the points."""

    inputs: UPFuseBatch
    semantic: torch.Tensor  # (B, N) long train ids, 0 = unlabeled / padding
    instance: torch.Tensor  # (B, N) long
    camera_semantic: torch.Tensor  # (B, M, H, W) long train ids
    light: torch.Tensor  # (B,) index into LIGHT_NAMES


def collate_samples(samples: list[dict[str, np.ndarray]], spec: RangeViewSpec, use_camera: bool = True) -> TrainBatch:
    """Stack samples into a ``TrainBatch``; ``use_camera=False`` marks every camera missing."""
    points = [torch.from_numpy(s["points"]) for s in samples]
    images = torch.from_numpy(np.stack([s["images"] for s in samples])).permute(0, 1, 4, 2, 3).float().div(255.0)
    K = torch.from_numpy(np.stack([s["K"] for s in samples])).float()
    T = torch.from_numpy(np.stack([s["T_cam_lidar"] for s in samples])).float()
    camera_valid = torch.full(images.shape[:2], use_camera, dtype=torch.bool)
    inputs = collate(points, spec, images, K, T, camera_valid)
    n = inputs.point_xyz.shape[1]
    semantic = torch.zeros(len(samples), n, dtype=torch.long)
    instance = torch.zeros(len(samples), n, dtype=torch.long)
    for i, s in enumerate(samples):
        semantic[i, : len(s["semantic"])] = torch.from_numpy(s["semantic"].astype(np.int64))
        instance[i, : len(s["instance"])] = torch.from_numpy(s["instance"].astype(np.int64))
    camera_semantic = torch.from_numpy(np.stack([s["camera_semantic"] for s in samples]).astype(np.int64))
    light = torch.tensor([int(s["light"]) for s in samples], dtype=torch.long)
    return TrainBatch(inputs, semantic, instance, camera_semantic, light)


def main(argv: list[str] | None = None) -> int:
    """``python -m panoptic_training.data CONFIG [key=value ...] [--workers N]``: fill the cache."""
    import argparse

    from .config import load_config

    parser = argparse.ArgumentParser(description="Generate and cache the synthetic frames of a training config.")
    parser.add_argument("config")
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    config = load_config(args.config, args.overrides)
    paths = ensure_cache(config.data, args.workers)
    print(f"{len(paths)} frames cached under {cache_root(config.data)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
