"""3D panoptic quality (Kirillov et al.) with the SemanticKITTI / nuScenes LiDAR conventions.

Per class c: PQ_c = sum_{TP} IoU / (|TP| + |FP|/2 + |FN|/2) = SQ_c * RQ_c, a match being a same-class
(gt, pred) segment pair with IoU > 0.5 (unique by construction). Conventions shared with the
semantic-kitti-api ``eval_np.PanopticEval``: points whose ground truth is an ignored class are removed
before anything is counted; unmatched predicted / ground-truth segments smaller than ``min_points``
are not counted as FP / FN; means run over every non-ignored class (absent classes score 0).
Stuff classes are one segment per class (instance ids of stuff points are dropped).
PQ-dagger (Porzi et al., Seamless Scene Segmentation): PQ for thing classes, IoU for stuff classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core import load_class_table
from ._overlap import OverlapTable, factorize, overlap_table
from .errors import MetricsInputError

CONVENTION_MIN_POINTS = {"semantickitti": 50, "nuscenes": 15}


@dataclass(frozen=True)
class SegmentMatches:
    """One frame's panoptic matching: per-class counts plus the matched pairs themselves."""

    tp: np.ndarray  # (C,) int64
    iou_sum: np.ndarray  # (C,) float64
    fp: np.ndarray  # (C,) int64
    fn: np.ndarray  # (C,) int64
    match_class: np.ndarray  # (M,) class of each matched pair
    match_gt: np.ndarray  # (M,) gt instance id
    match_pred: np.ndarray  # (M,) pred instance id
    match_iou: np.ndarray  # (M,) float64


def drop_ignored(table: OverlapTable, ignore_mask: np.ndarray, is_thing: np.ndarray) -> OverlapTable:
    """Remove cells whose ground truth is ignored and merge stuff instances (eval conventions)."""
    return table.select(~ignore_mask[table.gt_sem]).with_stuff_merged(is_thing)


def match_segments(table: OverlapTable, ignore_mask: np.ndarray, min_points: int) -> SegmentMatches:
    """Match segments of a table already passed through :func:`drop_ignored`."""
    num_classes = ignore_mask.shape[0]
    g_idx, g_first = factorize(table.gt_sem, table.gt_inst)
    p_idx, p_first = factorize(table.pred_sem, table.pred_inst)
    gt_area = np.bincount(g_idx, weights=table.count, minlength=g_first.shape[0])
    pred_area = np.bincount(p_idx, weights=table.count, minlength=p_first.shape[0])
    same = table.pred_sem == table.gt_sem
    inter = table.count[same].astype(np.float64)
    iou = inter / (gt_area[g_idx[same]] + pred_area[p_idx[same]] - inter)
    tp = iou > 0.5
    match_class = table.gt_sem[same][tp]
    gt_matched = np.zeros(g_first.shape[0], dtype=bool)
    gt_matched[g_idx[same][tp]] = True
    pred_matched = np.zeros(p_first.shape[0], dtype=bool)
    pred_matched[p_idx[same][tp]] = True
    gt_class = table.gt_sem[g_first]
    pred_class = table.pred_sem[p_first]
    fn_seg = ~gt_matched & (gt_area >= min_points)
    fp_seg = ~pred_matched & (pred_area >= min_points) & ~ignore_mask[pred_class]
    return SegmentMatches(
        tp=np.bincount(match_class, minlength=num_classes).astype(np.int64),
        iou_sum=np.bincount(match_class, weights=iou[tp], minlength=num_classes),
        fp=np.bincount(pred_class[fp_seg], minlength=num_classes).astype(np.int64),
        fn=np.bincount(gt_class[fn_seg], minlength=num_classes).astype(np.int64),
        match_class=match_class,
        match_gt=table.gt_inst[same][tp],
        match_pred=table.pred_inst[same][tp],
        match_iou=iou[tp],
    )


def confusion_update(conf: np.ndarray, table: OverlapTable) -> None:
    """Add a frame to a (pred class, gt class) point confusion matrix."""
    n = conf.shape[0]
    conf += np.bincount(table.pred_sem * n + table.gt_sem, weights=table.count,
                        minlength=n * n).astype(np.int64).reshape(n, n)


def class_iou(conf: np.ndarray, ignore_mask: np.ndarray) -> np.ndarray:
    """Per-class IoU from a (pred, gt) confusion matrix; predictions on ignored gt do not count."""
    conf = conf.astype(np.float64).copy()
    conf[:, ignore_mask] = 0.0
    tp = np.diag(conf)
    union = conf.sum(axis=1) + conf.sum(axis=0) - tp
    return np.divide(tp, union, out=np.zeros_like(tp), where=union > 0)


