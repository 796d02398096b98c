"""Evaluate the odometry on held-out synthetic sequences: PVO vs. the no-panoptic baseline vs. KISS-ICP.

Sequences come from the synthetic world's test seed range (``panoptic_datasets.splits``), one scene
config per dynamics level (static, moderate, high: many moving cars and people close to the ego
vehicle). All methods run in the same process on the same frames:

- ``pvo``: this stage with the panoptic weighting (PVO), labels from the LiDAR points projected (the runtime path),
- ``pvo-image-labels``: the same with per-pixel panoptic labels of the image (the world's truth: what an image
  panoptic network would give; with ``--labels upfuse`` still the truth),
- ``no-panoptic``: the same stage with the panoptic term off (the DROID-style baseline),
- ``lidar-path``: this stage's LiDAR path alone (image withheld), with the same panoptic weighting,
- ``kiss-icp``: KISS-ICP 1.3 (PyPI) on the de-skewable raw sweeps with per-point times.

Panoptic input (``--labels``): ``gt`` = ground-truth point classes/instances and the truth ``moving`` flags
as the tracker's moving set; ``upfuse`` = the shipped UP-Fuse model + tracker (``PerceptionPipeline``).
ATE (SE(3)-aligned RMSE of LiDAR positions) and frame-to-frame RPE against the sweep-stamp truth.
With ``--kitti`` a sequence is also written in the KITTI odometry layout and read back through
``panoptic_datasets.formats`` before the stage runs on it.

    python -m panoptic_perception.odometry.evaluate --frames 40 --seeds 2000 --out docs/odometry_eval.json
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ..camera_only import depth_init_from
from ..core import PanopticCloud, unpack_label
from ..metrics import ate, rpe_frame_to_frame
from .config import OdometryConfig
from .visual_odometry import PanopticOdometry

SCENARIOS: dict[str, dict[str, Any]] = {
    "static": {"dynamic_share": 0.0},
    "moderate": {"dynamic_share": 0.5},
    "high": {"dynamic_share": 1.0, "num_vehicles": 60, "num_pedestrians": 60, "num_cyclists": 10,
             "occlusion_heavy": True, "speed_scale": 1.5},
}
METHODS = ("pvo", "pvo-image-labels", "no-panoptic", "lidar-path", "kiss-icp")
EXTRA_METHODS = (
    "pvo-deepdps-depth",  # PVO with DeepDPS depth beyond the LiDAR (about 1 s more per frame)
    "pvo-lidar-fusion",  # PVO with every sweep's ICP fused in by information (OdometryConfig.lidar_fusion)
    "no-panoptic-lidar-fusion",  # the same with the panoptic weighting off
)


def make_sequence(scenario: str, seed: int, frames: int, rig_name: str) -> tuple[list[Any], Any]:
    from panoptic_datasets.world import SceneConfig, make_rig, simulate

    rig = make_rig(rig_name)
    config = SceneConfig(seed=seed, **SCENARIOS[scenario])
    return list(tqdm(simulate(config, rig, frames), total=frames, desc=f"simulate {scenario} {seed}", leave=False)), rig


def gt_inputs(frame: Any) -> tuple[PanopticCloud, set[int]]:
    """Ground-truth panoptic cloud (instance ids as track ids) and the truth's moving instances."""
    cls, inst = unpack_label(frame.point_label)
    n = len(cls)
    cloud = PanopticCloud(frame.sensor.stamp_ns, frame.sensor.points, cls.astype(np.uint16), inst.astype(np.uint32),
                          np.ones(n, np.float32), np.zeros(n, np.float32), inst.astype(np.uint32))
    return cloud, {o.instance_id for o in frame.objects if o.moving}


def upfuse_inputs(model_dir: str) -> Callable[[Any], tuple[PanopticCloud, set[int]]]:
    from ..pipeline import PerceptionPipeline, PipelineConfig
    from .visual_odometry import moving_track_ids

    config = PipelineConfig.from_dict({"fusion": {"model_dir": model_dir, "threads": 1}})
    pipeline = PerceptionPipeline.from_config(config)

    def run(frame: Any) -> tuple[PanopticCloud, set[int]]:
        result = pipeline.process(frame.sensor)
        return result.cloud, moving_track_ids(result.tracks)

    return run


