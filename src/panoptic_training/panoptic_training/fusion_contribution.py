"""How much of the camera reaches a trained UP-Fuse: per fusion scale, over held-out frames.

For every scale: the share of range cells a camera pixel maps to, the uncertainty U there, and the size of
the attention output F_A next to the LiDAR features F_L it is added to (mean L2 norm over channels in the
mapped cells; F_F = F_L + F_A). A camera the network ignores shows as |F_A| near 0.

    python -m panoptic_training.fusion_contribution --model models/upfuse_cpu --sequences 8

``--drift-deg`` hands the model every camera's calibration rotated by that angle (a random axis per frame, as
in ``evaluate_upfuse``): whether U rises when the camera features stop matching the cells they land in.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np
import torch

from panoptic_perception.models import UPFuse, UPFuseBatch, load_model

from .config import load_config
from .data import SyntheticPanopticDataset, collate_samples
from .errors import TrainingConfigError
from .evaluate_upfuse import DEFAULT_CONFIG, drifted


@dataclass
class ScaleContribution:
    mapped_share: float  # share of the scale's range cells a camera pixel maps to
    uncertainty: float  # mean U over the mapped cells
    lidar_norm: float  # mean |F_L| over the mapped cells
    attention_norm: float  # mean |F_A| over the mapped cells


@torch.no_grad()
def fusion_contribution(model: UPFuse, inputs: UPFuseBatch) -> list[ScaleContribution]:
    """One sweep (batch of one) through the LiDAR encoder, the camera warp and each scale's fusion."""
    if model.config.fusion != "upfuse":
        raise TrainingConfigError(f"fusion_contribution: needs a model with fusion 'upfuse', got {model.config.fusion!r}")
    f_lidar = model.encode_lidar(inputs)
    warped = model.warp_camera(inputs, [tuple(f.shape[-2:]) for f in f_lidar])
    scales = []
    for fusion, f_l, (f_c, cam_mask) in zip(model.fusion, f_lidar, warped, strict=True):
        out = fusion(f_l, f_c, cam_mask)
        mapped = cam_mask[:, 0].bool()
        f_a = out.fused - f_l
        if not mapped.any():
            scales.append(ScaleContribution(0.0, float("nan"), float("nan"), float("nan")))
            continue
        scales.append(ScaleContribution(
            mapped_share=float(mapped.float().mean()),
            uncertainty=float(out.uncertainty[:, 0][mapped].mean()),
            lidar_norm=float(f_l.norm(dim=1)[mapped].mean()),
            attention_norm=float(f_a.norm(dim=1)[mapped].mean()),
        ))
    return scales


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/upfuse_cpu")
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="config whose data section (test split) is read")
    parser.add_argument("--sequences", type=int, default=8, help="test sequences, first frame of each")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--drift-deg", type=float, default=0.0, help="calibration rotation handed to the model [deg]")
    parser.add_argument("--seed", type=int, default=0, help="seed of the drift axes")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = load_model(args.model).eval()
    config = load_config(args.config, ["data.split=test", "data.first_sequence=0", f"data.num_sequences={args.sequences}"])
    dataset = SyntheticPanopticDataset(config.data, generate=True)
    rng = np.random.default_rng(args.seed)
    per_frame = []
    for index in range(0, len(dataset), config.data.frames_per_sequence):
        batch = collate_samples([dataset[index]], model.config.range_spec).inputs
        axis = rng.normal(size=3)
        per_frame.append(fusion_contribution(model, drifted(batch, axis / np.linalg.norm(axis), args.drift_deg)))
    print(f"{args.model}, {len(per_frame)} test frames (first of each sequence), calibration drift {args.drift_deg:g} deg; "
          "mean (min-max) over frames")
    print("| stride | mapped cells | U | abs F_L | abs F_A | F_A / F_L |")
    print("| --- | --- | --- | --- | --- | --- |")
    for k, stride in enumerate(model.lidar_encoder.strides):
        values = np.array([[getattr(frame[k], f) for f in ("mapped_share", "uncertainty", "lidar_norm", "attention_norm")]
                           for frame in per_frame])
        mean, low, high = values.mean(0), values.min(0), values.max(0)
        print(f"| {stride} | {100 * mean[0]:.1f} % | {mean[1]:.2f} ({low[1]:.2f}-{high[1]:.2f}) | {mean[2]:.2f} | "
              f"{mean[3]:.2f} ({low[3]:.2f}-{high[3]:.2f}) | {mean[3] / mean[2]:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
