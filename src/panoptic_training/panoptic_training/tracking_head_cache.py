"""Per-instance tracking-head inputs of the training frames, computed once by the frozen network and kept as NPZ.

The network is the slow part (a fraction of a second per frame here); the head's FC layers on cached inputs
train in seconds. For every ground-truth thing instance (at least ``min_points`` points) of every cached
training frame the cache holds the head's ``appearance_shape`` inputs (``models.tracking_inputs``: the pooled
mask features, camera colour and shape, which hold the ``features`` inputs as their first columns), the class,
the instance id (kept by an object for its whole sequence in the synthetic world), the frame's index in its
sequence and the sequence seed. One NPZ, ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from panoptic_perception.models import SweepContext, UPFuse, instance_inputs, masks_to_segments

from .config import DataConfig
from .data import SyntheticPanopticDataset, collate_samples
from .errors import TrainingDataError
from .tracking_loss import gt_instance_masks

CACHE_INPUTS = "appearance_shape"


@dataclass
class InstanceCache:
    """K instances: ``inputs`` (K, D) float32 and (K,) int64 ``class_id``, ``instance``, ``frame``, ``sequence``."""

    inputs: np.ndarray
    class_id: np.ndarray
    instance: np.ndarray
    frame: np.ndarray
    sequence: np.ndarray

    def __post_init__(self) -> None:
        if self.inputs.ndim != 2:
            raise TrainingDataError(f"InstanceCache.inputs must be (K, D), got shape {self.inputs.shape}")
        k = self.inputs.shape[0]
        for f in fields(self)[1:]:
            if getattr(self, f.name).shape != (k,):
                raise TrainingDataError(f"InstanceCache.{f.name} must be ({k},), got shape {getattr(self, f.name).shape}")

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def select(self, keep: np.ndarray) -> InstanceCache:
        return InstanceCache(*(getattr(self, f.name)[keep] for f in fields(self)))

    @staticmethod
    def concatenate(parts: list[InstanceCache]) -> InstanceCache:
        if not parts:
            raise TrainingDataError("InstanceCache.concatenate: no parts")
        return InstanceCache(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(InstanceCache)))


def save_cache(path: Path, cache: InstanceCache) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial.npz")
    np.savez_compressed(partial, **{f.name: getattr(cache, f.name) for f in fields(cache)})
    partial.replace(path)


def load_cache(path: Path) -> InstanceCache:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {f.name: data[f.name] for f in fields(InstanceCache)}
    except (OSError, ValueError, KeyError) as err:
        raise TrainingDataError(f"{path}: not a readable tracking-head instance cache: {err}") from err
    return InstanceCache(arrays["inputs"].astype(np.float32), *(arrays[k].astype(np.int64) for k in
                                                                  ("class_id", "instance", "frame", "sequence")))


@torch.no_grad()
def frame_instances(model: UPFuse, sample: dict[str, np.ndarray], min_points: int) -> InstanceCache:
    """The ground-truth thing instances of one cached training frame with their head inputs (network run once)."""
    cfg = model.config
    batch = collate_samples([sample], cfg.range_spec).inputs
    out = model(batch)
    valid = batch.point_valid[0]
    semantic = torch.from_numpy(sample["semantic"].astype(np.int64))
    instance = torch.from_numpy(sample["instance"].astype(np.int64))
    masks, keys, classes = gt_instance_masks(semantic, instance, torch.ones(len(semantic), dtype=torch.bool),
                                             cfg.thing_class_ids, min_points)
    context = SweepContext(batch.point_xyz[0][valid], batch.images[0], batch.K[0], batch.T_cam_lidar[0], batch.camera_valid[0])
    segment = masks_to_segments(masks) if len(keys) else torch.zeros(len(semantic), dtype=torch.long)
    inputs = instance_inputs(CACHE_INPUTS, out.point_features[0][valid], segment, len(keys), context)
    k = len(keys)
    return InstanceCache(inputs.numpy().astype(np.float32), classes.numpy().astype(np.int64),
                         (keys & 0xFFFF).numpy().astype(np.int64), np.full(k, int(sample["index"]), np.int64),
                         np.full(k, int(sample["seed"]), np.int64))


def cache_path(directory: Path, data: DataConfig, model: UPFuse, min_points: int) -> Path:
    """Named by the frames (split, sequences, frames each) and the network's weights without the head."""
    state = model.state_dict()
    digest = hashlib.sha256(b"".join(state[k].numpy().tobytes() for k in state if not k.startswith("tracking_head.")))
    name = (f"{data.split}-s{data.first_sequence}-n{data.num_sequences}-f{data.frames_per_sequence}-m{min_points}-"
            f"{CACHE_INPUTS}-{digest.hexdigest()[:12]}.npz")
    return directory / name


def build_cache(model: UPFuse, data: DataConfig, min_points: int, directory: Path, progress: bool = True) -> InstanceCache:
    """The instance cache of ``data``'s frames (read when it exists, else made from the data cache and written)."""
    path = cache_path(directory, data, model, min_points)
    if path.is_file():
        return load_cache(path)
    dataset = SyntheticPanopticDataset(data, generate=False)
    model.eval()
    parts = [frame_instances(model, dataset[i], min_points)
             for i in tqdm(range(len(dataset)), desc="network on training frames", unit="frame", disable=not progress)]
    cache = InstanceCache.concatenate(parts)
    save_cache(path, cache)
    return cache


def cache_from_records(sequences: dict[str, tuple[str, list]]) -> InstanceCache:
    """The ground-truth instances of recorded drives (``evaluate_tracking.record_drives``: whole drives, so windows
    can span more than 3 consecutive sweeps) as an instance cache; ``sequence`` is the drive's index in ``sequences``."""
    parts = []
    for s, (_, records) in enumerate(sequences.values()):
        for f, rec in enumerate(records):
            if rec.oracle_inputs is None:
                raise TrainingDataError("tracking records without head inputs (written before they were kept)")
            k = len(rec.oracle_classes)
            if k == 0:
                continue
            owner = rec.oracle_segment - 1
            instance = np.zeros(k, np.int64)
            instance[owner[owner >= 0]] = rec.gt_inst[owner >= 0]
            parts.append(InstanceCache(rec.oracle_inputs.astype(np.float32), rec.oracle_classes.astype(np.int64), instance,
                                       np.full(k, f, np.int64), np.full(k, s, np.int64)))
    return InstanceCache.concatenate(parts)