def run_stage(frames: list[Any], inputs: list[tuple[PanopticCloud, set[int]]], rig: Any, config: OdometryConfig,
              use_camera: bool = True, camera: str = "front", image_labels: bool = False,
              depth_init: Callable[[np.ndarray], np.ndarray] | None = None) -> tuple[np.ndarray, float, list[str]]:
    """T_odom_lidar per sweep, mean ms per frame, and the mode of each frame."""
    stage = PanopticOdometry(config, T_base_lidar=rig.T_base_lidar, depth_init=depth_init)
    poses, modes, elapsed = [], [], 0.0
    for frame, (cloud, moving) in zip(frames, inputs, strict=True):
        image = frame.sensor.cameras.get(camera) if use_camera else None
        start = time.perf_counter()
        truth = frame.cameras.get(camera)
        pixels = (truth.semantic, truth.instance) if image_labels and truth is not None else None
        result = stage.process(cloud, moving, image, frame.sensor.point_time, pixels)
        elapsed += time.perf_counter() - start
        poses.append(result.T_odom_lidar)
        modes.append(result.mode)
    return np.stack(poses), 1e3 * elapsed / len(frames), modes


def run_kiss_icp(frames: list[Any]) -> tuple[np.ndarray, float]:
    from kiss_icp.config import KISSConfig
    from kiss_icp.kiss_icp import KissICP

    config = KISSConfig()
    config.data.max_range, config.data.min_range, config.data.deskew = 80.0, 2.0, True
    config.mapping.voxel_size = 1.0
    odom = KissICP(config)
    poses, elapsed = [], 0.0
    for frame in frames:
        xyz = frame.sensor.points[:, :3].astype(np.float64)
        t = np.asarray(frame.sensor.point_time, dtype=np.float64)
        stamps = (t - t.min()) / max(float(t.max() - t.min()), 1e-9)  # KISS-ICP de-skews on normalised times
        start = time.perf_counter()
        odom.register_frame(xyz, stamps)
        elapsed += time.perf_counter() - start
        poses.append(odom.last_pose.copy())
    return np.stack(poses), 1e3 * elapsed / len(frames)


def scores(estimate: np.ndarray, frames: list[Any]) -> dict[str, float]:
    truth = np.stack([f.T_world_lidar for f in frames])
    a = ate(estimate, truth, alignment="se3")
    r = rpe_frame_to_frame(estimate, truth)
    return {"ate_m": a.rmse, "rpe_m": r.translation_rmse_m, "rpe_deg": r.rotation_rmse_deg}


def evaluate_sequence(frames: list[Any], rig: Any, inputs: list[tuple[PanopticCloud, set[int]]],
                      methods: Iterable[str], base: OdometryConfig, deepdps_dir: str = "models/deepdps_cpu"
                      ) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for method in methods:
        if method == "kiss-icp":
            poses, ms = run_kiss_icp(frames)
            modes: list[str] = []
        else:
            config = OdometryConfig(**{**base.__dict__, "panoptic": not method.startswith("no-panoptic"),
                                       "lidar_fusion": base.lidar_fusion or method.endswith("lidar-fusion")})
            depth_init = depth_init_from(deepdps_dir) if method == "pvo-deepdps-depth" else None
            poses, ms, modes = run_stage(frames, inputs, rig, config, use_camera=method != "lidar-path",
                                         image_labels=method == "pvo-image-labels", depth_init=depth_init)
        rows[method] = {**scores(poses, frames), "ms_per_frame": ms, "poses": poses.tolist(),
                        "visual_share": float(np.mean([m == "visual" for m in modes])) if modes else None}
    return rows


def kitti_roundtrip(frames: list[Any], rig: Any, root: Path, sequence: int) -> tuple[list[Any], Any]:
    """Write the frames in the SemanticKITTI/KITTI odometry layout and read them back with the reader."""
    from panoptic_datasets.formats.semantickitti import SemanticKittiReader, SemanticKittiWriter

    with SemanticKittiWriter(root, sequence, T_base_lidar=rig.T_base_lidar) as writer:
        for frame in frames:
            writer.write(frame)
    reader = SemanticKittiReader(root, sequence)
    return list(reader), reader


