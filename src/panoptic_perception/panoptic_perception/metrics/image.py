"""Image and video metrics: image PQ (panopticapi), VPQ (Kim et al., VPSNet), DPQ (Qiao et al.,
ViP-DeepLab) and the Eigen depth metrics.

Image PQ follows the COCO/Cityscapes ``panopticapi``: ground-truth pixels of an ignored class are void;
IoU = |p & g| / (|p| + |g| - |p & g| - |p & void|); an unmatched prediction is not a FP when more than
half of it lies on void; means run over classes with TP + FP + FN > 0. Predicted pixels of an ignored
class belong to no segment. ``convention="torchmetrics"`` reproduces ``torchmetrics``' PanopticQuality,
which also removes the predicted-void part of a gt segment from the union and does not count a gt
segment as FN when more than half of it was predicted void.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core import load_class_table
from ._overlap import OverlapTable, factorize, overlap_table
from .errors import MetricsInputError
from .panoptic import pq_terms

VPQ_WINDOWS = (0, 5, 10, 15)
DPQ_THRESHOLDS = (0.5, 0.25, 0.1)
IMAGE_CONVENTIONS = ("panopticapi", "torchmetrics")


def image_pq_stats(table: OverlapTable, ignore_mask: np.ndarray, convention: str = "panopticapi"
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-class (tp, iou_sum, fp, fn) of one image or window; stuff already merged in ``table``."""
    c = ignore_mask.shape[0]
    gt_void, pred_void = ignore_mask[table.gt_sem], ignore_mask[table.pred_sem]
    p_idx, p_first = factorize(table.pred_sem, table.pred_inst)
    g_idx, g_first = factorize(table.gt_sem, table.gt_inst)
    pred_area = np.bincount(p_idx, weights=table.count, minlength=p_first.shape[0])
    gt_area = np.bincount(g_idx, weights=table.count, minlength=g_first.shape[0])
    pred_on_void = np.bincount(p_idx, weights=table.count * gt_void, minlength=p_first.shape[0])
    gt_under_void = np.bincount(g_idx, weights=table.count * pred_void, minlength=g_first.shape[0])
    cand = ~gt_void & ~pred_void & (table.gt_sem == table.pred_sem)
    inter = table.count[cand].astype(np.float64)
    union = pred_area[p_idx[cand]] + gt_area[g_idx[cand]] - inter - pred_on_void[p_idx[cand]]
    if convention == "torchmetrics":
        union = union - gt_under_void[g_idx[cand]]
    iou = inter / union
    tp = iou > 0.5
    cls = table.gt_sem[cand][tp]
    g_matched = np.zeros(g_first.shape[0], bool)
    g_matched[g_idx[cand][tp]] = True
    p_matched = np.zeros(p_first.shape[0], bool)
    p_matched[p_idx[cand][tp]] = True
    g_cls, p_cls = table.gt_sem[g_first], table.pred_sem[p_first]
    fn_seg = ~g_matched & ~ignore_mask[g_cls]
    if convention == "torchmetrics":
        fn_seg &= gt_under_void / np.maximum(gt_area, 1) <= 0.5
    fp_seg = ~p_matched & ~ignore_mask[p_cls] & (pred_on_void / np.maximum(pred_area, 1) <= 0.5)
    return (np.bincount(cls, minlength=c).astype(np.int64), np.bincount(cls, weights=iou[tp], minlength=c),
            np.bincount(p_cls[fp_seg], minlength=c).astype(np.int64),
            np.bincount(g_cls[fn_seg], minlength=c).astype(np.int64))


