"""Evaluate the panoptic map on held-out synthetic sequences driven by (corrupted) ground truth.

ORACLE INPUT: the map is fed ground-truth panoptic clouds and poses, either clean ("gt": per-frame
instance ids are the sequence-wide truth ids) or corrupted ("corrupted": instance ids randomly
permuted every frame, so identity must come from the merging, and ``--label-noise`` of the points
get a random class). Moving objects (truth flag) are passed as moving tracks.

Map PQ follows the Panoptic Lifting protocol: after the whole sequence, the final map's labels are
looked up for every frame's points and PQ is computed over the concatenation of all frames as ONE
frame, so an object must keep one map id over the whole sequence to count. Points of moving objects
are excluded (they live in the dynamic layer). Also: voxel class accuracy against the majority truth
class per voxel, Chamfer distance between map voxel centres and the accumulated static truth points,
map memory and update time per frame.

    python -m panoptic_perception.mapping.evaluate --seeds 2000 2001 --frames 100 --out-json out/mapping_eval.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from ..core import PanopticCloud, load_class_table, unpack_label
from ..metrics import PanopticEval
from . import keys as K
from .config import MapConfig
from .panoptic_map import PanopticMap


def corrupt(sem: np.ndarray, inst: np.ndarray, rng: np.random.Generator, label_noise: float, num_classes: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """Permute instance ids within the frame (fresh ids 1..) and flip ``label_noise`` of the classes."""
    ids = np.unique(inst[inst > 0])
    perm = np.zeros(int(inst.max(initial=0)) + 1, np.int64)
    perm[ids] = rng.permutation(ids.shape[0]) + 1 + rng.integers(0, 1000) * 100
    inst_c = perm[inst]
    sem_c = sem.copy()
    flip = rng.random(sem.shape[0]) < label_noise
    sem_c[flip] = rng.integers(1, num_classes, int(flip.sum()))
    return sem_c, inst_c


def scored_points(frame: Any, T_world_lidar: np.ndarray, window_radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A labelled frame's points within the map window, in the map frame, with their true class and instance;
    points of moving objects are unlabelled (class 0): they belong to the dynamic layer, not the map."""
    sem, inst = unpack_label(frame.point_label)
    moving = np.isin(inst, [o.instance_id for o in frame.objects if o.moving]) & (inst > 0)
    xyz = frame.sensor.points[:, :3].astype(np.float64)
    keep = np.linalg.norm(xyz, axis=1) <= window_radius
    T = np.asarray(T_world_lidar, np.float64)
    return xyz[keep] @ T[:3, :3].T + T[:3, 3], np.where(moving, 0, sem)[keep], inst[keep]


def map_panoptic_quality(snapshot: Any, voxel_size: float, points: np.ndarray, gt_sem: np.ndarray,
                         gt_inst: np.ndarray) -> Any:
    """Map PQ (Panoptic Lifting protocol): the final map's labels looked up at every scored point of every view,
    all views concatenated and scored as one frame."""
    pred_sem, pred_inst = snapshot.lookup(points, voxel_size)
    evaluator = PanopticEval()
    evaluator.add_frame(pred_sem, pred_inst, gt_sem.astype(np.uint16), gt_inst.astype(np.uint32))
    return evaluator.compute()