def table(results: dict[str, Any]) -> str:
    """Markdown table: one row per (scenario, seed, method)."""
    lines = ["| scenario | seed | moving points | labels | method | ATE [m] | RPE [m/frame] | RPE [deg/frame] | ms/frame "
             "| visual frames |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for seq in results["sequences"]:
        for method, row in seq["rows"].items():
            visual = "-" if row["visual_share"] is None else f"{100 * row['visual_share']:.0f} %"
            lines.append(f"| {seq['scenario']} | {seq['seed']} | {100 * seq['moving_point_share']:.1f} % | {seq['labels']} | "
                         f"{method} | {row['ate_m']:.3f} | {row['rpe_m']:.3f} | {row['rpe_deg']:.3f} | "
                         f"{row['ms_per_frame']:.0f} | {visual} |")
    return "\n".join(lines)


def plot(results: dict[str, Any], out: Path) -> None:
    """Per sequence: top-view trajectories SE(3)-aligned to the truth (y exaggerated), and the position error per frame."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..metrics.odometry import umeyama

    seqs = results["sequences"]
    fig, axes = plt.subplots(2, len(seqs), figsize=(5.5 * len(seqs), 7.5), squeeze=False)
    for col, seq in enumerate(seqs):
        top, bottom = axes[0, col], axes[1, col]
        truth = np.asarray(seq["truth"])
        top.plot(truth[:, 0, 3], truth[:, 1, 3], "k-", lw=3, alpha=0.4, label="truth")
        for method, row in seq["rows"].items():
            est = np.asarray(row["poses"])
            rot, trans, _ = umeyama(est[:, :3, 3], truth[:, :3, 3], with_scale=False)
            p = est[:, :3, 3] @ rot.T + trans
            top.plot(p[:, 0], p[:, 1], ".-", ms=3, label=f"{method} (ATE {row['ate_m']:.2f} m)")
            bottom.semilogy(np.linalg.norm(p - truth[:, :3, 3], axis=1) + 1e-3, ".-", ms=3, label=method)
        top.set_title(f"{seq['scenario']} (seed {seq['seed']}, {100 * seq['moving_point_share']:.0f} % moving points)")
        top.set_xlabel("x [m]")
        top.set_ylabel("y [m] (exaggerated)")
        top.legend(fontsize=7)
        bottom.set_xlabel("frame")
        bottom.set_ylabel("aligned position error [m]")
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[2000])
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--rig", default="hdl64-front")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS + EXTRA_METHODS))
    ap.add_argument("--deepdps-dir", default="models/deepdps_cpu", help="model of the pvo-deepdps-depth row")
    ap.add_argument("--labels", choices=("gt", "upfuse"), default="gt")
    ap.add_argument("--model-dir", default="models/upfuse_cpu")
    ap.add_argument("--out", type=Path, default=Path("out/odometry_eval.json"))
    ap.add_argument("--plot", type=Path, default=None, help="trajectory figure (PNG)")
    ap.add_argument("--kitti", type=Path, default=None,
                    help="also write the first sequence in the KITTI odometry layout here and run PVO on what the reader returns")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    results: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "config": OdometryConfig().__dict__,
                               "sequences": []}
    for scenario in args.scenarios:
        for seed in args.seeds:
            frames, rig = make_sequence(scenario, seed, args.frames, args.rig)
            label_fn = upfuse_inputs(args.model_dir) if args.labels == "upfuse" else gt_inputs  # fresh tracker per sequence
            inputs = [label_fn(f) for f in tqdm(frames, desc="panoptic input", leave=False)]
            rows = evaluate_sequence(frames, rig, inputs, args.methods, OdometryConfig(), args.deepdps_dir)
            truth = np.stack([f.T_world_lidar for f in frames])
            dyn = float(np.mean([np.isin(unpack_label(f.point_label)[1], [o.instance_id for o in f.objects if o.moving]).mean()
                                 for f in frames]))
            results["sequences"].append({"scenario": scenario, "seed": seed, "labels": args.labels,
                                         "moving_point_share": dyn, "truth": truth.tolist(), "rows": rows})
            for method, row in rows.items():
                print(f"{scenario:9s} {seed} {method:12s} ATE {row['ate_m']:.3f} m  RPE {row['rpe_m']:.3f} m "
                      f"{row['rpe_deg']:.3f} deg  {row['ms_per_frame']:.0f} ms/frame", flush=True)
            if args.kitti is not None and not results.get("kitti"):
                read, reader = kitti_roundtrip(frames, rig, args.kitti, seed)
                kitti_inputs = [label_fn(f) for f in read]
                poses, ms, modes = run_stage(read, kitti_inputs, reader, OdometryConfig())
                results["kitti"] = {"scenario": scenario, "seed": seed, "frames": len(read), **scores(poses, read),
                                    "ms_per_frame": ms, "same_as_direct_ate": rows.get("pvo", {}).get("ate_m")}
                print(f"KITTI layout {scenario} {seed}: {len(read)} frames read back, PVO ATE {results['kitti']['ate_m']:.3f} m",
                      flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results))
    print(table(results))
    if args.plot is not None:
        plot(results, args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
