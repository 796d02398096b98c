"""Panoptic tracking on held-out test-split drives: the associations with the tracking head against two baselines.

The shipped model runs once per frame; its detections (thing instances with their association vectors)
are shared by the four associations (``embedding_motion`` and ``embedding`` with the tracking head's
vectors, the baselines ``centroid_kalman`` and ``point_iou``), each tracking with the ground-truth ego poses
and the ``TrackerConfig`` defaults. An oracle row set repeats this on the ground-truth instances (vectors
pooled from the same network features under the ground-truth masks), so association quality is seen apart
from detection quality. Scenes: normal test drives and occlusion-heavy ones (``SceneConfig.occlusion_heavy``
plus more parked and moving agents). ``embedding_motion``'s weights were chosen on validation drives
(``tune_tracking``), never on these.

    python -m panoptic_training.evaluate_tracking
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from panoptic_datasets.splits import split_seed
from panoptic_datasets.world import SceneConfig, make_rig, simulate
from panoptic_perception.core import PanopticCloud, load_class_table, unpack_label
from panoptic_perception.metrics import TrackingEval
from panoptic_perception.models import (
    SweepContext,
    TrackingHead,
    UPFuse,
    batch_from_sensor_frame,
    columns_for,
    instance_inputs,
    load_model,
    masks_to_segments,
    thing_slots,
)
from panoptic_perception.pipeline import thing_detections
from panoptic_perception.tracking import PanopticTracker, TrackerConfig, TrackerConfigError, assign_track_ids, matches_of

from .config import DataConfig
from .data import scene_for_seed
from .errors import TrainingDataError
from .tracking_loss import gt_instance_masks
from .tracking_records import FrameRecord, instance_classes, load_records, save_records

PROPOSED = ("embedding_motion", "embedding")  # associations with the tracking head's vectors
BASELINES = ("centroid_kalman", "point_iou")
ASSOCIATIONS = (*PROPOSED, *BASELINES)
SCENES = ("normal", "occlusion")
START, END = "<!-- tracking-evaluation:start -->", "<!-- tracking-evaluation:end -->"
MARGIN = 0.001  # "better" must show at the table's resolution (0.1 points); smaller differences are ties
Sequences = dict[str, tuple[str, list[FrameRecord]]]


def occlusion_heavy(scene: SceneConfig) -> SceneConfig:
    """Many parked and moving vehicles between the ego and others, crossing pedestrians."""
    return dataclasses.replace(scene, occlusion_heavy=True, num_vehicles=35, num_pedestrians=24, num_cyclists=5)


def test_scenes(normal: int, occluded: int, first: int, split: str = "test") -> list[tuple[str, str, SceneConfig]]:
    """(sequence name, scene kind, config) of a split's drives; occlusion-heavy ones follow the normal ones."""
    data = DataConfig()
    out = []
    for k in range(normal + occluded):
        seed = split_seed(split, first + k)
        scene = scene_for_seed(seed, data)
        kind = "normal" if k < normal else "occlusion"
        out.append((f"{seed}", kind, scene if kind == "normal" else occlusion_heavy(scene)))
    return out


RECORD_INPUTS = "appearance_shape"  # the records keep this kind of head input per instance (serves every kind)


@torch.no_grad()
def record_frame(model: UPFuse, labeled: Any, min_points: int) -> FrameRecord:
    """Run the network once: predicted panoptic points, and for the predicted and the oracle (ground-truth) instances
    the tracking head's inputs (``RECORD_INPUTS``), from which ``attach_vectors`` makes any head's vectors."""
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
    valid = batch.point_valid[0]
    features = out.point_features[0][valid]
    context = SweepContext(batch.point_xyz[0][valid], batch.images[0], batch.K[0], batch.T_cam_lidar[0], batch.camera_valid[0])
    segment = masks_to_segments(masks) if len(classes) else torch.zeros(n, dtype=torch.long)
    oracle_inputs = instance_inputs(RECORD_INPUTS, features, segment, len(classes), context).numpy()
    pred_inputs = instance_inputs(RECORD_INPUTS, features, prediction.instance_id.long(),
                                  int(prediction.instance_id.max()) if n else 0, context).numpy()
    return FrameRecord(labeled.sensor.stamp_ns, labeled.T_world_lidar, points, gt_sem, gt_inst, cloud, None,
                       segment.numpy().astype(np.int64), classes.numpy().astype(np.int64), None, fusion_ms,
                       pred_inputs, oracle_inputs)


