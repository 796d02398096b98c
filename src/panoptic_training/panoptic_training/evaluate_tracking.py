"""Panoptic tracking on held-out test-split drives: MOPT embedding association against two baselines.

The shipped model runs once per frame; its detections (thing instances with their association vectors)
are shared by the three associations (``embedding`` with the tracking head, ``centroid_kalman``,
``point_iou``), each tracking with the ground-truth ego poses. An oracle row set repeats this on the
ground-truth instances (vectors pooled from the same network features under the ground-truth masks),
so association quality is seen apart from detection quality. Scenes: normal test drives and
occlusion-heavy ones (``SceneConfig.occlusion_heavy`` plus more parked and moving agents).

    python -m panoptic_training.evaluate_tracking
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from panoptic_datasets.splits import split_seed
from panoptic_datasets.world import SceneConfig, make_rig, simulate
from panoptic_perception.core import PanopticCloud, load_class_table, unpack_label
from panoptic_perception.metrics import TrackingEval
from panoptic_perception.models import UPFuse, batch_from_sensor_frame, load_model
from panoptic_perception.pipeline import thing_detections
from panoptic_perception.tracking import Detection, PanopticTracker, TrackerConfig, assign_track_ids, matches_of

from .config import DataConfig
from .data import scene_for_seed
from .tracking_loss import gt_instance_masks

ASSOCIATIONS = ("embedding", "centroid_kalman", "point_iou")
SCENES = ("normal", "occlusion")
START, END = "<!-- tracking-evaluation:start -->", "<!-- tracking-evaluation:end -->"
MARGIN = 0.001  # "better" must show at the table's resolution (0.1 points); smaller differences are ties


@dataclass
class FrameRecord:
    """One frame's inputs to the trackers, computed once."""

    stamp_ns: int
    pose: np.ndarray  # (4, 4) T_world_lidar, ground truth
    points: np.ndarray  # (N, 4)
    gt_sem: np.ndarray
    gt_inst: np.ndarray
    pred: PanopticCloud
    pred_vectors: np.ndarray | None  # (K, D), row k = predicted instance k + 1
    oracle: list[Detection]
    fusion_ms: float


def occlusion_heavy(scene: SceneConfig) -> SceneConfig:
    """Many parked and moving vehicles between the ego and others, crossing pedestrians."""
    return dataclasses.replace(scene, occlusion_heavy=True, num_vehicles=35, num_pedestrians=24, num_cyclists=5)


def test_scenes(normal: int, occluded: int, first: int) -> list[tuple[str, str, SceneConfig]]:
    """(sequence name, scene kind, config) of the test-split drives; occlusion-heavy ones follow the normal ones."""
    data = DataConfig()
    out = []
    for k in range(normal + occluded):
        seed = split_seed("test", first + k)
        scene = scene_for_seed(seed, data)
        kind = "normal" if k < normal else "occlusion"
        out.append((f"{seed}", kind, scene if kind == "normal" else occlusion_heavy(scene)))
    return out


@torch.no_grad()
def record_frame(model: UPFuse, labeled: Any, is_thing: np.ndarray, min_points: int) -> FrameRecord:
    """Run the network once: predicted panoptic points + vectors, and oracle detections with vectors."""
    cfg = model.config
    batch = batch_from_sensor_frame(labeled.sensor, cfg.range_spec)
    start = time.perf_counter()
    out = model(batch)
    prediction = model.postprocess(out, batch)[0]
    fusion_ms = (time.perf_counter() - start) * 1000
    points = labeled.sensor.points
    n = len(points)
    cloud = PanopticCloud(labeled.sensor.stamp_ns, points, prediction.class_id.numpy().astype(np.uint16),
                          prediction.instance_id.numpy().astype(np.uint32), prediction.score.numpy().astype(np.float32),
                          np.zeros(n, np.float32), frame_id=labeled.sensor.lidar_frame)
    gt_sem, gt_inst = (a.astype(np.int64) for a in unpack_label(labeled.point_label))
    masks, _, classes = gt_instance_masks(torch.from_numpy(gt_sem), torch.from_numpy(gt_inst), torch.ones(n, dtype=torch.bool),
                                          cfg.thing_class_ids, min_points)
    oracle = []
    if len(classes):
        slot = torch.tensor([cfg.thing_class_ids.index(int(c)) for c in classes])
        vectors = model.tracking_head.instance_vectors(out.point_features[0], masks, slot) if model.tracking_head else None
        for k in range(len(classes)):
            emb = vectors[k].numpy() if vectors is not None else None
            oracle.append(Detection.from_points(points[:, :3], masks[k].numpy(), int(classes[k]), 1.0, emb))
    vectors_pred = prediction.association.numpy() if prediction.association is not None else None
    return FrameRecord(labeled.sensor.stamp_ns, labeled.T_world_lidar, points, gt_sem, gt_inst, cloud, vectors_pred,
                       oracle, fusion_ms)