def pq_terms(tp: np.ndarray, iou_sum: np.ndarray, fp: np.ndarray, fn: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class (PQ, SQ, RQ); 0 where undefined."""
    tp = tp.astype(np.float64)
    sq = np.divide(iou_sum, tp, out=np.zeros_like(tp), where=tp > 0)
    denom = tp + 0.5 * fp + 0.5 * fn
    rq = np.divide(tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return sq * rq, sq, rq


def _mean(values: np.ndarray, mask: np.ndarray) -> float:
    return float(values[mask].mean()) if mask.any() else 0.0


@dataclass
class PanopticResult:
    convention: str
    min_points: int
    pq: float
    sq: float
    rq: float
    pq_dagger: float
    pq_things: float
    sq_things: float
    rq_things: float
    pq_stuff: float
    sq_stuff: float
    rq_stuff: float
    miou: float
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class PanopticEval:
    """Streaming 3D panoptic evaluator: ``add_frame`` per scan, ``compute`` at any time.

    Memory is a few arrays of size ``num_classes``; nothing per frame is kept.
    """

    def __init__(self, num_classes: int | None = None, ignore: Sequence[int] = (0,), min_points: int | None = None,
                 convention: str = "semantickitti", thing_ids: Sequence[int] | None = None,
                 class_names: Sequence[str] | None = None) -> None:
        if convention not in CONVENTION_MIN_POINTS:
            raise MetricsInputError(f"unknown convention {convention!r}; known: {', '.join(CONVENTION_MIN_POINTS)}")
        table = load_class_table()
        self.num_classes = table.num_classes if num_classes is None else int(num_classes)
        self.convention = convention
        self.min_points = CONVENTION_MIN_POINTS[convention] if min_points is None else int(min_points)
        self.ignore_mask = np.zeros(self.num_classes, dtype=bool)
        self.ignore_mask[list(ignore)] = True
        things = table.thing_ids if thing_ids is None else tuple(thing_ids)
        self.is_thing = np.zeros(self.num_classes, dtype=bool)
        self.is_thing[[t for t in things if t < self.num_classes]] = True
        if class_names is None:
            class_names = table.names if self.num_classes == table.num_classes else [
                str(c) for c in range(self.num_classes)]
        if len(class_names) != self.num_classes:
            raise MetricsInputError(f"class_names has {len(class_names)} entries, expected {self.num_classes}")
        self.class_names = tuple(class_names)
        self.reset()

    def reset(self) -> None:
        c = self.num_classes
        self.tp = np.zeros(c, np.int64)
        self.fp = np.zeros(c, np.int64)
        self.fn = np.zeros(c, np.int64)
        self.iou_sum = np.zeros(c, np.float64)
        self.confusion = np.zeros((c, c), np.int64)
        self.frames = 0

    def add_frame(self, pred_sem: np.ndarray, pred_inst: np.ndarray, gt_sem: np.ndarray,
                  gt_inst: np.ndarray) -> SegmentMatches:
        """Add one scan (per-point semantic and instance ids); returns the frame's matches."""
        table = overlap_table(pred_sem, pred_inst, gt_sem, gt_inst, self.num_classes)
        return self.add_table(table)

    update = add_frame

    def add_table(self, table: OverlapTable) -> SegmentMatches:
        confusion_update(self.confusion, table)
        matches = match_segments(drop_ignored(table, self.ignore_mask, self.is_thing), self.ignore_mask,
                                 self.min_points)
        self.tp += matches.tp
        self.fp += matches.fp
        self.fn += matches.fn
        self.iou_sum += matches.iou_sum
        self.frames += 1
        return matches

    def compute(self) -> PanopticResult:
        pq, sq, rq = pq_terms(self.tp, self.iou_sum, self.fp, self.fn)
        iou = class_iou(self.confusion, self.ignore_mask)
        include = ~self.ignore_mask
        things, stuff = include & self.is_thing, include & ~self.is_thing
        dagger = np.where(self.is_thing, pq, iou)
        per_class = {
            self.class_names[c]: {"pq": float(pq[c]), "sq": float(sq[c]), "rq": float(rq[c]), "iou": float(iou[c]),
                                  "tp": int(self.tp[c]), "fp": int(self.fp[c]), "fn": int(self.fn[c])}
            for c in np.flatnonzero(include)
        }
        return PanopticResult(
            convention=self.convention, min_points=self.min_points,
            pq=_mean(pq, include), sq=_mean(sq, include), rq=_mean(rq, include), pq_dagger=_mean(dagger, include),
            pq_things=_mean(pq, things), sq_things=_mean(sq, things), rq_things=_mean(rq, things),
            pq_stuff=_mean(pq, stuff), sq_stuff=_mean(sq, stuff), rq_stuff=_mean(rq, stuff),
            miou=_mean(iou, include), per_class=per_class,
        )
