"""Detections of every instance segment of a sweep at once (one sort over the points, then per-segment reductions).

``Detection.from_points`` per instance converts and scans the sweep once per instance and validates each
field: with 50 instances that was most of the tracking stage's time. Here the points are grouped by segment
once (a stable sort, so each segment keeps its points in sweep order), and centroid, box, mean score and
majority class come from ``reduceat`` over the groups; inputs are validated once for the whole sweep.
"""

from __future__ import annotations

import copy

import numpy as np

from .errors import TrackingInputError
from .types import Detection

_TEMPLATE = Detection(0, 0.0, np.zeros(3))


def segment_detections(xyz: np.ndarray, segment_id: np.ndarray, class_id: np.ndarray, score: np.ndarray,
                       embeddings: np.ndarray | None = None, min_points: int = 1) -> list[Detection]:
    """One ``Detection`` per segment id > 0 with at least ``min_points`` points, in increasing id order.

    ``xyz`` (N, >= 3) sweep points; ``segment_id`` (N,) integer, 0 = no segment; ``class_id`` (N,) the class of
    each point (a segment takes its most frequent class, the smallest on a tie); ``score`` (N,) per-point
    confidence (a segment takes the mean); ``embeddings`` (K, D): row k is the association vector of segment
    id k + 1. As ``Detection.from_points``: centroid = mean, box = axis-aligned extent (yaw 0), points kept.
    """
    xyz = np.asarray(xyz)
    n = len(xyz)
    segment_id, class_id, score = (np.asarray(a) for a in (segment_id, class_id, score))
    if xyz.ndim != 2 or xyz.shape[1] < 3 or any(a.shape != (n,) for a in (segment_id, class_id, score)):
        raise TrackingInputError(f"segment_detections: points (N, 3+) and per-point ids, classes, scores (N,) must agree, "
                                 f"got {xyz.shape}, {segment_id.shape}, {class_id.shape}, {score.shape}")
    members = np.flatnonzero(segment_id > 0)
    member_ids = segment_id[members]
    if member_ids.size and int(member_ids.max()) < 1 << 16:
        member_ids = member_ids.astype(np.uint16)  # numpy's stable sort is a radix sort for 16-bit keys
    order = np.argsort(member_ids, kind="stable")
    members, member_ids = members[order], member_ids[order]
    starts = np.flatnonzero(np.r_[True, member_ids[1:] != member_ids[:-1]]) if members.size else np.zeros(0, np.int64)
    counts = np.diff(np.r_[starts, members.size])
    ids = member_ids[starts].astype(np.int64)
    keep = counts >= min_points
    if not keep.any():
        return []
    if embeddings is not None:
        embeddings = np.asarray(embeddings, dtype=np.float64)
        if embeddings.ndim != 2 or len(embeddings) < int(ids[keep].max()) or not np.all(np.isfinite(embeddings)):
            raise TrackingInputError(f"segment_detections: embeddings must be finite (K, D) with a row per segment id up to "
                                     f"{int(ids[keep].max())}, got shape {embeddings.shape}")
    points = xyz[members, :3].astype(np.float64)
    scores = score[members].astype(np.float64)
    if not (np.all(np.isfinite(points)) and np.all((scores >= 0) & (scores <= 1))):
        raise TrackingInputError("segment_detections: segment points must be finite and scores in [0, 1]")
    centroid = np.add.reduceat(points, starts, axis=0) / counts[:, None]
    lo, hi = np.minimum.reduceat(points, starts, axis=0), np.maximum.reduceat(points, starts, axis=0)
    mean_score = np.add.reduceat(scores, starts) / counts
    classes = class_id[members].astype(np.int64)
    cls = np.minimum.reduceat(classes, starts)
    mixed = np.flatnonzero(cls != np.maximum.reduceat(classes, starts))  # rare: most segments have one class
    if mixed.size:
        cls[mixed] = majority(np.repeat(np.arange(len(ids)), counts), classes, len(ids))[mixed]
    centre, size = (lo + hi) / 2, hi - lo
    vectors = embeddings[np.where(keep, ids, 1) - 1] if embeddings is not None else [None] * len(ids)  # dropped: any row
    ends = starts + counts
    out = []
    for k in np.flatnonzero(keep).tolist():
        d = copy.copy(_TEMPLATE)  # fields computed from validated arrays; skip __post_init__
        d.class_id, d.score, d.box_yaw = int(cls[k]), float(mean_score[k]), 0.0
        d.centroid, d.box_center, d.box_size, d.embedding = centroid[k], centre[k], size[k], vectors[k]
        d.point_indices, d.points = members[starts[k]:ends[k]], points[starts[k]:ends[k]]
        out.append(d)
    return out


def majority(group: np.ndarray, value: np.ndarray, num_groups: int) -> np.ndarray:
    """(num_groups,) most frequent non-negative ``value`` of each group (the smallest on a tie), as bincount().argmax()."""
    width = int(value.max()) + 1 if value.size else 1
    keys, counts = np.unique(group * width + value, return_counts=True)
    g, v = keys // width, keys % width
    order = np.lexsort((v, -counts, g))  # per group: most frequent first, then the smallest value
    first = order[np.r_[True, g[order][1:] != g[order][:-1]]]
    result = np.zeros(num_groups, np.int64)
    result[g[first]] = v[first]
    return result
