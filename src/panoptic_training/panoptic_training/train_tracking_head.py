"""Train the tracking head on cached per-instance inputs (``tracking_head_cache``) and attach it to a model directory.

MOPT's batch-hard triplet loss (margin 0.2) over mini-sequences of t_w = 3 consecutive frames of the training
split, the network frozen (its features are cached once), so a run takes seconds to minutes on one thread.
``attach`` writes a model directory whose network weights are bit-identical to the source's (checked by
sha256) with the new head and its input definition (``UPFuseConfig.tracking_inputs``).

    python -m panoptic_training.train_tracking_head --out runs/tracking_head_appearance
    python -m panoptic_training.train_tracking_head --out runs/tracking_head_appearance --attach models/upfuse_cpu
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from panoptic_perception.models import (
    INPUT_KINDS,
    TrackingHead,
    UPFuse,
    UPFuseConfig,
    batch_hard_triplet_loss,
    columns_for,
    load_model,
    save_model,
    thing_slots,
)

from .config import DataConfig
from .errors import TrainingConfigError, TrainingDataError
from .tracking_head_cache import InstanceCache, build_cache, cache_from_records

HEAD_FILE, SUMMARY_FILE = "head.safetensors", "head.json"


@dataclass
class HeadTrainingConfig:
    inputs: str = "appearance_shape"  # tracking_inputs.INPUT_KINDS
    steps: int = 3000
    windows_per_step: int = 8  # mini-sequences per step; negatives come from all of them
    window: int = 3  # t_w
    max_stride: int = 1  # windows also of every k-th sweep, k <= max_stride (recorded drives: re-identification gaps)
    lr: float = 0.001
    weight_decay: float = 0.0001
    margin: float = 0.2
    hidden: int = 128
    dim: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        if self.inputs not in INPUT_KINDS:
            raise TrainingConfigError(f"inputs must be one of {INPUT_KINDS}, got {self.inputs!r}")
        if min(self.steps, self.windows_per_step, self.window, self.max_stride, self.hidden, self.dim) < 1 or self.lr <= 0:
            raise TrainingConfigError("steps, windows_per_step, window, max_stride, hidden and dim must be >= 1 and lr > 0")


def windows(cache: InstanceCache, window: int, max_stride: int = 1) -> list[np.ndarray]:
    """Instance indices of every mini-sequence of ``window`` frames s, s + k, ..., s + (window - 1) k of one sequence
    (k = 1 .. ``max_stride``; k = 1: consecutive frames) that holds all of its frames and at least 2 instances."""
    out = []
    for seq in np.unique(cache.sequence):
        in_seq = np.flatnonzero(cache.sequence == seq)
        frames = cache.frame[in_seq]
        present = set(np.unique(frames).tolist())
        for stride in range(1, max_stride + 1):
            for start in sorted(present):
                members = [start + j * stride for j in range(window)]
                if not present.issuperset(members):
                    continue
                take = in_seq[np.isin(frames, members)]
                if len(take) >= 2:
                    out.append(take)
    return out


def triplet_step_loss(head: TrackingHead, x: torch.Tensor, cache: InstanceCache, chosen: list[np.ndarray],
                      thing_ids: tuple[int, ...], margin: float) -> tuple[torch.Tensor, int]:
    """The batch-hard triplet loss over the instances of the ``chosen`` windows (identities never cross windows)."""
    index = np.concatenate(chosen)
    window_of = np.concatenate([np.full(len(w), k, np.int64) for k, w in enumerate(chosen)])
    classes = torch.from_numpy(cache.class_id[index])
    vectors = head.input_vectors(x[index], thing_slots(classes, thing_ids))
    identity = torch.from_numpy((window_of << 40) | (cache.class_id[index] << 20) | cache.instance[index])
    frame = torch.from_numpy(window_of * 100_000 + cache.frame[index])
    return batch_hard_triplet_loss(vectors, identity, frame, classes, margin)


def train_head(cache: InstanceCache, thing_ids: tuple[int, ...], feature_dim: int, config: HeadTrainingConfig,
               progress: bool = True) -> tuple[TrackingHead, list[float]]:
    """A head trained on the cache; returns it (eval mode) and the loss of every step."""
    torch.manual_seed(config.seed)
    if not np.isin(cache.class_id, thing_ids).all():
        raise TrainingDataError(f"instance classes {sorted(set(cache.class_id.tolist()) - set(thing_ids))} are not things")
    head = TrackingHead(feature_dim, len(thing_ids), config.hidden, config.dim, config.inputs)
    x = columns_for(config.inputs, torch.from_numpy(cache.inputs), feature_dim).float()
    if head.standardised:
        head.set_input_statistics(x.mean(0), x.std(0))
    runs = windows(cache, config.window, config.max_stride)
    if not runs:
        raise TrainingDataError(f"no {config.window}-frame window with two instances in the cache")
    optimizer = torch.optim.AdamW(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: (1 - s / config.steps) ** 0.9)
    rng = np.random.default_rng(config.seed)
    order, position, losses = rng.permutation(len(runs)), 0, []
    head.train()
    for _ in tqdm(range(config.steps), desc="tracking head", disable=not progress):
        chosen = []
        for _ in range(config.windows_per_step):
            if position == len(order):
                order, position = rng.permutation(len(runs)), 0
            chosen.append(runs[order[position]])
            position += 1
        loss, _ = triplet_step_loss(head, x, cache, chosen, thing_ids, config.margin)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(float(loss.detach()))
    return head.eval(), losses


@torch.no_grad()
def mean_triplet_loss(head: TrackingHead, cache: InstanceCache, thing_ids: tuple[int, ...], feature_dim: int,
                      window: int = 3, margin: float = 0.2, per_batch: int = 8) -> float:
    """The triplet loss over all windows of ``cache``, ``per_batch`` windows at a time (a fixed evaluation)."""
    x = columns_for(head.inputs, torch.from_numpy(cache.inputs), feature_dim).float()
    runs = windows(cache, window)
    total, anchors = 0.0, 0
    for start in range(0, len(runs), per_batch):
        loss, count = triplet_step_loss(head, x, cache, runs[start:start + per_batch], thing_ids, margin)
        total, anchors = total + float(loss) * count, anchors + count
    return total / max(anchors, 1)


def core_sha256(state: dict[str, torch.Tensor]) -> str:
    """sha256 over the network's weights without the tracking head (names sorted)."""
    digest = hashlib.sha256()
    for name in sorted(k for k in state if not k.startswith("tracking_head.")):
        digest.update(name.encode())
        digest.update(state[name].detach().contiguous().numpy().tobytes())
    return digest.hexdigest()


