"""Where the fused pose's frame-to-frame error comes from: the visual pose, the ICP, or their fusion.

For every fused frame k, each candidate pose (visual, ICP, fused) is taken as the step from the fused
pose of frame k-1 and compared with the true step; the RMS over frames is given per axis of the LiDAR
body frame (x forward, y left, z up). A validation-split seed by default (the test seeds are for the
evaluation only).

    python -m panoptic_perception.odometry.fusion_breakdown --scenario high --seed 1000 --frames 20
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np
import torch

from .config import OdometryConfig
from .evaluate import SCENARIOS, gt_inputs, make_sequence, scores
from .fusion_calibration import conditional_error
from .visual_odometry import PanopticOdometry


def step_errors(previous: np.ndarray, current: np.ndarray, true_previous: np.ndarray, true_current: np.ndarray) -> np.ndarray:
    """(6,) error of the step previous -> current against the true step: [x, y, z] [m], [rx, ry, rz] [deg]."""
    xi = conditional_error(previous, current, true_previous, true_current)
    return np.concatenate([xi[:3], np.degrees(xi[3:])])


def breakdown(frames: list[Any], rig: Any, config: OdometryConfig) -> dict[str, Any]:
    stage = PanopticOdometry(config, T_base_lidar=rig.T_base_lidar)
    poses, errors = [], {"visual": [], "icp": [], "fused": []}
    for k, frame in enumerate(frames):
        cloud, moving = gt_inputs(frame)
        result = stage.process(cloud, moving, frame.sensor.cameras.get("front"), frame.sensor.point_time)
        poses.append(result.T_odom_lidar)
        if k and result.fused_from:
            candidates = {**result.fused_from, "fused": result.T_odom_lidar}
            for name, T in candidates.items():
                errors[name].append(step_errors(poses[k - 1], T, frames[k - 1].T_world_lidar, frame.T_world_lidar))
    out: dict[str, Any] = {"frames": len(frames), "fused_frames": len(errors["fused"]),
                           **{k: float(v) for k, v in scores(np.stack(poses), frames).items()}}
    for name, rows in errors.items():
        e = np.array(rows).reshape(-1, 6)
        rms = np.sqrt((e**2).mean(axis=0))
        out[name] = {"translation_rms_m_xyz": rms[:3].tolist(), "rotation_rms_deg_xyz": rms[3:].tolist(),
                     "rotation_rms_deg": float(np.sqrt((e[:, 3:] ** 2).sum(axis=1).mean()))}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="high", choices=list(SCENARIOS))
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--rig", default="hdl64-front")
    ap.add_argument("--no-panoptic", action="store_true", help="the baseline: panoptic weighting off")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    frames, rig = make_sequence(args.scenario, args.seed, args.frames, args.rig)
    result = breakdown(frames, rig, OdometryConfig(lidar_fusion=True, panoptic=not args.no_panoptic))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