@dataclass
class ImagePQResult:
    pq: float
    sq: float
    rq: float
    pq_things: float
    pq_stuff: float
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class _ClassSetup:
    def __init__(self, num_classes: int | None, ignore: Sequence[int], thing_ids: Sequence[int] | None,
                 convention: str) -> None:
        if convention not in IMAGE_CONVENTIONS:
            raise MetricsInputError(f"unknown convention {convention!r}; known: {', '.join(IMAGE_CONVENTIONS)}")
        table = load_class_table()
        self.num_classes = table.num_classes if num_classes is None else int(num_classes)
        self.convention = convention
        self.ignore_mask = np.zeros(self.num_classes, bool)
        self.ignore_mask[list(ignore)] = True
        self.is_thing = np.zeros(self.num_classes, bool)
        things = table.thing_ids if thing_ids is None else tuple(thing_ids)
        self.is_thing[[t for t in things if t < self.num_classes]] = True
        self.names = table.names if self.num_classes == table.num_classes else tuple(
            str(i) for i in range(self.num_classes))

    def table(self, pred_sem: np.ndarray, pred_inst: np.ndarray, gt_sem: np.ndarray, gt_inst: np.ndarray
              ) -> OverlapTable:
        return overlap_table(pred_sem, pred_inst, gt_sem, gt_inst, self.num_classes).with_stuff_merged(self.is_thing)

    def summarise(self, tp: np.ndarray, iou_sum: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> ImagePQResult:
        pq, sq, rq = pq_terms(tp, iou_sum, fp, fn)
        present = ~self.ignore_mask & (tp + fp + fn > 0)

        def mean(v: np.ndarray, m: np.ndarray) -> float:
            return float(v[m].mean()) if m.any() else 0.0

        per_class = {self.names[c]: {"pq": float(pq[c]), "sq": float(sq[c]), "rq": float(rq[c]), "tp": int(tp[c]),
                                     "fp": int(fp[c]), "fn": int(fn[c])} for c in np.flatnonzero(present)}
        return ImagePQResult(mean(pq, present), mean(sq, present), mean(rq, present),
                             mean(pq, present & self.is_thing), mean(pq, present & ~self.is_thing), per_class)


class ImagePanopticEval(_ClassSetup):
    """Streaming image PQ over (H, W) semantic and instance maps."""

    def __init__(self, num_classes: int | None = None, ignore: Sequence[int] = (0,),
                 thing_ids: Sequence[int] | None = None, convention: str = "panopticapi") -> None:
        super().__init__(num_classes, ignore, thing_ids, convention)
        c = self.num_classes
        self.tp, self.fp, self.fn = np.zeros(c, np.int64), np.zeros(c, np.int64), np.zeros(c, np.int64)
        self.iou_sum = np.zeros(c)

    def add_frame(self, pred_sem: np.ndarray, pred_inst: np.ndarray, gt_sem: np.ndarray,
                  gt_inst: np.ndarray) -> None:
        self.add_table(self.table(pred_sem, pred_inst, gt_sem, gt_inst))

    update = add_frame

    def add_table(self, table: OverlapTable) -> None:
        tp, iou_sum, fp, fn = image_pq_stats(table, self.ignore_mask, self.convention)
        self.tp += tp
        self.iou_sum += iou_sum
        self.fp += fp
        self.fn += fn

    def compute(self) -> ImagePQResult:
        return self.summarise(self.tp, self.iou_sum, self.fp, self.fn)


@dataclass
class VPQResult:
    vpq: float
    vpq_things: float
    vpq_stuff: float
    per_window: dict[str, ImagePQResult]

    def as_dict(self) -> dict[str, Any]:
        return {"vpq": self.vpq, "vpq_things": self.vpq_things, "vpq_stuff": self.vpq_stuff,
                "per_window": {k: v.as_dict() for k, v in self.per_window.items()}}


class VideoPanopticEval(_ClassSetup):
    """VPQ: PQ of spatio-temporal tubes over every window of k + 1 consecutive frames, averaged over k.

    Only the last ``max(windows) + 1`` frames' overlap tables are buffered.
    """

    def __init__(self, num_classes: int | None = None, ignore: Sequence[int] = (0,),
                 thing_ids: Sequence[int] | None = None, windows: Sequence[int] = VPQ_WINDOWS,
                 convention: str = "panopticapi") -> None:
        super().__init__(num_classes, ignore, thing_ids, convention)
        if not windows or min(windows) < 0:
            raise MetricsInputError(f"windows must be non-negative frame counts, got {list(windows)}")
        self.windows = tuple(int(k) for k in windows)
        self._evals = {k: ImagePanopticEval(num_classes, ignore, thing_ids, convention) for k in self.windows}
        self._buffer: deque[OverlapTable] = deque(maxlen=max(self.windows) + 1)
        self._sequence: str | None = None

    def add_frame(self, pred_sem: np.ndarray, pred_inst: np.ndarray, gt_sem: np.ndarray, gt_inst: np.ndarray,
                  sequence: str = "0") -> None:
        if sequence != self._sequence:
            self._buffer.clear()
            self._sequence = sequence
        self._buffer.append(self.table(pred_sem, pred_inst, gt_sem, gt_inst))
        frames = list(self._buffer)
        for k, ev in self._evals.items():
            if len(frames) >= k + 1:
                ev.add_table(OverlapTable.concatenate(frames[-(k + 1):]))

    update = add_frame

    def compute(self) -> VPQResult:
        per = {str(k): ev.compute() for k, ev in self._evals.items()}
        n = len(per)
        return VPQResult(sum(r.pq for r in per.values()) / n, sum(r.pq_things for r in per.values()) / n,
                         sum(r.pq_stuff for r in per.values()) / n, per)


def _check_depth(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    if pred.shape != gt.shape:
        raise MetricsInputError(f"pred_depth shape {pred.shape} differs from gt_depth shape {gt.shape}")
    return pred, gt


@dataclass
class DPQResult:
    dpq: float
    per_threshold: dict[str, ImagePQResult]

    def as_dict(self) -> dict[str, Any]:
        return {"dpq": self.dpq, "per_threshold": {k: v.as_dict() for k, v in self.per_threshold.items()}}


class DepthAwarePanopticEval(_ClassSetup):
    """DPQ: PQ after predicted pixels with abs-rel depth error > lambda become void; mean over lambda.

    Pixels without ground-truth depth (<= 0) keep their prediction."""

    def __init__(self, num_classes: int | None = None, ignore: Sequence[int] = (0,),
                 thing_ids: Sequence[int] | None = None, thresholds: Sequence[float] = DPQ_THRESHOLDS,
                 convention: str = "panopticapi") -> None:
        super().__init__(num_classes, ignore, thing_ids, convention)
        self.void_class = int(np.flatnonzero(self.ignore_mask)[0]) if self.ignore_mask.any() else None
        if self.void_class is None:
            raise MetricsInputError("DPQ needs an ignored (void) class to mark depth errors")
        self.thresholds = tuple(float(t) for t in thresholds)
        self._evals = {t: ImagePanopticEval(num_classes, ignore, thing_ids, convention) for t in self.thresholds}

    def add_frame(self, pred_sem: np.ndarray, pred_inst: np.ndarray, pred_depth: np.ndarray, gt_sem: np.ndarray,
                  gt_inst: np.ndarray, gt_depth: np.ndarray) -> None:
        pred_depth, gt_depth = _check_depth(pred_depth, gt_depth)
        if pred_depth.shape != np.shape(pred_sem):
            raise MetricsInputError(f"pred_depth shape {pred_depth.shape} differs from pred_sem {np.shape(pred_sem)}")
        valid = gt_depth > 0
        abs_rel = np.zeros_like(gt_depth)
        abs_rel[valid] = np.abs(pred_depth[valid] - gt_depth[valid]) / gt_depth[valid]
        for lam, ev in self._evals.items():
            wrong = abs_rel > lam
            ev.add_frame(np.where(wrong, self.void_class, pred_sem), np.where(wrong, 0, pred_inst), gt_sem, gt_inst)

    update = add_frame

    def compute(self) -> DPQResult:
        per = {f"{t:g}": ev.compute() for t, ev in self._evals.items()}
        return DPQResult(sum(r.pq for r in per.values()) / len(per), per)


@dataclass
class DepthResult:
    abs_rel: float
    sq_rel: float
    rmse: float
    rmse_log: float
    delta1: float
    delta2: float
    delta3: float
    frames: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class DepthEval:
    """Eigen et al. depth metrics per image over pixels with gt depth, averaged over images (KITTI/monodepth).

    Predictions are clipped to [min_depth, max_depth]; gt outside (min_depth, max_depth] is ignored."""

    def __init__(self, min_depth: float = 1e-3, max_depth: float | None = None) -> None:
        self.min_depth, self.max_depth = float(min_depth), max_depth
        self._sums = np.zeros(7)
        self.frames = 0

    def add_frame(self, pred_depth: np.ndarray, gt_depth: np.ndarray) -> None:
        pred, gt = _check_depth(pred_depth, gt_depth)
        valid = gt > self.min_depth
        if self.max_depth is not None:
            valid &= gt <= self.max_depth
        if not valid.any():
            return  # no gt depth in this image: it does not enter the mean
        g = gt[valid]
        p = np.clip(pred[valid], self.min_depth, self.max_depth if self.max_depth is not None else np.inf)
        ratio = np.maximum(p / g, g / p)
        diff = p - g
        self._sums += [np.mean(np.abs(diff) / g), np.mean(diff**2 / g), np.sqrt(np.mean(diff**2)),
                       np.sqrt(np.mean((np.log(p) - np.log(g)) ** 2)), np.mean(ratio < 1.25),
                       np.mean(ratio < 1.25**2), np.mean(ratio < 1.25**3)]
        self.frames += 1

    update = add_frame

    def compute(self) -> DepthResult:
        m = self._sums / self.frames if self.frames else np.zeros(7)
        return DepthResult(*(float(v) for v in m), frames=self.frames)
