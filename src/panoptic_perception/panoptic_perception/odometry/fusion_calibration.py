"""How the LiDAR fusion weighs the visual pose against the ICP, and whether either information is calibrated.

For every fused frame this records the traces of both body-frame informations (translation and rotation
blocks), how far the fused pose moved from the visual pose (the ICP's pull) and how far it stayed from the
ICP pose (the visual pull), and each source's normalised estimation error squared
``NEES = e^T L e`` with ``e = Log(T_cond^-1 T_source)``, ``T_cond`` the true pose given the previous fused
pose (previous fused pose times the true step). A calibrated 6-dof information has mean NEES 6; the
scale that makes it so is ``6 / mean NEES``. Each run is repeated with the visual information scaled by
``OdometryConfig.visual_information_scale`` (``--scales``; ``--lidar-scale`` sets the ICP's). Meant for
validation-split seeds (the test seeds are for the evaluation only).

    python -m panoptic_perception.odometry.fusion_calibration --scenarios high static --seeds 1000 --frames 20
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from . import motion
from .config import OdometryConfig
from .evaluate import SCENARIOS, gt_inputs, make_sequence, scores
from .visual_odometry import PanopticOdometry


def conditional_error(previous: np.ndarray, current: np.ndarray, true_previous: np.ndarray,
                      true_current: np.ndarray) -> np.ndarray:
    """(6,) body perturbation ``[rho, phi]`` of ``current`` from the truth given the previous estimate."""
    T_cond = previous @ np.linalg.inv(true_previous) @ true_current
    return motion.log(np.linalg.inv(T_cond) @ current)


def frame_record(previous: np.ndarray, fused: np.ndarray, sources: dict[str, np.ndarray],
                 information: dict[str, np.ndarray], true_previous: np.ndarray, true_current: np.ndarray) -> dict[str, Any]:
    """One fused frame: information traces, pulls [m], and per-source NEES and conditional errors."""
    out: dict[str, Any] = {
        "icp_pull_m": float(np.linalg.norm(motion.log(np.linalg.inv(sources["visual"]) @ fused)[:3])),
        "visual_pull_m": float(np.linalg.norm(motion.log(np.linalg.inv(sources["icp"]) @ fused)[:3])),
        "delta_m": float(np.linalg.norm(motion.log(np.linalg.inv(sources["visual"]) @ sources["icp"])[:3])),
    }
    for name, T in {**sources, "fused": fused}.items():
        e = conditional_error(previous, T, true_previous, true_current)
        out[f"{name}_error_m"] = float(np.linalg.norm(e[:3]))
        out[f"{name}_error"] = e.tolist()
        if name in information:
            L = information[name]
            out[f"{name}_nees"] = float(e @ L @ e)
            out[f"{name}_trace_t"] = float(np.trace(L[:3, :3]))
            out[f"{name}_trace_r"] = float(np.trace(L[3:, 3:]))
    return out


def run(frames: list[Any], rig: Any, config: OdometryConfig) -> dict[str, Any]:
    stage = PanopticOdometry(config, T_base_lidar=rig.T_base_lidar)
    poses, records = [], []
    for k, frame in enumerate(tqdm(frames, desc=f"panoptic={config.panoptic} s={config.visual_information_scale:g}",
                                   leave=False)):
        cloud, moving = gt_inputs(frame)
        result = stage.process(cloud, moving, frame.sensor.cameras.get("front"), frame.sensor.point_time)
        poses.append(result.T_odom_lidar)
        if k and result.fused_from:
            records.append({"frame": k, **frame_record(poses[k - 1], result.T_odom_lidar, result.fused_from,
                                                       result.fused_information, frames[k - 1].T_world_lidar,
                                                       frame.T_world_lidar)})
    return {**scores(np.stack(poses), frames), "frames": records}


def summary(records: list[dict[str, Any]]) -> dict[str, float]:
    """Medians of the pulls and traces, RMS errors, mean NEES and the calibrating scales 6 / mean NEES."""
    if not records:
        return {}
    out: dict[str, float] = {}
    for key in ("icp_pull_m", "visual_pull_m", "delta_m", "visual_trace_t", "visual_trace_r", "icp_trace_t", "icp_trace_r"):
        out[f"median_{key}"] = float(np.median([r[key] for r in records]))
    for name in ("visual", "icp", "fused"):
        out[f"rms_{name}_error_m"] = float(np.sqrt(np.mean([r[f"{name}_error_m"] ** 2 for r in records])))
    for name in ("visual", "icp"):
        nees = np.array([r[f"{name}_nees"] for r in records])
        out[f"mean_{name}_nees"] = float(nees.mean())
        out[f"{name}_calibrating_scale"] = float(6.0 / max(nees.mean(), 1e-12))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", nargs="+", default=["high", "static"], choices=list(SCENARIOS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[1000])
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--rig", default="hdl64-front")
    ap.add_argument("--scales", nargs="+", type=float, default=[1.0, 0.3, 0.1, 0.03])
    ap.add_argument("--lidar-scale", type=float, default=1.0, help="OdometryConfig.lidar_information_scale")
    ap.add_argument("--methods", nargs="+", default=["pvo", "no-panoptic"], choices=["pvo", "no-panoptic"])
    ap.add_argument("--out", type=Path, default=Path("out/fusion_calibration.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    results: list[dict[str, Any]] = []
    for scenario in args.scenarios:
        for seed in args.seeds:
            frames, rig = make_sequence(scenario, seed, args.frames, args.rig)
            for method in args.methods:
                for scale in args.scales:
                    config = OdometryConfig(lidar_fusion=True, panoptic=method == "pvo", visual_information_scale=scale,
                                            lidar_information_scale=args.lidar_scale)
                    row = run(frames, rig, config)
                    row.update(scenario=scenario, seed=seed, method=method, scale=scale, summary=summary(row["frames"]))
                    results.append(row)
                    s = row["summary"]
                    print(f"{scenario} {seed} {method} s={scale:g}: ATE {1e3 * row['ate_m']:.2f} mm RPE "
                          f"{1e3 * row['rpe_m']:.2f} mm {row['rpe_deg']:.4f} deg | pulls icp/visual "
                          f"{1e3 * s.get('median_icp_pull_m', np.nan):.2f}/{1e3 * s.get('median_visual_pull_m', np.nan):.3f} mm"
                          f" | trace_t vis/icp {s.get('median_visual_trace_t', np.nan):.3g}/"
                          f"{s.get('median_icp_trace_t', np.nan):.3g}"
                          f" trace_r {s.get('median_visual_trace_r', np.nan):.3g}/{s.get('median_icp_trace_r', np.nan):.3g}"
                          f" | NEES vis/icp {s.get('mean_visual_nees', np.nan):.3g}/{s.get('mean_icp_nees', np.nan):.3g}",
                          flush=True)
                    args.out.parent.mkdir(parents=True, exist_ok=True)
                    args.out.write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
