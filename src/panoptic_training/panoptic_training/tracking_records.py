"""What the tracking evaluation needs of one drive, computed once by the network and kept as NPZ.

The network is the slow part of ``evaluate_tracking`` and ``tune_tracking`` (about a quarter second per
frame here); the trackers are milliseconds. A drive's records (points, ground truth, the network's panoptic
points and association vectors, the oracle instances with their vectors) are written to one NPZ per drive
(``allow_pickle=False``) so that many tracker configurations can be scored on the same detections.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from panoptic_perception.core import PanopticCloud
from panoptic_perception.tracking import Detection

from .errors import TrainingDataError


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
    oracle_segment: np.ndarray  # (N,) int64: 1 + index of the oracle instance owning the point, 0 for none
    oracle_classes: np.ndarray  # (K_gt,) class of each oracle instance
    oracle_vectors: np.ndarray | None  # (K_gt, D) association vectors pooled under the ground-truth masks
    fusion_ms: float  # network forward + post-processing
    pred_inputs: np.ndarray | None = None  # (K, D_in) tracking-head inputs (appearance_shape) of predicted instances
    oracle_inputs: np.ndarray | None = None  # (K_gt, D_in) the same for the ground-truth instances

    def oracle(self) -> list[Detection]:
        """Ground-truth instances (score 1) as detections, with their vectors."""
        out = []
        for k, cls in enumerate(self.oracle_classes):
            emb = self.oracle_vectors[k] if self.oracle_vectors is not None else None
            out.append(Detection.from_points(self.points[:, :3], self.oracle_segment == k + 1, int(cls), 1.0, emb))
        return out


_ARRAYS = ("pose", "points", "gt_sem", "gt_inst", "oracle_segment", "oracle_classes")
_OPTIONAL = ("pred_vectors", "oracle_vectors", "pred_inputs", "oracle_inputs")


def instance_classes(cloud: PanopticCloud) -> np.ndarray:
    """(K,) class of each predicted instance 1..K of ``cloud`` (0 for an id that owns no point)."""
    k = int(cloud.instance_id.max()) if len(cloud.instance_id) else 0
    out = np.zeros(k, np.int64)
    owned = cloud.instance_id > 0
    out[cloud.instance_id[owned].astype(np.int64) - 1] = cloud.class_id[owned]
    return out


def save_records(path: Path, records: list[FrameRecord]) -> None:
    """One NPZ (no pickle) with ``{frame}/{field}`` arrays."""
    arrays: dict[str, np.ndarray] = {"frames": np.array(len(records))}
    for i, r in enumerate(records):
        arrays[f"{i}/fusion_ms"] = np.array(r.fusion_ms, dtype=np.float64)
        arrays[f"{i}/stamp_ns"] = np.array(r.stamp_ns, dtype=np.int64)
        for name in _ARRAYS:
            arrays[f"{i}/{name}"] = getattr(r, name)
        for name in _OPTIONAL:
            if getattr(r, name) is not None:
                arrays[f"{i}/{name}"] = getattr(r, name)
        arrays[f"{i}/pred_class"] = r.pred.class_id
        arrays[f"{i}/pred_instance"] = r.pred.instance_id
        arrays[f"{i}/pred_score"] = r.pred.score
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial.npz")
    np.savez_compressed(partial, **arrays)
    partial.replace(path)


def load_records(path: Path, frame_id: str = "lidar") -> list[FrameRecord]:
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise TrainingDataError(f"{path}: not a readable tracking-records NPZ: {err}") from err
    with data:
        records = []
        for i in range(int(data["frames"])):
            fusion_ms = float(data[f"{i}/fusion_ms"]) if f"{i}/fusion_ms" in data else float(data[f"{i}/scalars"][1])
            stamp_ns = int(data[f"{i}/stamp_ns"])
            points = data[f"{i}/points"]
            n = len(points)
            cloud = PanopticCloud(stamp_ns, points, data[f"{i}/pred_class"], data[f"{i}/pred_instance"],
                                  data[f"{i}/pred_score"], np.zeros(n, np.float32), frame_id=frame_id)
            optional = {k: data[f"{i}/{k}"] if f"{i}/{k}" in data else None for k in _OPTIONAL}
            records.append(FrameRecord(stamp_ns, data[f"{i}/pose"], points, data[f"{i}/gt_sem"], data[f"{i}/gt_inst"],
                                       cloud, optional["pred_vectors"], data[f"{i}/oracle_segment"],
                                       data[f"{i}/oracle_classes"], optional["oracle_vectors"], fusion_ms,
                                       optional["pred_inputs"], optional["oracle_inputs"]))
    return records