@torch.no_grad()
def head_cost_ms(model: UPFuse, frames: list[Any], repeats: int = 3) -> tuple[float, float, float]:
    """Median forward ms with and without the tracking head, and the median paired difference (interleaved runs)."""
    head = model.tracking_head
    with_head, without, diff = [], [], []
    for labeled in frames:
        batch = batch_from_sensor_frame(labeled.sensor, model.config.range_spec)
        for _ in range(repeats):
            times = []
            for h in (head, None):
                model.tracking_head = h
                start = time.perf_counter()
                model(batch)
                times.append((time.perf_counter() - start) * 1000)
            with_head.append(times[0])
            without.append(times[1])
            diff.append(times[0] - times[1])
    model.tracking_head = head
    return float(np.median(with_head)), float(np.median(without)), float(np.median(diff))


def track_sequence(records: list[FrameRecord], association: str, source: str, is_thing: np.ndarray, min_points: int,
                   evaluator: TrackingEval, sequence: str) -> list[float]:
    """Track one sequence and add it to ``evaluator``; returns the tracker's ms per frame."""
    tracker = PanopticTracker.from_config(TrackerConfig(association=association))
    times = []
    for rec in records:
        if source == "model":
            detections = thing_detections(rec.pred, is_thing, min_points, rec.pred_vectors)
            pred_sem = rec.pred.class_id.astype(np.int64)
        else:
            detections = rec.oracle
            pred_sem = rec.gt_sem
        start = time.perf_counter()
        tracks = tracker.update(detections, rec.stamp_ns, rec.pose)
        track_id = assign_track_ids(len(rec.points), detections, matches_of(tracks))
        times.append((time.perf_counter() - start) * 1000)
        evaluator.add_frame(pred_sem, track_id.astype(np.int64) * is_thing[pred_sem], rec.gt_sem, rec.gt_inst, sequence)
    return times


def vector_separation(sequences: dict[str, tuple[str, list[FrameRecord]]], gate_m: float = 2.0) -> dict[str, list[float]]:
    """Percentiles (5, 25, 50, 75, 95) of association-vector distances between oracle instances of consecutive frames:
    the same object, another object of its class, and another object of its class within ``gate_m`` (world frame),
    the only pairs the motion gate leaves to the vectors."""
    groups: dict[str, list[float]] = {"same object": [], "other object, same class": [], "other, same class, within gate": []}
    for _, records in sequences.values():
        previous: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        for rec in records:
            current = {}
            for d in rec.oracle:
                key = (d.class_id, int(rec.gt_inst[d.point_indices[0]]))
                current[key] = (d.embedding, rec.pose[:3, :3] @ d.centroid + rec.pose[:3, 3])
            for key, (vector, centre) in current.items():
                for other, (v2, c2) in previous.items():
                    if other == key:
                        groups["same object"].append(float(np.linalg.norm(vector - v2)))
                    elif other[0] == key[0]:
                        distance = float(np.linalg.norm(vector - v2))
                        groups["other object, same class"].append(distance)
                        if np.linalg.norm(centre - c2) < gate_m:
                            groups["other, same class, within gate"].append(distance)
            previous = current
    return {k: [len(v), *np.percentile(v, [5, 25, 50, 75, 95]).tolist()] if v else [0] for k, v in groups.items()}


def evaluate(sequences: dict[str, tuple[str, list[FrameRecord]]], min_points: int) -> list[dict[str, Any]]:
    is_thing = load_class_table().is_thing_lut()
    rows = []
    for source in ("model", "oracle"):
        for association in ASSOCIATIONS:
            for kind in (*SCENES, "all"):
                evaluator = TrackingEval(num_classes=20, ignore=(0,), convention="semantickitti")
                times: list[float] = []
                for name, (scene_kind, records) in sequences.items():
                    if kind in (scene_kind, "all"):
                        times += track_sequence(records, association, source, is_thing, min_points, evaluator, name)
                if not times:
                    continue
                r = evaluator.compute()
                pan = evaluator.panoptic
                with_gt = pan.is_thing & ~pan.ignore_mask & (pan.tp + pan.fn > 0)
                things = [pan.class_names[c] for c in np.flatnonzero(with_gt)]  # thing classes with ground truth
                rows.append({"detections": source, "association": association, "scenes": kind, "frames": len(times),
                             "sptq_th": float(np.mean([r.per_class[t]["sptq"] for t in things])) if things else 0.0,
                             "ptq_th": float(np.mean([r.per_class[t]["ptq"] for t in things])) if things else 0.0,
                             "sptq": r.sptq, "ptq": r.ptq, "motsa": r.motsa, "smotsa": r.smotsa, "id_switches": r.id_switches,
                             "pq_th": r.panoptic.pq_things, "ms_per_frame": float(np.mean(times)),
                             "ms_p95": float(np.percentile(times, 95))})
    return rows


