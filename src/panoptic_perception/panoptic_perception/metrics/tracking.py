"""Panoptic tracking metrics: PTQ/sPTQ (MOPT), the nuScenes PTQ variant, LSTQ, MOTSA/sMOTSA/MOTSP, ID switches.

Two ID-switch rules are kept side by side because the field uses both:
- MOTS/MOPT (Voigtlaender et al., Hurtado et al.): a matched gt track is a switch when its *last matched*
  prediction, however many frames back, carried another id.
- nuScenes-devkit ``PanopticTrackingEval``: only a gt instance matched in the *previous* frame and in this
  one is compared; PTQ is averaged over classes that have ground truth.
sPTQ subtracts the IoU of each switched match instead of 1 (MOPT, Eq. 2).
LSTQ (Aygün et al., 4D-PLS): sqrt(S_assoc * S_cls), S_assoc = 1/|T| sum_t 1/|t| sum_s TPA(s,t) IoU(s,t)
over class-agnostic predicted tubes s and thing gt tubes t of a sequence, S_cls = mIoU.
Frames of one sequence must arrive contiguously; per-sequence state is folded into sums when it ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._overlap import OverlapTable, factorize, overlap_table
from .errors import MetricsInputError
from .panoptic import PanopticEval, PanopticResult, class_iou, pq_terms

_GT_SHIFT = 32


class _KeyedSum:
    """Sums keyed by one or two int64 columns, merged frame by frame (size = distinct keys, not frames)."""

    def __init__(self, ncols: int) -> None:
        self.keys = [np.zeros(0, np.int64) for _ in range(ncols)]
        self.values = np.zeros(0, np.int64)

    def add(self, keys: Sequence[np.ndarray], values: np.ndarray) -> None:
        if values.shape[0] == 0:
            return
        cols = [np.concatenate([old, new.astype(np.int64)]) for old, new in zip(self.keys, keys, strict=True)]
        group, first = factorize(*cols)
        self.values = np.bincount(group, weights=np.concatenate([self.values, values]),
                                  minlength=first.shape[0]).astype(np.int64)
        self.keys = [c[first] for c in cols]  # factorize returns groups in sorted key order


def _lookup(sorted_keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(found mask, value) of each query in a sorted key array."""
    if sorted_keys.shape[0] == 0:
        return np.zeros(query.shape[0], bool), np.zeros(query.shape[0], values.dtype)
    pos = np.clip(np.searchsorted(sorted_keys, query), 0, sorted_keys.shape[0] - 1)
    found = sorted_keys[pos] == query
    return found, values[pos]


def _association(gt_keys: np.ndarray, gt_size: np.ndarray, pred_keys: np.ndarray, pred_size: np.ndarray,
                 tpa: _KeyedSum) -> tuple[float, int]:
    """(sum over gt tubes of 1/|t| sum_s TPA * IoU, number of gt tubes); pairs need both tubes known."""
    gkey, pkey = tpa.keys
    g_found, g_size = _lookup(gt_keys, gt_size, gkey)
    p_found, p_size = _lookup(pred_keys, pred_size, pkey)
    ok = g_found & p_found
    inter = tpa.values[ok].astype(np.float64)
    score = inter * inter / (g_size[ok] + p_size[ok] - inter) / g_size[ok]
    return float(score.sum()), int(gt_keys.shape[0])


@dataclass
class TrackingResult:
    ptq: float
    sptq: float
    ptq_nuscenes: float
    sptq_nuscenes: float
    lstq: float
    s_assoc: float
    s_cls: float
    lstq_nuscenes: float
    s_assoc_nuscenes: float
    motsa: float
    smotsa: float
    motsp: float
    motsa_nuscenes: float
    smotsa_nuscenes: float
    id_switches: int
    id_switches_nuscenes: int
    panoptic: PanopticResult
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["panoptic"] = self.panoptic.as_dict()
        return out


