"""Detections of every instance segment of a sweep at once (one sort over the points, then per-segment reductions).

``Detection.from_points`` per instance converts and scans the sweep once per instance and validates each
field: with 50 instances that was most of the tracking stage's time. Here the points are grouped by segment
once (a stable sort of the segment points only, so each segment keeps its points in sweep order), and centroid,
box, mean score and majority class come from ``reduceat`` over the groups; inputs are validated once for the
whole sweep and the ``Detection`` objects are filled from those arrays without validating them again.
"""

from __future__ import annotations

import numpy as np

from .errors import TrackingInputError
from .types import Detection


def segment_detections(xyz: np.ndarray, segment_id: np.ndarray, class_id: np.ndarray, score: np.ndarray,
                       embeddings: np.ndarray | None = None, min_points: int = 1,
                       keep_class: np.ndarray | None = None) -> list[Detection]:
    """One ``Detection`` per segment id > 0 with at least ``min_points`` points, in increasing id order.

    ``xyz`` (N, >= 3) sweep points; ``segment_id`` (N,) integer, 0 = no segment; ``class_id`` (N,) the class of
    each point (a segment takes its most frequent class, the smallest on a tie); ``score`` (N,) per-point
    confidence (a segment takes the mean); ``embeddings`` (K, D): row k is the association vector of segment
    id k + 1; ``keep_class`` (C,) bool over class ids: when given, only points of a True class belong to their
    segment (e.g. the thing classes). As ``Detection.from_points``: centroid = mean, box = axis-aligned extent
    (yaw 0), points kept.
    """
    xyz = np.asarray(xyz)
    n = len(xyz)
    segment_id, class_id, score = (np.asarray(a) for a in (segment_id, class_id, score))
    if xyz.ndim != 2 or xyz.shape[1] < 3 or any(a.shape != (n,) for a in (segment_id, class_id, score)):
        raise TrackingInputError(f"segment_detections: points (N, 3+) and per-point ids, classes, scores (N,) must agree, "
                                 f"got {xyz.shape}, {segment_id.shape}, {class_id.shape}, {score.shape}")
    members = np.flatnonzero(segment_id > 0)
    classes = class_id[members].astype(np.int64)
    if keep_class is not None:
        keep_class = np.asarray(keep_class)
        if keep_class.ndim != 1 or keep_class.dtype != bool or (classes.size and not 0 <= classes.min() <= classes.max()
                                                                < len(keep_class)):
            raise TrackingInputError(f"segment_detections: keep_class must be a bool table over the class ids "
                                     f"(here up to {int(classes.max()) if classes.size else 0}), got {keep_class.dtype} "
                                     f"{keep_class.shape}")
        kept = keep_class[classes]
        members, classes = members[kept], classes[kept]
    member_ids = segment_id[members]
    if member_ids.size and int(member_ids.max()) < 1 << 16:
        member_ids = member_ids.astype(np.uint16)  # numpy's stable sort is a radix sort for 16-bit keys
    order = np.argsort(member_ids, kind="stable")
    members, member_ids, classes = members[order], member_ids[order], classes[order]
    starts = np.flatnonzero(np.concatenate(([members.size > 0], member_ids[1:] != member_ids[:-1])))
    counts = np.diff(np.append(starts, members.size))
    ids = member_ids[starts].astype(np.int64)
    keep = counts >= min_points
    if not keep.any():
        return []
    if embeddings is not None:
        embeddings = np.asarray(embeddings, dtype=np.float64)
        if embeddings.ndim != 2 or len(embeddings) < int(ids[keep].max()) or not np.all(np.isfinite(embeddings)):
            raise TrackingInputError(f"segment_detections: embeddings must be finite (K, D) with a row per segment id up to "
                                     f"{int(ids[keep].max())}, got shape {embeddings.shape}")
    points = np.take(xyz, members, axis=0)[:, :3].astype(np.float64)  # rows first: converting all N points costs
    scores = score[members].astype(np.float64)
    if not (np.isfinite(points.sum()) and np.all((scores >= 0) & (scores <= 1))):
        raise TrackingInputError("segment_detections: segment points must be finite and scores in [0, 1]")
    centroid = np.add.reduceat(points, starts, axis=0) / counts[:, None]
    lo, hi = np.minimum.reduceat(points, starts, axis=0), np.maximum.reduceat(points, starts, axis=0)
    mean_score = np.add.reduceat(scores, starts) / counts
    cls = np.minimum.reduceat(classes, starts)
    mixed = np.flatnonzero(cls != np.maximum.reduceat(classes, starts))  # rare: most segments have one class
    if mixed.size:
        cls[mixed] = majority(np.repeat(np.arange(len(ids)), counts), classes, len(ids))[mixed]
    centre, size = (lo + hi) / 2, hi - lo
    vectors = list(embeddings[np.where(keep, ids, 1) - 1]) if embeddings is not None else [None] * len(ids)  # dropped: any row
    return [Detection.trusted(c, s, mean, box_centre, box_size, 0.0, vector, members[a:b], points[a:b])
            for c, s, mean, box_centre, box_size, vector, a, b, k
            in zip(cls.tolist(), mean_score.tolist(), list(centroid), list(centre), list(size), vectors, starts.tolist(),
                   (starts + counts).tolist(), keep.tolist(), strict=True) if k]


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
