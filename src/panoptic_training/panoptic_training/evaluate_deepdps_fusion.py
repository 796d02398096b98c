"""PQ of the shipped UP-Fuse when its view transformation takes DeepDPS depth instead of classical depth completion.

Same held-out test frames, same fusion network (eager PyTorch); the only difference is
``UPFuseBatch.camera_depth``: None (LiDAR depth completed on the camera grid, what UP-Fuse was
trained with) or DeepDPS's dense depth of each image. A third row removes the camera (how much the
network relies on it at all).

    python -m panoptic_training.evaluate_deepdps_fusion
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from panoptic_perception.camera_only import load_deepdps
from panoptic_perception.metrics import PanopticEval
from panoptic_perception.models import load_model

from .config import load_config
from .data import SyntheticPanopticDataset, collate_samples
from .evaluate_upfuse import DEFAULT_CONFIG, result_row

SUBSET = ["data.split=test", "data.first_sequence=0", "data.num_sequences=8"]


def deepdps_depth(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """(B, M, 3, H, W) images -> (B, M, H, W) DeepDPS dense depth [m]."""
    b, m = images.shape[:2]
    predictions = model.predict(images.flatten(0, 1))
    return torch.stack([p.depth for p in predictions]).view(b, m, *images.shape[-2:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fusion", default="models/upfuse_cpu", help="UP-Fuse model directory")
    parser.add_argument("--deepdps", default="models/deepdps_cpu", help="DeepDPS model directory")
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="UP-Fuse config whose data section is read")
    parser.add_argument("--data", nargs="*", default=SUBSET, help="data overrides selecting the test frames")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--metrics-json", default="runs/eval/deepdps_fusion_metrics.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = load_config(args.config, args.data)
    fusion, deepdps = load_model(args.fusion).eval(), load_deepdps(args.deepdps)
    dataset = SyntheticPanopticDataset(config.data, generate=True)
    names = ("classical completion", "DeepDPS depth", "camera removed (L*)")
    evaluators = {name: PanopticEval(num_classes=20, ignore=(0,), convention="semantickitti") for name in names}
    start = time.perf_counter()
    with torch.inference_mode():
        for index in tqdm(range(len(dataset)), desc="UP-Fuse with DeepDPS depth", unit="frame"):
            sample = dataset[index]
            inputs = collate_samples([sample], fusion.config.range_spec, use_camera=True).inputs
            with_depth = dataclasses.replace(inputs, camera_depth=deepdps_depth(deepdps, inputs.images))
            no_camera = dataclasses.replace(inputs, camera_valid=torch.zeros_like(inputs.camera_valid))
            for name, batch in zip(names, (inputs, with_depth, no_camera), strict=True):
                pred = fusion.predict(batch)[0]
                evaluators[name].add_frame(pred.class_id.numpy(), pred.instance_id.numpy(),
                                           sample["semantic"].astype("int64"), sample["instance"].astype("int64"))
    seconds = time.perf_counter() - start
    rows = [result_row(name, ev) for name, ev in evaluators.items()]
    command = "python -m panoptic_training.evaluate_deepdps_fusion" + (
        "" if argv is None and len(sys.argv) == 1 else " " + shlex.join(sys.argv[1:] if argv is None else argv))
    doc = {"command": command, "frames": len(dataset), "data": args.data, "wall_seconds": round(seconds, 1), "rows": rows}
    Path(args.metrics_json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.metrics_json).write_text(json.dumps(doc, indent=2) + "\n")
    print("| view-transform depth | PQ | PQ_th | PQ_st | SQ | RQ | mIoU |\n| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['name']} | " + " | ".join(f"{100 * r[k]:.2f}" for k in ("pq", "pq_th", "pq_st", "sq", "rq", "miou")) + " |")
    print(f"{len(dataset)} test frames, {seconds:.0f} s; metrics in {args.metrics_json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