def attach_vectors(records: list[FrameRecord], head: TrackingHead, thing_ids: tuple[int, ...], feature_dim: int) -> None:
    """Fill each record's predicted and oracle association vectors with ``head``'s, from the recorded inputs."""

    def vectors(inputs: np.ndarray | None, classes: np.ndarray) -> np.ndarray | None:
        if inputs is None:
            raise TrainingDataError("tracking records without head inputs (written before they were kept): delete the cache")
        if len(classes) == 0:
            return np.zeros((0, head.dim), np.float32)
        slots = thing_slots(torch.from_numpy(np.where(np.isin(classes, thing_ids), classes, thing_ids[0])), thing_ids)
        with torch.no_grad():
            return head.input_vectors(columns_for(head.inputs, torch.from_numpy(inputs), feature_dim), slots).numpy()

    for rec in records:
        rec.pred_vectors = vectors(rec.pred_inputs, instance_classes(rec.pred))
        rec.oracle_vectors = vectors(rec.oracle_inputs, rec.oracle_classes)


def core_digest(model: UPFuse) -> str:
    """Hash of the network's weights without the tracking head (the records do not depend on the head)."""
    state = model.state_dict()
    core = b"".join(state[k].detach().numpy().tobytes() for k in state if not k.startswith("tracking_head."))
    return hashlib.sha256(core).hexdigest()[:12]


def record_drives(model: UPFuse, scenes: list[tuple[str, str, SceneConfig]], frames: int, min_points: int,
                  cache: Path | None, progress: bool = True) -> tuple[Sequences, int]:
    """Records of every drive, read from ``cache`` (one NPZ per drive, named by seed, frames, head-input kind and the
    network's weights without the head) or made, with the model's association vectors attached; and how many drives
    came from the cache."""
    rig = make_rig("hdl32-front")
    weights = core_digest(model)
    sequences: Sequences = {}
    cached = 0
    bar = tqdm(total=len(scenes) * frames, desc="network on drives", unit="frame", disable=not progress)
    for name, kind, scene in scenes:
        path = cache / f"{name}-{kind}-f{frames}-m{min_points}-{RECORD_INPUTS}-{weights}.npz" if cache is not None else None
        if path is not None and path.is_file():
            records = load_records(path)
            cached += 1
            bar.update(frames)
        else:
            records = []
            for labeled in simulate(scene, rig, frames):
                records.append(record_frame(model, labeled, min_points))
                bar.update()
            if path is not None:
                save_records(path, records)
        if model.tracking_head is not None:
            attach_vectors(records, model.tracking_head, model.config.thing_class_ids, model.config.mask_dim)
        sequences[name] = (kind, records)
    bar.close()
    return sequences, cached


def add_drive_arguments(parser: argparse.ArgumentParser, split: str, first: int, threads: int) -> None:
    """The options of ``recorded_drives``, shared by ``evaluate_tracking`` (test drives) and ``tune_tracking``."""
    parser.add_argument("--model", default="models/upfuse_cpu", help="UP-Fuse model directory with the tracking head")
    parser.add_argument("--normal", type=int, default=4, help=f"normal {split} drives")
    parser.add_argument("--occluded", type=int, default=4, help=f"occlusion-heavy {split} drives")
    parser.add_argument("--first", type=int, default=first, help=f"first {split}-split sequence index")
    parser.add_argument("--frames", type=int, default=30, help="frames per drive")
    parser.add_argument("--min-points", type=int, default=5, help="smallest instance handed to the tracker")
    parser.add_argument("--threads", type=int, default=threads)
    parser.add_argument("--cache", default="runs/eval/tracking_records", help="NPZ records per drive ('' = none)")
    parser.add_argument("--no-progress", action="store_true")


def recorded_drives(args: argparse.Namespace, split: str) -> tuple[Sequences, int] | None:
    """The drives ``add_drive_arguments`` selects, recorded with the model (``record_drives``); None, after saying
    why, when the model has no tracking head."""
    torch.set_num_threads(args.threads)
    model = load_model(args.model).eval()
    if model.tracking_head is None:
        print(f"{args.model}: the model has no tracking head (model.json tracking_head); the embedding rows need one",
              file=sys.stderr)
        return None
    scenes = test_scenes(args.normal, args.occluded, args.first, split)
    return record_drives(model, scenes, args.frames, args.min_points, Path(args.cache) if args.cache else None,
                         not args.no_progress)


