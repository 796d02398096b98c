"""Evaluate DeepDPS and its two ablations on held-out test-split camera frames, in one run over the same frames.

Rows: full (the shipped model), no guidance (trained without the semantic-to-depth and
depth-to-semantic guidance losses), no backup query. Columns: DPQ (mean over lambda 0.5 / 0.25 /
0.1, and each), image PQ (things, stuff), and depth against the dense ground truth (abs-rel,
delta < 1.25, RMSE) and against the LiDAR-sparse depth (abs-rel). Depth ground truth beyond
80 m (the model's D_max) is ignored. Writes a metrics JSON and a picture of one frame.

    python -m panoptic_training.evaluate_deepdps
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

from panoptic_perception.core import load_class_table  # noqa: E402
from panoptic_perception.metrics import DepthAwarePanopticEval, DepthEval, ImagePanopticEval  # noqa: E402
from panoptic_perception.models import load_model  # noqa: E402
from panoptic_perception.models.deepdps import DeepDPS, DepthPanopticPrediction  # noqa: E402

from .config import DataConfig, load_config  # noqa: E402
from .deepdps_data import CameraDepthDataset  # noqa: E402
from .deepdps_train import deepdps_from_run  # noqa: E402

DEFAULT_CONFIG = "src/panoptic_training/config/deepdps_cpu.yaml"
TEST_OVERRIDES = ["data.split=test", "data.first_sequence=0", "data.num_sequences=16"]
THRESHOLDS = (0.5, 0.25, 0.1)
MAX_DEPTH = 80.0


def load_deepdps_any(path: str | Path) -> tuple[DeepDPS, dict[str, Any]]:
    """An exported model directory (model.json) or a training run directory (its newest checkpoint)."""
    path = Path(path)
    if (path / "model.json").is_file():
        steps = json.loads((path / "model.json").read_text()).get("metadata", {}).get("steps")
        info = {"source": str(path)} | ({"steps": int(steps)} if steps else {})
        return load_model(path, architecture="deepdps").eval(), info
    model, config, step = deepdps_from_run(path)
    return model, {"source": str(path), "steps": step}


class ModelScores:
    """Streaming metrics of one model."""

    def __init__(self) -> None:
        self.dpq = DepthAwarePanopticEval(thresholds=THRESHOLDS)
        self.pq = ImagePanopticEval()
        self.depth = DepthEval(max_depth=MAX_DEPTH)
        self.lidar = DepthEval(max_depth=MAX_DEPTH)
        self.seconds: list[float] = []

    def add(self, p: DepthPanopticPrediction, sample: dict[str, np.ndarray], seconds: float) -> None:
        sem, inst = sample["semantic"].astype(np.int64), sample["instance"].astype(np.int64)
        gt_depth = sample["depth"].astype(np.float64)
        gt_depth[gt_depth > MAX_DEPTH] = 0.0
        pred_sem, pred_inst, pred_depth = p.class_id.numpy(), p.instance_id.numpy(), p.depth.numpy()
        self.dpq.add_frame(pred_sem, pred_inst, pred_depth, sem, inst, gt_depth)
        self.pq.add_frame(pred_sem, pred_inst, sem, inst)
        self.depth.add_frame(pred_depth, gt_depth)
        self.lidar.add_frame(pred_depth, sample["lidar_depth"].astype(np.float64))
        self.seconds.append(seconds)

    def row(self, name: str, info: dict[str, Any]) -> dict[str, Any]:
        dpq, pq, depth, lidar = self.dpq.compute(), self.pq.compute(), self.depth.compute(), self.lidar.compute()
        return {
            "name": name, **info, "frames": depth.frames,
            "dpq": dpq.dpq, **{f"dpq_{k}": v.pq for k, v in dpq.per_threshold.items()},
            "pq": pq.pq, "pq_th": pq.pq_things, "pq_st": pq.pq_stuff,
            "abs_rel": depth.abs_rel, "delta1": depth.delta1, "rmse": depth.rmse, "abs_rel_lidar": lidar.abs_rel,
            "ms_per_image": 1000 * float(np.median(self.seconds)) if self.seconds else float("nan"),
        }


def evaluate(models: dict[str, tuple[DeepDPS, dict[str, Any]]], dataset: CameraDepthDataset,
             progress: bool = True) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every model on every frame; also returns the first frame's sample and predictions for the picture."""
    scores = {name: ModelScores() for name in models}
    example: dict[str, Any] = {}
    for index in tqdm(range(len(dataset)), desc="evaluating DeepDPS", unit="frame", disable=not progress):
        sample = dataset[index]
        image = torch.from_numpy(sample["images"]).permute(2, 0, 1)[None].float().div(255.0)
        for name, (model, _) in models.items():
            start = time.perf_counter()
            prediction = model.predict(image)[0]
            scores[name].add(prediction, sample, time.perf_counter() - start)
            if index == 0:
                example[name] = prediction
        if index == 0:
            example["sample"] = sample
    return [scores[name].row(name, info) for name, (_, info) in models.items()], example