def goals(rows: list[dict[str, Any]]) -> list[tuple[str, bool, str]]:
    def get(source: str, association: str, scenes: str) -> dict[str, Any]:
        return next(r for r in rows if (r["detections"], r["association"], r["scenes"]) == (source, association, scenes))

    out = []
    for source in ("model", "oracle"):
        emb = get(source, "embedding", "all")
        base = [get(source, a, "all") for a in ASSOCIATIONS[1:]]
        out.append((f"{source} detections: embedding sPTQ > both baselines (all scenes)",
                    all(emb["sptq"] > b["sptq"] + MARGIN for b in base),
                    ", ".join(f"{r['association']} {100 * r['sptq']:.2f}" for r in [emb, *base])))
        emb = get(source, "embedding", "occlusion")
        base = [get(source, a, "occlusion") for a in ASSOCIATIONS[1:]]
        out.append((f"{source} detections: embedding has fewer ID switches than both baselines (occlusion-heavy)",
                    all(emb["id_switches"] < b["id_switches"] for b in base),
                    ", ".join(f"{r['association']} {r['id_switches']}" for r in [emb, *base])))
    return out


def markdown(rows: list[dict[str, Any]], goal_lines: list[tuple[str, bool, str]], info: dict[str, Any]) -> str:
    lines = [
        START,
        "## Evaluation: MOPT embedding association vs. baselines",
        "",
        f"Reproduce: `{info['command']}` ({info['wall_s']:.0f} s wall on the 2-core CPU dev machine, no GPU, "
        f"{info['threads']} torch thread(s), other jobs sharing the cores).",
        "",
        f"Model `{info['model']}` ({info['model_note']}). Test split, rig `hdl32-front`, {info['frames']} frames per drive "
        f"(10 Hz): normal drives seeds {info['normal_seeds']}; occlusion-heavy drives seeds {info['occluded_seeds']} "
        "(`occlusion_heavy`, 35 vehicles, 24 pedestrians, 5 cyclists). The network runs once per frame; its detections "
        f"(thing instances with ≥ {info['min_points']} points) are shared by the three associations, each with the "
        "ground-truth ego poses and the `TrackerConfig` defaults. Oracle rows: ground-truth instances (score 1) as "
        "detections, association vectors pooled from the same network features under the ground-truth masks.",
        "",
        "Metrics in % (ID switches: count; MOPT rule), SemanticKITTI convention, `TrackingEval(num_classes=20)`: sPTQ/PTQ "
        "average all 19 classes (stuff included, classes absent from the frames count 0, so a scene subset can score "
        "below the union); sPTQ_th/PTQ_th average the thing classes with ground truth, where association shows; "
        "ms: tracker `update` + per-point IDs per frame (mean / p95), the network not included "
        f"(UP-Fuse forward with the head: {info['fusion_ms']:.0f} ms per frame mean here). The head's own cost inside "
        f"the network, timed with and without it on the first drive's first frames (interleaved, 3 repeats): median "
        f"{info['head_cost_ms'][0]:.0f} ms vs {info['head_cost_ms'][1]:.0f} ms, median paired difference "
        f"{info['head_cost_ms'][2]:.1f} ms per frame.",
        "",
        "| detections | association | scenes | frames | sPTQ | PTQ | sPTQ_th | PTQ_th | MOTSA | sMOTSA | ID sw. | PQ_th | ms "
        "| ms p95 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        cells = [r["detections"], r["association"], r["scenes"], str(r["frames"])]
        cells += [f"{100 * r[k]:.1f}" for k in ("sptq", "ptq", "sptq_th", "ptq_th", "motsa", "smotsa")]
        cells += [str(r["id_switches"]), f"{100 * r['pq_th']:.1f}", f"{r['ms_per_frame']:.2f}", f"{r['ms_p95']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Association-vector distances between ground-truth instances of consecutive frames (oracle records; "
              "unit vectors, so distances lie in [0, 2]; `embedding_threshold` 1.0):", "",
              "| pairs | count | p5 | p25 | median | p75 | p95 |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, values in info["separation"].items():
        lines.append(f"| {name} | {values[0]} | " + " | ".join(f"{v:.2f}" for v in values[1:]) + " |")
    lines += ["", f"Goals (\"beats\" needs a margin of {100 * MARGIN:.1f} points):", ""]
    lines += [f"- {'MET' if ok else 'NOT MET'}: {text} ({detail})" for text, ok, detail in goal_lines]
    lines += ["", END]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    """Replace the evaluation section of ``path`` (between the markers), or append it."""
    text = path.read_text() if path.exists() else ""
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    width = 0.25
    for ax, source in zip(axes, ("model", "oracle"), strict=True):
        for k, association in enumerate(ASSOCIATIONS):
            values = [next(r["id_switches"] for r in rows if (r["detections"], r["association"], r["scenes"])
                           == (source, association, s)) for s in SCENES]
            ax.bar(np.arange(len(SCENES)) + (k - 1) * width, values, width, label=association)
        ax.set_xticks(np.arange(len(SCENES)), SCENES)
        ax.set_title(f"ID switches, {source} detections")
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/upfuse_cpu", help="UP-Fuse model directory with the tracking head")
    parser.add_argument("--normal", type=int, default=4, help="normal test drives")
    parser.add_argument("--occluded", type=int, default=4, help="occlusion-heavy test drives")
    parser.add_argument("--first", type=int, default=16, help="first test-split sequence index (0-15: evaluate_upfuse's)")
    parser.add_argument("--frames", type=int, default=30, help="frames per drive")
    parser.add_argument("--min-points", type=int, default=5, help="smallest instance handed to the tracker")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--head-cost-frames", type=int, default=5, help="frames timed with and without the head")
    parser.add_argument("--out", default="docs/tracking.md", help="markdown file whose evaluation section is replaced")
    parser.add_argument("--plot", default="docs/images/tracking_id_switches.png")
    parser.add_argument("--metrics-json", default="runs/eval/tracking_metrics.json")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    model = load_model(args.model)
    if model.tracking_head is None:
        print(f"{args.model}: the model has no tracking head (model.json tracking_head); the embedding rows need one",
              file=sys.stderr)
        return 2
    is_thing = load_class_table().is_thing_lut()
    rig = make_rig("hdl32-front")
    scenes = test_scenes(args.normal, args.occluded, args.first)
    sequences: dict[str, tuple[str, list[FrameRecord]]] = {}
    bar = tqdm(total=len(scenes) * args.frames, desc="network on test drives", unit="frame", disable=args.no_progress)
    head_cost = (float("nan"),) * 3
    for name, kind, scene in scenes:
        records = []
        frames = list(simulate(scene, rig, args.frames))
        if name == scenes[0][0]:
            head_cost = head_cost_ms(model, frames[: args.head_cost_frames])
        for labeled in frames:
            records.append(record_frame(model, labeled, is_thing, args.min_points))
            bar.update()
        sequences[name] = (kind, records)
    bar.close()
    rows = evaluate(sequences, args.min_points)
    goal_lines = goals(rows)
    wall = time.perf_counter() - start
    fusion_ms = float(np.mean([r.fusion_ms for _, recs in sequences.values() for r in recs]))
    meta = json.loads((Path(args.model) / "model.json").read_text()).get("metadata", {})
    info = {
        "command": "python -m panoptic_training.evaluate_tracking " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "wall_s": wall, "threads": args.threads, "model": args.model, "frames": args.frames, "min_points": args.min_points,
        "model_note": ", ".join(f"{k} {v}" for k, v in sorted(meta.items()) if k in ("training_run", "steps")) or "no metadata",
        "normal_seeds": ", ".join(n for n, (k, _) in sequences.items() if k == "normal"),
        "occluded_seeds": ", ".join(n for n, (k, _) in sequences.items() if k == "occlusion"),
        "fusion_ms": fusion_ms, "head_cost_ms": head_cost, "separation": vector_separation(sequences),
    }
    section = markdown(rows, goal_lines, info)
    write_section(Path(args.out), section)
    plot(rows, Path(args.plot))
    Path(args.metrics_json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.metrics_json).write_text(json.dumps({"rows": rows, "goals": goal_lines, "info": info}, indent=2) + "\n")
    print(section)
    print(f"wrote {args.out}, {args.plot}, {args.metrics_json} ({wall:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