class TrackingEval:
    """Streaming panoptic-tracking evaluator over one or more sequences of LiDAR scans."""

    def __init__(self, num_classes: int | None = None, ignore: Sequence[int] = (0,), min_points: int | None = None,
                 convention: str = "semantickitti", thing_ids: Sequence[int] | None = None,
                 class_names: Sequence[str] | None = None) -> None:
        self.panoptic = PanopticEval(num_classes, ignore, min_points, convention, thing_ids, class_names)
        c = self.panoptic.num_classes
        self.ids = np.zeros(c, np.int64)
        self.soft_ids = np.zeros(c, np.float64)
        self.ids_nusc = np.zeros(c, np.int64)
        self.soft_ids_nusc = np.zeros(c, np.float64)
        self.assoc_sum = self.assoc_sum_nusc = 0.0
        self.tubes = self.tubes_nusc = 0
        self._finished: set[str] = set()
        self._sequence: str | None = None
        self._start_sequence()

    def _start_sequence(self) -> None:
        empty = np.zeros(0, np.int64)
        self._last_key, self._last_pred = empty, empty  # MOPT: last matched pred per (class, gt)
        self._prev_key, self._prev_pred = empty, empty  # nuScenes: matches of the previous frame
        self._gt_tube = _KeyedSum(1)
        self._pred_tube = _KeyedSum(1)
        self._tpa = _KeyedSum(2)
        self._gt_tube_n = _KeyedSum(1)
        self._pred_tube_n = _KeyedSum(1)
        self._tpa_n = _KeyedSum(2)

    def _finish_sequence(self) -> None:
        s, n = _association(self._gt_tube.keys[0], self._gt_tube.values, self._pred_tube.keys[0],
                            self._pred_tube.values, self._tpa)
        self.assoc_sum, self.tubes = self.assoc_sum + s, self.tubes + n
        s, n = _association(self._gt_tube_n.keys[0], self._gt_tube_n.values, self._pred_tube_n.keys[0],
                            self._pred_tube_n.values, self._tpa_n)
        self.assoc_sum_nusc, self.tubes_nusc = self.assoc_sum_nusc + s, self.tubes_nusc + n
        self._start_sequence()

    def add_frame(self, pred_sem: np.ndarray, pred_inst: np.ndarray, gt_sem: np.ndarray, gt_inst: np.ndarray,
                  sequence: str = "0") -> None:
        """Add the next scan of ``sequence`` (per-point semantic and instance/track ids)."""
        if sequence != self._sequence:
            if sequence in self._finished:
                raise MetricsInputError(f"frames of sequence {sequence!r} must be added contiguously")
            if self._sequence is not None:
                self._finished.add(self._sequence)
                self._finish_sequence()
            self._sequence = sequence
        table = overlap_table(pred_sem, pred_inst, gt_sem, gt_inst, self.panoptic.num_classes)
        matches = self.panoptic.add_table(table)
        thing = self.panoptic.is_thing[matches.match_class]
        key = (matches.match_class[thing] << _GT_SHIFT) | matches.match_gt[thing]
        pred, iou, cls = matches.match_pred[thing], matches.match_iou[thing], matches.match_class[thing]
        self._count_switches(key, pred, iou, cls)
        kept = table.select(~self.panoptic.ignore_mask[table.gt_sem])
        self._add_tubes(kept)
        self._add_tubes_nuscenes(kept)

    update = add_frame

    def _count_switches(self, key: np.ndarray, pred: np.ndarray, iou: np.ndarray, cls: np.ndarray) -> None:
        c = self.panoptic.num_classes
        for last_key, last_pred, ids, soft in ((self._last_key, self._last_pred, self.ids, self.soft_ids),
                                               (self._prev_key, self._prev_pred, self.ids_nusc, self.soft_ids_nusc)):
            found, before = _lookup(last_key, last_pred, key)
            switched = found & (before != pred)
            ids += np.bincount(cls[switched], minlength=c)
            soft += np.bincount(cls[switched], weights=iou[switched], minlength=c)
        # Newest match wins: unique over (new, old) keeps the first occurrence.
        merged, first = np.unique(np.concatenate([key, self._last_key]), return_index=True)
        self._last_key, self._last_pred = merged, np.concatenate([pred, self._last_pred])[first]
        order = np.argsort(key)
        self._prev_key, self._prev_pred = key[order], pred[order]

    def _add_tubes(self, t: OverlapTable) -> None:
        """Aygün et al.: class-agnostic pred tubes (id != 0), thing gt tubes (id != 0), no size gate."""
        gt_ok = self.panoptic.is_thing[t.gt_sem] & (t.gt_inst != 0)
        pred_ok = t.pred_inst != 0
        self._gt_tube.add([t.gt_inst[gt_ok]], t.count[gt_ok])
        self._pred_tube.add([t.pred_inst[pred_ok]], t.count[pred_ok])
        both = gt_ok & pred_ok
        self._tpa.add([t.gt_inst[both], t.pred_inst[both]], t.count[both])

    def _add_tubes_nuscenes(self, t: OverlapTable) -> None:
        """nuScenes-devkit: per thing class, tubes gated per frame at > min_points points of that class;
        instance id 0 is an id like any other; predicted tube sizes count class-specific points only."""
        min_points = self.panoptic.min_points
        include_thing = self.panoptic.is_thing & ~self.panoptic.ignore_mask
        gkey_all = (t.gt_sem << _GT_SHIFT) | t.gt_inst
        in_thing = include_thing[t.gt_sem]
        g_idx, g_first = factorize(gkey_all)
        g_count = np.bincount(g_idx, weights=t.count * in_thing, minlength=g_first.shape[0])
        g_valid = in_thing & (g_count[g_idx] > min_points)
        self._gt_tube_n.add([gkey_all[g_valid]], t.count[g_valid])
        pred_in_cls = include_thing[t.pred_sem]
        p_idx, p_first = factorize(t.pred_sem, t.pred_inst)
        p_count = np.bincount(p_idx, weights=t.count * pred_in_cls, minlength=p_first.shape[0])
        p_valid = pred_in_cls & (p_count[p_idx] > min_points)
        self._pred_tube_n.add([t.pred_inst[p_valid]], t.count[p_valid])
        self._tpa_n.add([gkey_all[g_valid], t.pred_inst[g_valid]], t.count[g_valid])

    def compute(self) -> TrackingResult:
        pan = self.panoptic
        # Fold the running sequence into the totals without ending it.
        s, n = _association(self._gt_tube.keys[0], self._gt_tube.values, self._pred_tube.keys[0],
                            self._pred_tube.values, self._tpa)
        assoc, tubes = self.assoc_sum + s, self.tubes + n
        s, n = _association(self._gt_tube_n.keys[0], self._gt_tube_n.values, self._pred_tube_n.keys[0],
                            self._pred_tube_n.values, self._tpa_n)
        assoc_n, tubes_n = self.assoc_sum_nusc + s, self.tubes_nusc + n
        tp, fp, fn = pan.tp.astype(np.float64), pan.fp.astype(np.float64), pan.fn.astype(np.float64)
        denom = tp + 0.5 * fp + 0.5 * fn
        include = ~pan.ignore_mask
        with_gt = include & (tp + fn > 0)
        things_gt = with_gt & pan.is_thing

        def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
            return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)

        def mean(values: np.ndarray, mask: np.ndarray) -> float:
            return float(values[mask].mean()) if mask.any() else 0.0

        ptq_c = ratio(pan.iou_sum - self.ids, denom)
        sptq_c = ratio(pan.iou_sum - self.soft_ids, denom)
        ptq_n = ratio(pan.iou_sum - self.ids_nusc, denom)
        sptq_n = ratio(pan.iou_sum - self.soft_ids_nusc, denom)
        gt_total = tp + fn
        s_cls = float(class_iou(pan.confusion, pan.ignore_mask)[include].mean()) if include.any() else 0.0
        s_assoc = assoc / tubes if tubes else 0.0
        s_assoc_n = assoc_n / tubes_n if tubes_n else 0.0
        pq, _, _ = pq_terms(pan.tp, pan.iou_sum, pan.fp, pan.fn)
        per_class = {
            pan.class_names[c]: {"ptq": float(ptq_c[c]), "sptq": float(sptq_c[c]), "pq": float(pq[c]),
                                 "id_switches": int(self.ids[c]), "id_switches_nuscenes": int(self.ids_nusc[c])}
            for c in np.flatnonzero(include)
        }
        return TrackingResult(
            ptq=mean(ptq_c, include), sptq=mean(sptq_c, include),
            ptq_nuscenes=mean(ptq_n, with_gt), sptq_nuscenes=mean(sptq_n, with_gt),
            lstq=float(np.sqrt(s_assoc * s_cls)), s_assoc=s_assoc, s_cls=s_cls,
            lstq_nuscenes=float(np.sqrt(s_assoc_n * s_cls)), s_assoc_nuscenes=s_assoc_n,
            motsa=mean(ratio(tp - fp - self.ids, gt_total), things_gt),
            smotsa=mean(ratio(pan.iou_sum - fp - self.ids, gt_total), things_gt),
            motsp=mean(ratio(pan.iou_sum, tp), things_gt),
            motsa_nuscenes=mean(ratio(tp - fp - self.ids_nusc, gt_total), things_gt),
            smotsa_nuscenes=mean(ratio(pan.iou_sum - fp - self.ids_nusc, gt_total), things_gt),
            id_switches=int(self.ids.sum()), id_switches_nuscenes=int(self.ids_nusc.sum()),
            panoptic=pan.compute(), per_class=per_class,
        )