def colorize(class_id: np.ndarray, instance_id: np.ndarray) -> np.ndarray:
    """Class colours, thing instances shaded so that neighbouring instances differ."""
    colors = load_class_table().colors().astype(np.float64)
    rgb = colors[class_id]
    shade = 0.55 + 0.45 * ((instance_id * 0.618) % 1.0)
    rgb = np.where((instance_id > 0)[..., None], rgb * shade[..., None], rgb)
    return rgb.clip(0, 255).astype(np.uint8)


def plot_example(example: dict[str, Any], path: Path) -> None:
    sample = example["sample"]
    full: DepthPanopticPrediction = example["full"]
    gt_depth = sample["depth"].astype(np.float64)
    gt_depth[(gt_depth <= 0) | (gt_depth > MAX_DEPTH)] = np.nan
    image = sample["images"]
    overlay = (0.45 * image + 0.55 * colorize(full.class_id.numpy(), full.instance_id.numpy())).astype(np.uint8)
    panels = [
        ("camera image (test split)", image, None),
        ("ground-truth panoptic", colorize(sample["semantic"].astype(np.int64), sample["instance"].astype(np.int64)), None),
        ("DeepDPS panoptic (overlay)", overlay, None),
        ("ground-truth depth [m]", gt_depth, "magma_r"),
        ("DeepDPS dense depth [m]", full.depth.numpy(), "magma_r"),
        ("depth uncertainty sigma/(d+sigma)", full.uncertainty.numpy(), "viridis"),
    ]
    fig, axes = plt.subplots(3, 2, figsize=(11, 5.0))
    for ax, (title, data, cmap) in zip(axes.T.flatten(), panels, strict=True):  # left: panoptic, right: depth
        if cmap is None:
            ax.imshow(data)
        else:
            vmax = MAX_DEPTH if "depth [m]" in title else None
            im = ax.imshow(data, cmap=cmap, vmin=0, vmax=vmax)
            fig.colorbar(im, ax=ax, fraction=0.015, pad=0.01)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    head = ("| model | steps | DPQ | DPQ λ=0.5 | DPQ λ=0.25 | DPQ λ=0.1 | PQ | PQ_th | PQ_st | abs-rel | δ<1.25 | RMSE [m] "
            "| abs-rel (LiDAR) | ms/image |")
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for r in rows:
        percent = [100 * r[k] for k in ("dpq", "dpq_0.5", "dpq_0.25", "dpq_0.1", "pq", "pq_th", "pq_st")]
        cells = [r["name"], str(r.get("steps", "-")), *(f"{v:.1f}" for v in percent), f"{r['abs_rel']:.3f}",
                 f"{100 * r['delta1']:.1f}", f"{r['rmse']:.2f}", f"{r['abs_rel_lidar']:.3f}", f"{r['ms_per_image']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", default="models/deepdps_cpu", help="full model: exported dir or training run")
    parser.add_argument("--no-guidance", default="runs/deepdps_cpu_no_guidance", help="ablation without guidance losses")
    parser.add_argument("--no-backup", default="runs/deepdps_cpu_no_backup", help="ablation without the backup query")
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="config whose data section (with test overrides) is read")
    parser.add_argument("--data", nargs="*", default=TEST_OVERRIDES, help="data overrides selecting the test frames")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--metrics-json", default="runs/eval/deepdps_metrics.json")
    parser.add_argument("--plot", default="docs/images/deepdps_example.png")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    data: DataConfig = load_config(args.config, args.data).data
    dataset = CameraDepthDataset(data, generate=True, progress=not args.no_progress)
    models = {"full": load_deepdps_any(args.full)}
    for name, path in (("no guidance", args.no_guidance), ("no backup query", args.no_backup)):
        if path:
            models[name] = load_deepdps_any(path)
    start = time.perf_counter()
    rows, example = evaluate(models, dataset, progress=not args.no_progress)
    seconds = time.perf_counter() - start
    command = "python -m panoptic_training.evaluate_deepdps " + shlex.join(argv if argv is not None else sys.argv[1:])
    doc = {"command": command.strip(), "frames": len(dataset), "split": data.split,
           "sequences": f"{data.first_sequence}..{data.first_sequence + data.num_sequences - 1} of {data.split}",
           "wall_seconds": round(seconds, 1), "rows": rows}
    out = Path(args.metrics_json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    plot_example(example, Path(args.plot))
    print(markdown_table(rows))
    print(f"{len(dataset)} test images, {seconds:.0f} s; metrics in {out}, picture in {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
