"""DIS vs the learned update operator on held-out frame pairs of the synthetic world's test split.

``python -m panoptic_training.evaluate_flow [--sequences 20] [--scales 0.5 0.25]``: for every image
scale (1 = KITTI's 1241x376), each front end's EPE and outlier rate (EPE > 3 px) over all, static and
dynamic pixels whose ground-truth correspondence is in view, how well its confidence ranks accurate
pixels (ROC AUC of EPE < 1 px, EPE of its most confident half, EPE of pixels with confidence > 0.5 and
their share), the learned dynamic mask's IoU with the moving-object pixels (whole image), and the median
milliseconds per pair. "guided" rows start from the flow a perfect ego-pose prediction induces
(``static_scene_flow``), as the odometry stage's guided flow does with its predicted pose. Flow errors
are in pixels of the evaluated scale.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from scipy import ndimage
from tqdm import tqdm

from panoptic_perception.odometry import DISFlow, LearnedFlow

from .config import DataConfig
from .flow_data import FlowPairDataset

OUTLIER_PX = 3.0
ACCURATE_PX = 1.0
REGIONS = ("all", "static", "dynamic")


def roc_auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count half); NaN if one class is empty."""
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score), dtype=np.float64)
    sorted_scores = score[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def in_view(flow_gt: np.ndarray) -> np.ndarray:
    """Pixels with defined ground truth whose correspondence ``x + flow`` lies inside img1 (no matcher sees the rest)."""
    height, width = flow_gt.shape[:2]
    v, u = np.mgrid[0:height, 0:width]
    with np.errstate(invalid="ignore"):
        x, y = u + flow_gt[..., 0], v + flow_gt[..., 1]
        return np.isfinite(flow_gt).all(axis=-1) & (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)


@dataclass
class Accumulator:
    """Per-pixel errors, confidences and regions of one method over all pairs."""

    epe: list[np.ndarray] = field(default_factory=list)
    confidence: list[np.ndarray] = field(default_factory=list)
    dynamic_gt: list[np.ndarray] = field(default_factory=list)
    intersection: int = 0
    union: int = 0
    has_mask: bool = False
    ms: list[float] = field(default_factory=list)

    def add(self, flow: np.ndarray, conf: np.ndarray, flow_gt: np.ndarray, dynamic_gt: np.ndarray,
            dynamic: np.ndarray | None, ms: float) -> None:
        valid = in_view(flow_gt)
        self.epe.append(np.linalg.norm(flow - np.nan_to_num(flow_gt), axis=-1)[valid])
        self.confidence.append(conf[valid])
        self.dynamic_gt.append(dynamic_gt[valid])
        if dynamic is not None:
            self.has_mask = True
            pred = dynamic > 0.5
            self.intersection += int((pred & dynamic_gt).sum())
            self.union += int((pred | dynamic_gt).sum())
        self.ms.append(ms)

    def summary(self) -> dict[str, Any]:
        epe, conf, dyn = np.concatenate(self.epe), np.concatenate(self.confidence), np.concatenate(self.dynamic_gt)
        out: dict[str, Any] = {}
        for region, mask in (("all", np.ones_like(dyn)), ("static", ~dyn), ("dynamic", dyn)):
            e = epe[mask]
            out[f"epe_{region}"] = float(e.mean()) if len(e) else float("nan")
            out[f"outliers_{region}"] = float((e > OUTLIER_PX).mean()) if len(e) else float("nan")
        confident = conf > 0.5
        out["confidence_auc"] = roc_auc(conf, epe < ACCURATE_PX)
        out["confident_share"] = float(confident.mean())
        out["epe_confident"] = float(epe[confident].mean()) if confident.any() else float("nan")
        top_half = np.argsort(-conf, kind="stable")[: max(len(conf) // 2, 1)]
        out["epe_top_half_confidence"] = float(epe[top_half].mean())
        out["dynamic_iou"] = self.intersection / max(self.union, 1) if self.has_mask else float("nan")
        out["ms_per_pair"] = float(np.median(self.ms))
        out["pixels"] = int(len(epe))
        out["dynamic_pixels"] = int(dyn.sum())
        return out


def static_scene_flow(flow_gt: np.ndarray, dynamic_gt: np.ndarray) -> np.ndarray:
    """The flow a perfect ego-pose prediction induces: ground truth on static pixels, and on moving objects and
    undefined pixels the flow of the nearest static pixel with defined ground truth (the guided flow's ``init``)."""
    static = np.isfinite(flow_gt).all(axis=-1) & ~dynamic_gt
    if not static.any():
        return np.zeros_like(flow_gt)
    _, (rows, cols) = ndimage.distance_transform_edt(~static, return_indices=True)
    return np.ascontiguousarray(flow_gt[rows, cols], dtype=np.float32)


def timed(fn: Any, *args: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn(*args)
    return out, 1000.0 * (time.perf_counter() - start)


def evaluate(sequences: int, scales: list[float], model_dir: str, cache_dir: str, threads: int, fast_iterations: int = 3,
             figure: str | None = None, progress: bool = True) -> dict[str, Any]:
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    rows = []
    for scale in scales:
        data = DataConfig(rig="hdl32-front", split="test", num_sequences=sequences, frames_per_sequence=2,
                          cache_dir=cache_dir, image_scale=scale)
        dataset = FlowPairDataset(data, generate=True, progress=progress)
        methods: dict[str, Any] = {"DIS medium": DISFlow("medium"), "DIS fast": DISFlow("fast"),
                                   "learned": LearnedFlow(model_dir)}
        width = dataset[0]["img0"].shape[1]
        if methods["learned"].width != width:
            methods[f"learned at {width} px"] = LearnedFlow(model_dir, width=0)
        methods[f"learned, {fast_iterations} iterations"] = LearnedFlow(model_dir, iterations=fast_iterations)
        # a DISFlow of its own: OpenCV's DIS keeps using initial flows once given one (unguided calls change)
        guided = {"DIS medium, guided": DISFlow("medium"), "learned, guided": methods["learned"]}
        acc = {name: Accumulator() for name in (*methods, *guided)}
        shown: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {}
        for i in tqdm(range(len(dataset)), desc=f"scale {scale:g}", unit="pair", disable=not progress):
            pair = dataset[i]
            init = static_scene_flow(pair["flow"], pair["dynamic"])
            runs = [(name, method, None) for name, method in methods.items()]
            runs += [(name, method, init) for name, method in guided.items()]
            for name, method, start in runs:
                if isinstance(method, LearnedFlow):
                    (flow, conf, dyn), ms = timed(method.estimate, pair["img0"], pair["img1"], start)
                else:
                    (flow, conf), ms = timed(method, pair["img0"], pair["img1"], start)
                    dyn = None
                acc[name].add(flow, conf, pair["flow"], pair["dynamic"], dyn, ms)
                if figure and i == 0 and scale == scales[0]:
                    shown[name] = (flow, conf, dyn)
            if figure and i == 0 and scale == scales[0]:
                plot_example(pair, shown, figure)
        h, w = dataset[0]["img0"].shape[:2]
        for name in acc:
            rows.append({"scale": scale, "size": f"{w}x{h}", "method": name, "pairs": len(dataset)} | acc[name].summary())
    return {"rows": rows, "sequences": sequences, "threads": threads}


def flow_colours(flow: np.ndarray, max_px: float) -> np.ndarray:
    """Flow as RGB: hue = direction, saturation = magnitude / max_px; undefined (NaN) black."""
    undefined = ~np.isfinite(flow).all(axis=-1)
    flow = np.nan_to_num(flow)
    magnitude, angle = cv2.cartToPolar(flow[..., 0].astype(np.float32), flow[..., 1].astype(np.float32))
    hsv = np.stack([angle * 90 / np.pi, np.clip(magnitude / max_px, 0, 1) * 255, np.full_like(magnitude, 255)], axis=-1)
    rgb = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)
    rgb[undefined] = 0
    return rgb


def plot_example(pair: dict[str, np.ndarray], shown: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]],
                 path: str) -> None:
    """One test pair: image, ground-truth flow and moving mask; per method flow, |error| and confidence."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gt = pair["flow"]
    max_px = float(np.nanpercentile(np.linalg.norm(gt, axis=-1), 99))
    names = [n for n in ("DIS medium", "learned") if n in shown]
    fig, axes = plt.subplots(len(names) + 1, 3, figsize=(13, 1.6 * (len(names) + 1) + 0.6))
    panels = [[(pair["img0"], "img0"), (flow_colours(gt, max_px), "ground-truth flow"),
               (pair["dynamic"], "moving objects (ground truth)")]]
    for name in names:
        flow, conf, dyn = shown[name]
        error = np.linalg.norm(flow - np.nan_to_num(gt), axis=-1) * np.isfinite(gt).all(axis=-1)
        third = (dyn, f"{name}: dynamic mask") if dyn is not None else (conf, f"{name}: confidence")
        panels.append([(flow_colours(flow, max_px), f"{name}: flow"), (np.minimum(error, 5.0), f"{name}: EPE (0-5 px)"), third])
    for row, items in zip(axes, panels, strict=True):
        for ax, (img, title) in zip(row, items, strict=True):
            colour = img.ndim == 3
            ax.imshow(img, cmap=None if colour else "magma", vmin=0, vmax=None if colour else float(max(img.max(), 1)))
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown_table(rows: list[dict[str, Any]]) -> list[str]:
    def pct(v: float) -> str:
        return "-" if np.isnan(v) else f"{100 * v:.1f}"

    def num(v: float, digits: int = 2) -> str:
        return "-" if np.isnan(v) else f"{v:.{digits}f}"

    lines = ["| size | method | EPE all | EPE static | EPE dynamic | >3 px all % | >3 px static % | >3 px dynamic % | "
             "conf AUC | EPE 50 % most confident | conf>0.5 share % | EPE conf>0.5 | dyn. mask IoU % | ms/pair |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(
            f"| {r['size']} | {r['method']} | {num(r['epe_all'])} | {num(r['epe_static'])} | {num(r['epe_dynamic'])} | "
            f"{pct(r['outliers_all'])} | {pct(r['outliers_static'])} | {pct(r['outliers_dynamic'])} | "
            f"{num(r['confidence_auc'], 3)} | {num(r['epe_top_half_confidence'])} | {pct(r['confident_share'])} | "
            f"{num(r['epe_confident'])} | "
            f"{pct(r['dynamic_iou'])} | {num(r['ms_per_pair'], 1)} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sequences", type=int, default=20, help="test-split sequences (2 pairs each)")
    ap.add_argument("--scales", type=float, nargs="+", default=[0.5, 0.25], help="image scales of KITTI's 1241x376")
    ap.add_argument("--model-dir", default="models/update_operator_cpu")
    ap.add_argument("--cache-dir", default="data/cache/flow")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fast-iterations", type=int, default=3, help="an extra learned row with fewer update iterations")
    ap.add_argument("--figure", default=None, help="PNG of the first pair at the first scale")
    ap.add_argument("--out", default="runs/evaluate_flow/metrics.json")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    result = evaluate(args.sequences, args.scales, args.model_dir, args.cache_dir, args.threads, args.fast_iterations,
                      args.figure, not args.no_progress)
    table = markdown_table(result["rows"])
    pairs = result["rows"][0]["pairs"]
    result["table"] = table
    result["description"] = (f"{pairs} frame pairs per size: test split seeds 2000-{2000 + args.sequences - 1}, 2 consecutive "
                             f"pairs each, front camera; {args.threads} torch/OpenCV thread(s)")
    result["command"] = " ".join(["python -m panoptic_training.evaluate_flow", *(sys.argv[1:] if argv is None else argv)])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join(table))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