def track_sequence(records: list[FrameRecord], config: TrackerConfig, source: str, is_thing: np.ndarray, min_points: int,
                   evaluator: TrackingEval, sequence: str) -> list[float]:
    """Track one sequence and add it to ``evaluator``; returns the tracker's ms per frame."""
    tracker = PanopticTracker.from_config(config)
    times = []
    for rec in records:
        if source == "model":
            detections = thing_detections(rec.pred, is_thing, min_points, rec.pred_vectors)
            pred_sem = rec.pred.class_id.astype(np.int64)
        else:
            detections = rec.oracle()
            pred_sem = rec.gt_sem
        start = time.perf_counter()
        tracks = tracker.update(detections, rec.stamp_ns, rec.pose)
        track_id = assign_track_ids(len(rec.points), detections, matches_of(tracks))
        times.append((time.perf_counter() - start) * 1000)
        evaluator.add_frame(pred_sem, track_id.astype(np.int64) * is_thing[pred_sem], rec.gt_sem, rec.gt_inst, sequence)
    return times


def vector_separation(sequences: Sequences, gate_m: float = 2.0) -> dict[str, list[float]]:
    """Percentiles (5, 25, 50, 75, 95) of association-vector distances between oracle instances of consecutive frames:
    the same object, another object of its class, and another object of its class within ``gate_m`` (world frame),
    the only pairs the motion gate leaves to the vectors."""
    groups: dict[str, list[float]] = {"same object": [], "other object, same class": [], "other, same class, within gate": []}
    for _, records in sequences.values():
        previous: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        for rec in records:
            current = {}
            for d in rec.oracle():
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


def score(sequences: Sequences, config: TrackerConfig, source: str, kind: str, min_points: int) -> dict[str, Any] | None:
    """One table row: ``config`` tracking ``source`` detections ("model" or "oracle") on the drives of ``kind``."""
    is_thing = load_class_table().is_thing_lut()
    evaluator = TrackingEval(num_classes=20, ignore=(0,), convention="semantickitti")
    times: list[float] = []
    for name, (scene_kind, records) in sequences.items():
        if kind in (scene_kind, "all"):
            times += track_sequence(records, config, source, is_thing, min_points, evaluator, name)
    if not times:
        return None
    r = evaluator.compute()
    pan = evaluator.panoptic
    with_gt = pan.is_thing & ~pan.ignore_mask & (pan.tp + pan.fn > 0)
    things = [pan.class_names[c] for c in np.flatnonzero(with_gt)]  # thing classes with ground truth
    return {"detections": source, "association": config.association, "scenes": kind, "frames": len(times),
            "sptq_th": float(np.mean([r.per_class[t]["sptq"] for t in things])) if things else 0.0,
            "ptq_th": float(np.mean([r.per_class[t]["ptq"] for t in things])) if things else 0.0,
            "sptq": r.sptq, "ptq": r.ptq, "motsa": r.motsa, "smotsa": r.smotsa, "id_switches": r.id_switches,
            "pq_th": r.panoptic.pq_things, "ms_per_frame": float(np.mean(times)), "ms_p95": float(np.percentile(times, 95))}


def parse_overrides(items: list[str]) -> dict[str, dict[str, Any]]:
    """``--set`` items ``[ASSOCIATION:]KEY=VALUE`` (VALUE as JSON, e.g. 10, 0.5, "euclidean") to {association: {key: value}};
    without an association the key applies to every association. Checked against ``TrackerConfig``."""
    out: dict[str, dict[str, Any]] = {a: {} for a in ASSOCIATIONS}
    for item in items:
        target, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item!r}: expected [ASSOCIATION:]KEY=VALUE")
        association, _, key = target.rpartition(":")
        if association and association not in ASSOCIATIONS:
            raise ValueError(f"--set {item!r}: unknown association {association!r}; known: {ASSOCIATIONS}")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        for a in [association] if association else ASSOCIATIONS:
            out[a][key] = parsed
    for a, values in out.items():
        TrackerConfig.from_dict({"association": a, **values}, "--set")
    return out