def attach(run_dir: Path, source_dir: Path, out_dir: Path, onnx: bool = True) -> str:
    """Write ``out_dir``: ``source_dir``'s network with the run's head; refuses unless the network's weights are
    bit-identical to the source's (sha256 over every non-head weight). Returns that sha256."""
    summary = json.loads((run_dir / SUMMARY_FILE).read_text())
    source = load_model(source_dir)
    config = dataclasses.replace(source.config, tracking_head=True, tracking_inputs=summary["config"]["inputs"],
                                 tracking_hidden=summary["config"]["hidden"], association_dim=summary["config"]["dim"])
    model = UPFuse(config)
    state = {k: v for k, v in source.state_dict().items() if not k.startswith("tracking_head.")}
    state |= {f"tracking_head.{k}": v for k, v in load_file(str(run_dir / HEAD_FILE)).items()}
    model.load_state_dict(state, strict=True)
    before, after = core_sha256(source.state_dict()), core_sha256(model.state_dict())
    if before != after:
        raise TrainingConfigError(f"attach: the network weights changed ({before[:12]} -> {after[:12]}); refusing")
    metadata = json.loads((source_dir / "model.json").read_text()).get("metadata", {})
    for key in [k for k in metadata if k.startswith("tracking_head_")]:
        del metadata[key]
    metadata |= {"tracking_head_run": str(run_dir), "tracking_head_inputs": config.tracking_inputs,
                 "tracking_head_steps": str(summary["config"]["steps"]),
                 "tracking_head_wall_seconds": f"{summary['wall_seconds']:.0f}", "core_sha256": after}
    save_model(model.eval(), out_dir, metadata)
    if not core_sha256(load_model(out_dir).state_dict()) == after:
        raise TrainingConfigError(f"attach: {out_dir} does not read back with the network's weights")
    (out_dir / "model.onnx").unlink(missing_ok=True)  # its weights hash is the old model's
    if onnx:
        from panoptic_perception.inference import write_model_onnx

        write_model_onnx(out_dir)
    return after


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/upfuse_cpu", help="model directory whose frozen network gives the features")
    parser.add_argument("--out", default="runs/tracking_head_appearance", help="run directory (head + summary)")
    parser.add_argument("--source", choices=("frames", "drives"), default="frames",
                        help="frames: the training data cache's 3-frame sequences; drives: whole recorded train-split drives")
    parser.add_argument("--cache", default="runs/eval/tracking_head_cache", help="instance cache directory (frames)")
    parser.add_argument("--first-sequence", type=int, default=0, help="first train-split sequence (frames)")
    parser.add_argument("--sequences", type=int, default=100, help="train-split sequences, 3 cached frames each (frames)")
    parser.add_argument("--first-drive", type=int, default=200, help="first train-split drive (drives)")
    parser.add_argument("--normal", type=int, default=8, help="normal train-split drives (drives)")
    parser.add_argument("--occluded", type=int, default=8, help="occlusion-heavy train-split drives (drives)")
    parser.add_argument("--frames", type=int, default=30, help="frames per drive (drives)")
    parser.add_argument("--records", default="runs/eval/tracking_records", help="NPZ records per drive (drives)")
    parser.add_argument("--min-points", type=int, default=5)
    for f in dataclasses.fields(HeadTrainingConfig):
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)
    parser.add_argument("--attach", default="", help="after training, write the model with the new head here")
    parser.add_argument("--no-onnx", action="store_true")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    config = HeadTrainingConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(HeadTrainingConfig)})
    start = time.perf_counter()
    model = load_model(args.model).eval()
    if args.source == "frames":
        data = DataConfig(split="train", first_sequence=args.first_sequence, num_sequences=args.sequences)
        cache = build_cache(model, data, args.min_points, Path(args.cache), not args.no_progress)
    else:
        from .evaluate_tracking import record_drives, test_scenes

        scenes = test_scenes(args.normal, args.occluded, args.first_drive, "train")
        drives, _ = record_drives(model, scenes, args.frames, args.min_points, Path(args.records), not args.no_progress)
        cache = cache_from_records(drives)
    cache_s = time.perf_counter() - start
    cfg: UPFuseConfig = model.config
    head, losses = train_head(cache, cfg.thing_class_ids, cfg.mask_dim, config, not args.no_progress)
    wall = time.perf_counter() - start
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in head.state_dict().items()}, str(out / HEAD_FILE))
    summary: dict[str, Any] = {
        "command": "python -m panoptic_training.train_tracking_head " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "config": dataclasses.asdict(config), "model": args.model, "instances": len(cache),
        "sequences": int(len(np.unique(cache.sequence))), "frames": int(len(np.unique(cache.sequence * 1000 + cache.frame))),
        "loss_first_50": float(np.mean(losses[:50])), "loss_last_50": float(np.mean(losses[-50:])),
        "loss_all_windows": mean_triplet_loss(head, cache, cfg.thing_class_ids, cfg.mask_dim, config.window, config.margin),
        "cache_seconds": cache_s, "wall_seconds": wall, "load_average": Path("/proc/loadavg").read_text().split()[:3],
    }
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "config"}, indent=1))
    if args.attach:
        sha = attach(out, Path(args.model), Path(args.attach), onnx=not args.no_onnx)
        print(f"wrote {args.attach} (network weights sha256 {sha}, unchanged)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