def run_sequence(frames: list[Any], mode: str, config: MapConfig, label_noise: float = 0.1, seed: int = 0,
                 keep_map: bool = False) -> dict[str, Any]:
    table = load_class_table()
    rng = np.random.default_rng(seed)
    m = PanopticMap(config, table)
    times, peak = [], 0
    world_pts, gt_sem_all, gt_inst_all = [], [], []
    for f in frames:
        sem, inst = unpack_label(f.point_label)
        sem, inst = sem.astype(np.int64), inst.astype(np.int64)
        moving_ids = {o.instance_id for o in f.objects if o.moving}
        is_moving = np.isin(inst, list(moving_ids)) & (inst > 0)
        if mode == "gt":
            sem_in, inst_in = sem, inst
        else:
            sem_in, inst_in = corrupt(sem, inst, rng, label_noise, table.num_classes)
        moving = {int(t): True for t in np.unique(inst_in[is_moving])}
        n = sem.shape[0]
        cloud = PanopticCloud(f.sensor.stamp_ns, f.sensor.points, sem_in.astype(np.uint16), inst_in.astype(np.uint32),
                              np.ones(n, np.float32), np.zeros(n, np.float32), inst_in.astype(np.uint32))
        t0 = time.perf_counter()
        m.integrate(cloud, f.T_world_lidar, moving)
        times.append(time.perf_counter() - t0)
        peak = max(peak, m.nbytes)
        scored = scored_points(f, f.T_world_lidar, config.window_radius)
        world_pts.append(scored[0])
        gt_sem_all.append(scored[1].astype(np.int64))
        gt_inst_all.append(scored[2].astype(np.int64))
    pts = np.concatenate(world_pts)
    gt_sem, gt_inst = np.concatenate(gt_sem_all), np.concatenate(gt_inst_all)
    snap = m.snapshot()
    pq = map_panoptic_quality(snap, config.voxel_size, pts, gt_sem, gt_inst)
    # Voxel class accuracy against the majority truth class per voxel
    labelled = gt_sem > 0
    gkeys, ginv = np.unique(K.voxel_keys(pts[labelled], config.voxel_size), return_inverse=True)
    hist = np.bincount(ginv * table.num_classes + gt_sem[labelled], minlength=gkeys.shape[0] * table.num_classes)
    gt_vox_cls = hist.reshape(-1, table.num_classes).argmax(axis=1)
    common, i_map, i_gt = np.intersect1d(snap.keys, gkeys, assume_unique=True, return_indices=True)
    acc = float(np.mean(snap.class_id[i_map] == gt_vox_cls[i_gt])) if common.size else 0.0
    # Chamfer: map voxel centres vs static truth points (thinned to one per 0.1 m cell)
    _, first = np.unique(K.voxel_keys(pts[labelled], 0.1), return_index=True)
    gt_geo = pts[labelled][first]
    d_map = cKDTree(gt_geo).query(snap.centres)[0]
    d_gt = cKDTree(snap.centres).query(gt_geo)[0]
    # Identity: map instances per static truth object seen with >= 50 points
    thing = table.is_thing_lut()[gt_sem] & (gt_inst > 0)
    _, cnt = np.unique(gt_inst[thing], return_counts=True)
    out = {
        "mode": mode, "frames": len(frames), "pq": pq.pq, "pq_things": pq.pq_things, "pq_stuff": pq.pq_stuff,
        "sq": pq.sq, "rq": pq.rq, "miou": pq.miou, "pq_car": pq.per_class.get("car", {}).get("pq", 0.0),
        "voxel_class_accuracy": acc, "chamfer_map_to_gt_m": float(d_map.mean()), "chamfer_gt_to_map_m": float(d_gt.mean()),
        "chamfer_m": float(0.5 * (d_map.mean() + d_gt.mean())), "num_voxels": int(snap.keys.shape[0]),
        "num_map_instances": len(m.registry), "num_static_gt_objects": int((cnt >= 50).sum()),
        "peak_map_mb": peak / 2**20, "spilled_blocks": len(m.voxels.spilled),
        "update_ms_mean": 1e3 * float(np.mean(times)), "update_ms_p95": 1e3 * float(np.percentile(times, 95)),
    }
    if keep_map:
        out["map"] = m
    else:
        m.close()
    return out


def plot_bev(m: PanopticMap, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon

    from .export import instance_colors

    snap = m.snapshot()
    colors = m.class_table.colors()[snap.class_id].astype(np.float64) / 255
    has = snap.instance_id > 0
    colors[has] = instance_colors(snap.instance_id[has]) / 255
    order = np.argsort(snap.centres[:, 2])
    fig, ax = plt.subplots(figsize=(14, 6), dpi=110)
    ax.scatter(snap.centres[order, 0], snap.centres[order, 1], c=colors[order], s=0.3, marker="s", linewidths=0)
    for inst in m.instances():
        c, s, yaw = np.array(inst["box_center"]), np.array(inst["box_size"]), inst["box_yaw"]
        R = np.array([[np.cos(yaw), -np.sin(yaw)], [np.sin(yaw), np.cos(yaw)]])
        corners = c[:2] + (np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * s[:2] / 2) @ R.T
        ax.add_patch(Polygon(corners, fill=False, lw=0.6, ec="k"))
    for o in m.dynamic.objects.values():
        ax.scatter(o.points[:, 0], o.points[:, 1], s=1.5, c="red", marker="o", linewidths=0)
    ax.set_aspect("equal")
    ax.set_xlabel("x [m] (odom)")
    ax.set_ylabel("y [m]")
    ax.set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def format_table(rows: list[dict[str, Any]]) -> str:
    cols = ["seed", "mode", "frames", "pq", "pq_things", "pq_stuff", "pq_car", "miou", "voxel_class_accuracy",
            "chamfer_m", "num_map_instances", "num_static_gt_objects", "peak_map_mb", "update_ms_mean", "update_ms_p95"]
    lines = ["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c]) for c in cols) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from panoptic_datasets.world import SceneConfig, make_rig, simulate

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[2000, 2001], help="scene seeds (test split: 2000-2099)")
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--label-noise", type=float, default=0.1)
    ap.add_argument("--rig", default="hdl32-front")
    ap.add_argument("--solver", default="auto")
    ap.add_argument("--out-json", type=Path)
    ap.add_argument("--bev", type=Path, help="write a bird's-eye view of the first seed's corrupted-input map")
    args = ap.parse_args(argv)
    rows = []
    for seed in args.seeds:
        frames = list(simulate(SceneConfig(seed=seed), make_rig(args.rig), args.frames))
        for mode in ("gt", "corrupted"):
            keep = args.bev is not None and mode == "corrupted" and seed == args.seeds[0]
            r = run_sequence(frames, mode, MapConfig(solver=args.solver), args.label_noise, seed, keep_map=keep)
            if keep:
                plot_bev(r.pop("map"), args.bev, f"panoptic map, seed {seed}, {args.frames} frames, corrupted oracle "
                         "input (ids permuted per frame, 10% label noise); boxes: map instances, red: dynamic layer")
            rows.append({"seed": seed, **r})
            print(format_table(rows[-1:]), flush=True)
    print(format_table(rows))
    if args.out_json:
        args.out_json.parent.mkdir(parents=True, exist_ok=True)
        args.out_json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
