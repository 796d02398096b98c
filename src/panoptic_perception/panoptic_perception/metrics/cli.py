"""``panoptic-eval``: score predictions against ground truth; writes JSON and a readable table.

  panoptic-eval lidar --gt ROOT --pred ROOT --sequences 08 --out DIR [--convention semantickitti|nuscenes]
  panoptic-eval odometry --gt poses.txt --est poses.txt --out DIR
  panoptic-eval bag --gt DATASET_BAG --pred OUTPUT_BAG --out DIR [--no-odometry]

LiDAR inputs use the SemanticKITTI layout (``sequences/NN/labels`` vs ``sequences/NN/predictions``).
Bags: a dataset bag (ground truth) and a bag recorded from the stack's outputs while it was played
(see ``panoptic_datasets.evaluation``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .errors import EvalDataError, MetricsInputError
from .eval_io import iter_frames, read_kitti_poses
from .odometry import ate, rpe_frame_to_frame, rpe_kitti
from .tracking import TrackingEval


def evaluate_lidar(gt_root: Path, pred_root: Path, sequences: list[str], convention: str,
                   min_points: int | None) -> dict[str, Any]:
    ev = TrackingEval(convention=convention, min_points=min_points)
    frames = 0
    for seq in sequences:
        for frame in iter_frames(gt_root, pred_root, seq):
            ev.add_frame(*frame, sequence=seq)
            frames += 1
    out = ev.compute().as_dict()
    out["frames"] = frames
    return out


def evaluate_odometry(gt: Path, est: Path) -> dict[str, Any]:
    ref, pred = read_kitti_poses(gt), read_kitti_poses(est)
    if ref.shape[0] != pred.shape[0]:
        raise EvalDataError(f"{est} has {pred.shape[0]} poses, {gt} has {ref.shape[0]}")
    out: dict[str, Any] = {"poses": int(ref.shape[0]),
                           "ate_se3": ate(pred, ref, "se3").as_dict(), "ate_sim3": ate(pred, ref, "sim3").as_dict(),
                           "rpe_frame": rpe_frame_to_frame(pred, ref).as_dict()}
    try:
        out["rpe_kitti"] = rpe_kitti(pred, ref).as_dict()
    except MetricsInputError as err:
        out["rpe_kitti"] = {"skipped": str(err)}
    return out


def _rows(result: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows = []
    for key, value in result.items():
        if key == "per_class" or key == "per_length":
            continue
        if isinstance(value, dict):
            rows += _rows(value, f"{prefix}{key}.")
        elif isinstance(value, float):
            rows.append((prefix + key, f"{value:.4f}"))
        else:
            rows.append((prefix + key, str(value)))
    return rows


def format_table(result: dict[str, Any]) -> str:
    """Markdown table of the scalar metrics, then per-class rows when present."""
    lines = ["| metric | value |", "| --- | --- |"] + [f"| {k} | {v} |" for k, v in _rows(result)]
    per_class = result.get("per_class") or result.get("panoptic", {}).get("per_class")
    if per_class:
        cols = list(next(iter(per_class.values())).keys())
        lines += ["", "| class | " + " | ".join(cols) + " |", "| --- |" + " --- |" * len(cols)]
        for name, vals in per_class.items():
            cells = [f"{v:.4f}" if isinstance(v, float) else str(v) for v in vals.values()]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="panoptic-eval", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    lidar = sub.add_parser("lidar", help="3D panoptic segmentation and tracking (SemanticKITTI layout)")
    lidar.add_argument("--gt", type=Path, required=True, help="dataset root holding sequences/NN/labels")
    lidar.add_argument("--pred", type=Path, required=True, help="root holding sequences/NN/predictions")
    lidar.add_argument("--sequences", nargs="+", required=True)
    lidar.add_argument("--convention", choices=["semantickitti", "nuscenes"], default="semantickitti")
    lidar.add_argument("--min-points", type=int, default=None)
    lidar.add_argument("--out", type=Path, required=True, help="directory for metrics.json and metrics.md")
    odo = sub.add_parser("odometry", help="ATE / RPE from KITTI pose files")
    odo.add_argument("--gt", type=Path, required=True)
    odo.add_argument("--est", type=Path, required=True)
    odo.add_argument("--out", type=Path, required=True)
    bag = sub.add_parser("bag", help="panoptic tracking and odometry: dataset bag vs recorded output bag")
    bag.add_argument("--gt", type=Path, required=True, help="dataset bag (rosbag2 folder) with ground truth")
    bag.add_argument("--pred", type=Path, required=True, help="bag recorded from the stack's outputs")
    bag.add_argument("--convention", choices=["semantickitti", "nuscenes"], default="semantickitti")
    bag.add_argument("--min-points", type=int, default=None)
    bag.add_argument("--no-odometry", action="store_true", help="score segmentation and tracking only")
    bag.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "lidar":
            result = evaluate_lidar(args.gt, args.pred, args.sequences, args.convention, args.min_points)
        elif args.command == "odometry":
            result = evaluate_odometry(args.gt, args.est)
        else:
            # Bags are a dataset format: their reader lives in panoptic_datasets (imported only here).
            from panoptic_datasets.evaluation import evaluate_bags
            from panoptic_datasets.formats.errors import FormatError

            try:
                result = evaluate_bags(args.gt, args.pred, args.convention, args.min_points, not args.no_odometry)
            except FormatError as err:
                raise EvalDataError(str(err)) from err
    except (EvalDataError, MetricsInputError) as err:
        print(f"panoptic-eval: error: {err}", file=sys.stderr)
        return 2
    table = format_table(result)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "metrics.json").write_text(json.dumps(result, indent=2))
    (args.out / "metrics.md").write_text(table)
    print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