def evaluate(sequences: Sequences, min_points: int, progress: bool = False,
             overrides: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Every association on every detection source and scene kind: ``TrackerConfig`` defaults, ``overrides`` (per
    association, see ``parse_overrides``) on top."""
    jobs = [(s, a, k) for s in ("model", "oracle") for a in ASSOCIATIONS for k in (*SCENES, "all")]
    rows = []
    for source, association, kind in tqdm(jobs, desc="trackers", disable=not progress):
        config = TrackerConfig.from_dict({"association": association, **(overrides or {}).get(association, {})})
        row = score(sequences, config, source, kind, min_points)
        if row is not None:
            rows.append(row)
    return rows


def goals(rows: list[dict[str, Any]]) -> list[tuple[str, bool, str]]:
    def get(source: str, association: str, scenes: str) -> dict[str, Any]:
        return next(r for r in rows if (r["detections"], r["association"], r["scenes"]) == (source, association, scenes))

    out = []
    for proposed in PROPOSED:
        for source in ("model", "oracle"):
            mine = get(source, proposed, "all")
            base = [get(source, a, "all") for a in BASELINES]
            out.append((f"{source} detections: {proposed} sPTQ > both baselines (all scenes)",
                        all(mine["sptq"] > b["sptq"] + MARGIN for b in base),
                        ", ".join(f"{r['association']} {100 * r['sptq']:.2f}" for r in [mine, *base])))
            mine = get(source, proposed, "occlusion")
            base = [get(source, a, "occlusion") for a in BASELINES]
            out.append((f"{source} detections: {proposed} has fewer ID switches than both baselines (occlusion-heavy)",
                        all(mine["id_switches"] < b["id_switches"] for b in base),
                        ", ".join(f"{r['association']} {r['id_switches']}" for r in [mine, *base])))
    return out


def table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| detections | association | scenes | frames | sPTQ | PTQ | sPTQ_th | PTQ_th | MOTSA | sMOTSA | ID sw. | PQ_th "
             "| ms | ms p95 |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        cells = [r["detections"], r["association"], r["scenes"], str(r["frames"])]
        cells += [f"{100 * r[k]:.1f}" for k in ("sptq", "ptq", "sptq_th", "ptq_th", "motsa", "smotsa")]
        cells += [str(r["id_switches"]), f"{100 * r['pq_th']:.1f}", f"{r['ms_per_frame']:.2f}", f"{r['ms_p95']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown(rows: list[dict[str, Any]], goal_lines: list[tuple[str, bool, str]], info: dict[str, Any]) -> str:
    cfg = TrackerConfig()
    lines = [
        START,
        "## Evaluation: associations with the tracking head vs. baselines",
        "",
        f"Reproduce: `{info['command']}` ({info['wall_s']:.0f} s wall on the 2-core CPU dev machine, no GPU, "
        f"{info['threads']} torch thread(s), load average {info['load']} at the end, other jobs sharing the cores; "
        f"{info['cached']} of {info['drives']} drives' network records read from the NPZ cache `--cache`, which the "
        "first run writes: that run takes about 5 minutes more; it holds each instance's tracking-head inputs, so any "
        "head's vectors are made from it; it is keyed by drive, frames and the network's weights without the head, "
        "not by code: delete it after changing the network's or the head inputs' code).",
        "",
        f"Model `{info['model']}` ({info['model_note']}). Test split, rig `hdl32-front`, {info['frames']} frames per drive "
        f"(10 Hz): normal drives seeds {info['normal_seeds']}; occlusion-heavy drives seeds {info['occluded_seeds']} "
        "(`occlusion_heavy`, 35 vehicles, 24 pedestrians, 5 cyclists). The network runs once per frame; its detections "
        f"(thing instances with ≥ {info['min_points']} points) and their association vectors (pooled over each final "
        "panoptic segment) are shared by the four associations, each with the ground-truth ego poses and the "
        f"`TrackerConfig` defaults (`embedding_motion`: `motion_metric` {cfg.motion_metric}, `motion_gate_m` "
        f"{cfg.motion_gate_m:g}, `embedding_weight` {cfg.embedding_weight:g}, chosen on validation drives, see \"Choosing "
        f"the weights\"){info['overrides']}. Oracle rows: ground-truth "
        "instances (score 1) as detections, association vectors pooled from the same network features under the "
        "ground-truth masks.",
        "",
        "Metrics in % (ID switches: count; MOPT rule), SemanticKITTI convention, `TrackingEval(num_classes=20)`: sPTQ/PTQ "
        "average all 19 classes (stuff included, classes absent from the frames count 0, so a scene subset can score "
        "below the union); sPTQ_th/PTQ_th average the thing classes with ground truth, where association shows; "
        "ms: tracker `update` + per-point IDs per frame (mean / p95), the network not included "
        f"(UP-Fuse forward + post-processing, the association vectors included: {info['fusion_ms']:.0f} ms per frame mean "
        "here, PyTorch; the cost of tracking as a whole is benchmarked in \"Cost\" below).",
        "",
        *table(rows),
        "",
        "Association-vector distances between ground-truth instances of consecutive frames (oracle records; "
        "unit vectors, so distances lie in [0, 2]; `embedding_threshold` 1.0):", "",
        "| pairs | count | p5 | p25 | median | p75 | p95 |", "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, values in info["separation"].items():
        lines.append(f"| {name} | {values[0]} | " + " | ".join(f"{v:.2f}" for v in values[1:]) + " |")
    lines += ["", f"Goals (\"beats\" needs a margin of {100 * MARGIN:.1f} points):", ""]
    lines += [f"- {'MET' if ok else 'NOT MET'}: {text} ({detail})" for text, ok, detail in goal_lines]
    lines += ["", END]
    return "\n".join(lines)


def write_section(path: Path, section: str, start: str = START, end: str = END) -> None:
    """Replace the section of ``path`` between the markers, or append it."""
    text = path.read_text() if path.exists() else ""
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    width = 0.8 / len(ASSOCIATIONS)
    for ax, source in zip(axes, ("model", "oracle"), strict=True):
        for k, association in enumerate(ASSOCIATIONS):
            values = [next(r["id_switches"] for r in rows if (r["detections"], r["association"], r["scenes"])
                           == (source, association, s)) for s in SCENES]
            ax.bar(np.arange(len(SCENES)) + (k - (len(ASSOCIATIONS) - 1) / 2) * width, values, width, label=association)
        ax.set_xticks(np.arange(len(SCENES)), SCENES)
        if source == "oracle":
            ax.set_yscale("log")  # point_iou's switches are an order of magnitude above the rest
        ax.set_title(f"ID switches, {source} detections")
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def load_average() -> str:
    try:
        return " / ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_drive_arguments(parser, "test", first=16, threads=2)  # test sequences 0-15 are evaluate_upfuse's
    parser.add_argument("--out", default="docs/tracking.md", help="markdown file whose evaluation section is replaced")
    parser.add_argument("--plot", default="docs/images/tracking_id_switches.png")
    parser.add_argument("--metrics-json", default="runs/eval/tracking_metrics.json")
    parser.add_argument("--set", action="append", default=[], metavar="[ASSOCIATION:]KEY=VALUE",
                        help="TrackerConfig value on top of the defaults, e.g. embedding_motion:reid_frames=10 (repeatable)")
    args = parser.parse_args(argv)
    try:
        overrides = parse_overrides(args.set)
    except (ValueError, TrackerConfigError) as err:
        parser.error(str(err))
    start = time.perf_counter()
    drives = recorded_drives(args, "test")
    if drives is None:
        return 2
    sequences, cached = drives
    rows = evaluate(sequences, args.min_points, not args.no_progress, overrides)
    goal_lines = goals(rows)
    wall = time.perf_counter() - start
    records = [r for _, recs in sequences.values() for r in recs]
    meta = json.loads((Path(args.model) / "model.json").read_text()).get("metadata", {})
    info = {
        "command": "python -m panoptic_training.evaluate_tracking " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "wall_s": wall, "threads": args.threads, "model": args.model, "frames": args.frames, "min_points": args.min_points,
        "model_note": ", ".join(f"{k} {v}" for k, v in sorted(meta.items()) if k in ("training_run", "steps")) or "no metadata",
        "normal_seeds": ", ".join(n for n, (k, _) in sequences.items() if k == "normal"),
        "occluded_seeds": ", ".join(n for n, (k, _) in sequences.items() if k == "occlusion"),
        "fusion_ms": float(np.mean([r.fusion_ms for r in records])),
        "separation": vector_separation(sequences), "load": load_average(), "cached": cached, "drives": len(sequences),
        "overrides": "; on top of them (`--set`): " + "; ".join(
            f"`{a}` with " + ", ".join(f"`{k}` {v}" for k, v in values.items()) for a, values in overrides.items() if values)
        if any(overrides.values()) else "",
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
