"""Frame pairs of the synthetic world for the flow update operator, generated once and cached as NPZ.

One sample is (img0, img1) of one camera at frames i and i+1 with the world's forward flow of
frame i [px] (NaN where undefined) and the dynamic mask: pixels of objects the world marks as
moving (``ObjectState.moving``, matched by instance id). Cameras are rendered directly at
``data.image_scale`` of the rig's size (intrinsics scaled), so the flow is exact at that size.
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

from panoptic_datasets.world import LabeledFrame, Rig, make_rig, simulate
from panoptic_perception.core import CameraModel

from .config import LIGHT_NAMES, DataConfig
from .data import scene_for_seed, sequence_seeds
from .errors import TrainingDataError

FLOW_KEYS = ("img0", "img1", "flow", "dynamic", "light", "seed", "index")


def scaled_camera(cam: CameraModel, scale: float) -> CameraModel:
    """The same camera rendered at ``scale`` of its size (intrinsics scaled per axis)."""
    width, height = max(round(cam.width * scale), 8), max(round(cam.height * scale), 8)
    K = cam.K.copy()
    K[0] *= width / cam.width
    K[1] *= height / cam.height
    return CameraModel(cam.name, width, height, K, cam.T_cam_lidar.copy(), cam.D.copy())


def flow_rig(config: DataConfig) -> Rig:
    rig = make_rig(config.rig)
    cameras = {name: scaled_camera(cam, config.image_scale) for name, cam in rig.cameras.items()}
    return Rig(rig.lidar, cameras, rig.T_base_lidar)


def flow_cache_root(config: DataConfig) -> Path:
    recipe = {"rig": config.rig, "pairs": config.frames_per_sequence, "scale": config.image_scale,
              "light_weights": list(config.light_weights), "dynamic_share_range": list(config.dynamic_share_range)}
    digest = hashlib.sha1(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:8]
    return Path(config.cache_dir) / f"flow-{config.rig}-n{config.frames_per_sequence}-{digest}"


def pair_paths(config: DataConfig, seed: int) -> list[Path]:
    names = sorted(flow_rig(config).cameras)
    root = flow_cache_root(config) / f"seq{seed:04d}"
    return [root / f"{i:03d}_{name}.npz" for i in range(config.frames_per_sequence) for name in names]


def moving_mask(frame: LabeledFrame, camera: str) -> np.ndarray:
    """(H, W) bool: pixels whose instance is an object the world moves at this frame."""
    moving = [o.instance_id for o in frame.objects if o.moving]
    return np.isin(frame.cameras[camera].instance, np.asarray(moving, dtype=np.int64))


def pair_arrays(frame0: LabeledFrame, frame1: LabeledFrame, camera: str, seed: int, light: str) -> dict[str, np.ndarray]:
    if camera not in frame0.sensor.cameras or camera not in frame1.sensor.cameras:
        raise TrainingDataError(f"sequence {seed} frame {frame0.sensor.index}: camera {camera!r} has no image (dropout)")
    flow = frame0.cameras[camera].flow
    if flow is None:
        raise TrainingDataError(f"sequence {seed} frame {frame0.sensor.index}: camera {camera!r} has no flow ground truth")
    return {
        "img0": frame0.sensor.cameras[camera].rgb,
        "img1": frame1.sensor.cameras[camera].rgb,
        "flow": flow.astype(np.float32),
        "dynamic": moving_mask(frame0, camera),
        "light": np.array(LIGHT_NAMES.index(light), dtype=np.int64),
        "seed": np.array(seed, dtype=np.int64),
        "index": np.array(frame0.sensor.index, dtype=np.int64),
    }


def generate_flow_sequence(config: DataConfig, seed: int) -> None:
    """Simulate ``frames_per_sequence + 1`` frames and write each camera's consecutive pairs (atomically)."""
    scene = scene_for_seed(seed, config)
    frames = list(simulate(scene, flow_rig(config), config.frames_per_sequence + 1))
    for frame0, frame1 in zip(frames[:-1], frames[1:], strict=True):
        for name in sorted(frame0.cameras):
            path = flow_cache_root(config) / f"seq{seed:04d}" / f"{frame0.sensor.index:03d}_{name}.npz"
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
            np.savez_compressed(tmp, **pair_arrays(frame0, frame1, name, seed, scene.light))
            tmp.replace(path)


def load_pair(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            sample = {k: npz[k] for k in FLOW_KEYS}
    except (OSError, ValueError, KeyError) as err:
        raise TrainingDataError(f"{path}: unreadable cached pair ({err}); delete it to regenerate") from err
    h, w = sample["img0"].shape[:2]
    if sample["img1"].shape != sample["img0"].shape or sample["flow"].shape != (h, w, 2) or sample["dynamic"].shape != (h, w):
        raise TrainingDataError(f"{path}: img0, img1, flow and dynamic disagree in size")
    return sample


class FlowPairDataset(Dataset):
    """Cached frame pairs of ``config``'s sequences; items are dicts of numpy arrays."""

    def __init__(self, config: DataConfig, generate: bool = True, progress: bool = True) -> None:
        self.config = config
        seeds = sequence_seeds(config)
        if generate:
            missing = [s for s in seeds if not all(p.exists() for p in pair_paths(config, s))]
            for seed in tqdm(missing, desc=f"caching {config.split} flow pairs", unit="seq", disable=not progress):
                generate_flow_sequence(config, seed)
        self.paths = [p for s in seeds for p in pair_paths(config, s)]
        absent = [p for p in self.paths if not p.exists()]
        if absent:
            raise TrainingDataError(f"{len(absent)} cached pairs missing, e.g. {absent[0]}; run with generation on")

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        return load_pair(self.paths[index])


def mirror_pair(sample: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Left-right mirror: images, masks and flow fields flipped, the flow's x component negated."""
    out = dict(sample)
    for key in ("img0", "img1", "flow", "dynamic"):
        out[key] = np.ascontiguousarray(sample[key][:, ::-1])
    out["flow"][..., 0] *= -1
    return out


@dataclass
class FlowBatch:
    img0: torch.Tensor  # (B, 3, H, W) float in [0, 1]
    img1: torch.Tensor
    flow: torch.Tensor  # (B, 2, H, W) [px], 0 where undefined
    valid: torch.Tensor  # (B, 1, H, W) bool, flow defined
    dynamic: torch.Tensor  # (B, 1, H, W) float {0, 1}, pixel of a moving object


def collate_pairs(samples: list[dict[str, np.ndarray]]) -> FlowBatch:
    def images(key: str) -> torch.Tensor:
        return torch.from_numpy(np.stack([s[key] for s in samples])).permute(0, 3, 1, 2).float().div(255.0)

    flow = torch.from_numpy(np.stack([s["flow"] for s in samples])).permute(0, 3, 1, 2).contiguous()
    valid = torch.isfinite(flow).all(dim=1, keepdim=True)
    dynamic = torch.from_numpy(np.stack([s["dynamic"] for s in samples])).unsqueeze(1).float()
    return FlowBatch(images("img0"), images("img1"), torch.nan_to_num(flow, nan=0.0), valid, dynamic)
