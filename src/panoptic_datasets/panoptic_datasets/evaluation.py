"""Score a recorded output bag of the stack against the dataset bag it was played from.

Ground truth: a dataset bag (``BagReader``): per-sweep packed labels and ``T_world_lidar``.
Predictions: a bag recorded from the stack's outputs, matched to sweeps by header stamp:
``/perception/panoptic_points`` (PointCloud2 with ``class_id``, ``instance_id``, ``track_id``
fields, aligned point for point with the input sweep) and, optionally, ``/perception/odometry``
(``nav_msgs/Odometry``: base_link in odom).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from panoptic_perception.core import unpack_label
from panoptic_perception.metrics import TrackingEval, ate, rpe_frame_to_frame, rpe_kitti
from panoptic_perception.metrics.errors import EvalDataError, MetricsInputError
from panoptic_perception.ros.conversions import cloud_to_array, stamp_to_ns, transform_to_matrix

from .formats._io import invert
from .formats.bag import BagReader, read_messages

PANOPTIC_TOPIC = "/perception/panoptic_points"
ODOMETRY_TOPIC = "/perception/odometry"


def _predictions(pred_bag: Path, with_odometry: bool) -> tuple[dict[int, Any], dict[int, np.ndarray]]:
    clouds: dict[int, Any] = {}
    poses: dict[int, np.ndarray] = {}
    topics = [PANOPTIC_TOPIC, ODOMETRY_TOPIC] if with_odometry else [PANOPTIC_TOPIC]
    for topic, _, msg in read_messages(pred_bag, topics):
        stamp = stamp_to_ns(msg.header.stamp)
        if topic == PANOPTIC_TOPIC:
            clouds[stamp] = msg
        else:
            poses[stamp] = transform_to_matrix(msg)
    return clouds, poses


def _panoptic_fields(msg: Any, stamp: int, expected_points: int) -> tuple[np.ndarray, np.ndarray]:
    points = cloud_to_array(msg)
    missing = {"class_id", "track_id"} - set(points.dtype.names or ())
    if missing:
        raise EvalDataError(f"{PANOPTIC_TOPIC} at {stamp}: missing field(s) {', '.join(sorted(missing))}")
    if len(points) != expected_points:
        raise EvalDataError(f"{PANOPTIC_TOPIC} at {stamp}: {len(points)} points, the sweep has {expected_points}")
    return points["class_id"].astype(np.uint16), points["track_id"].astype(np.uint32)


def evaluate_bags(gt_bag: str | Path, pred_bag: str | Path, convention: str = "semantickitti",
                  min_points: int | None = None, odometry: bool = True, missing: str = "error") -> dict[str, Any]:
    """Panoptic tracking metrics (PQ family, PTQ, LSTQ, MOTSA, ...) and, with ``odometry``, ATE/RPE.

    Predicted instances are the track ids. A sweep without a prediction is an error, or with
    ``missing="empty"`` scored as an empty prediction (every ground-truth segment missed) and counted.
    """
    if missing not in ("error", "empty"):
        raise ValueError(f"missing must be 'error' or 'empty', got {missing!r}")
    reader = BagReader(gt_bag)
    clouds, poses = _predictions(Path(pred_bag), odometry)
    evaluator = TrackingEval(convention=convention, min_points=min_points)
    T_lidar_base = invert(reader.T_base_lidar)
    gt_poses, est_poses = [], []
    unpredicted = 0
    for frame in reader:
        stamp = frame.sensor.stamp_ns
        gt_sem, gt_inst = unpack_label(frame.point_label)
        if stamp in clouds:
            pred_sem, pred_track = _panoptic_fields(clouds[stamp], stamp, len(frame.point_label))
        elif missing == "empty":
            unpredicted += 1
            pred_sem, pred_track = np.zeros_like(gt_sem), np.zeros(len(gt_sem), np.uint32)
        else:
            raise EvalDataError(f"{pred_bag}: no {PANOPTIC_TOPIC} for the sweep at {stamp}")
        evaluator.add_frame(pred_sem, pred_track, gt_sem, gt_inst)
        if odometry:
            if stamp not in poses:
                raise EvalDataError(f"{pred_bag}: no {ODOMETRY_TOPIC} for the sweep at {stamp}")
            gt_poses.append(frame.T_world_lidar @ T_lidar_base)
            est_poses.append(poses[stamp])
    result: dict[str, Any] = evaluator.compute().as_dict()
    result["frames"] = len(reader)
    result["missing"] = unpredicted
    if odometry:
        est, ref = np.stack(est_poses), np.stack(gt_poses)
        result["odometry"] = {"ate_se3": ate(est, ref, "se3").as_dict(), "rpe_frame": rpe_frame_to_frame(est, ref).as_dict()}
        try:
            result["odometry"]["rpe_kitti"] = rpe_kitti(est, ref).as_dict()
        except MetricsInputError as err:  # sequences shorter than the 100 m segments
            result["odometry"]["rpe_kitti"] = {"skipped": str(err)}
    return result
