"""Per-frame overlap table: one row per distinct (gt class, gt instance, pred class, pred instance).

Every segmentation metric here is a function of this table, so each frame touches its points once
(one ``np.unique`` over a packed 64-bit key) and all later work runs on a few hundred rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import MetricsInputError


@dataclass(frozen=True)
class OverlapTable:
    gt_sem: np.ndarray  # int64
    gt_inst: np.ndarray  # int64
    pred_sem: np.ndarray  # int64
    pred_inst: np.ndarray  # int64
    count: np.ndarray  # int64, points (pixels) in the cell

    def __len__(self) -> int:
        return int(self.count.shape[0])

    def select(self, mask: np.ndarray) -> OverlapTable:
        return OverlapTable(self.gt_sem[mask], self.gt_inst[mask], self.pred_sem[mask], self.pred_inst[mask],
                            self.count[mask])

    def with_stuff_merged(self, is_thing: np.ndarray) -> OverlapTable:
        """Zero the instance ids of stuff classes (one segment per stuff class) and re-aggregate."""
        gt_inst = np.where(is_thing[self.gt_sem], self.gt_inst, 0)
        pred_inst = np.where(is_thing[self.pred_sem], self.pred_inst, 0)
        return aggregate(self.gt_sem, gt_inst, self.pred_sem, pred_inst, self.count)

    @staticmethod
    def concatenate(tables: list[OverlapTable]) -> OverlapTable:
        cols = [np.concatenate([getattr(t, name) for t in tables]) if tables else np.zeros(0, np.int64)
                for name in ("gt_sem", "gt_inst", "pred_sem", "pred_inst", "count")]
        return aggregate(*cols)


def _bits(value: int) -> int:
    return max(int(value).bit_length(), 1)


def factorize(*columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row ids of distinct column tuples: (index of each row's group, first-row index of each group)."""
    if columns[0].shape[0] == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    order = np.lexsort(columns[::-1])
    sorted_cols = [c[order] for c in columns]
    new_group = np.ones(order.shape[0], dtype=bool)
    new_group[1:] = np.any([c[1:] != c[:-1] for c in sorted_cols], axis=0)
    group_sorted = np.cumsum(new_group) - 1
    group = np.empty_like(group_sorted)
    group[order] = group_sorted
    return group, order[new_group]


def aggregate(gt_sem: np.ndarray, gt_inst: np.ndarray, pred_sem: np.ndarray, pred_inst: np.ndarray,
              count: np.ndarray) -> OverlapTable:
    """Sum ``count`` over rows with equal (gt_sem, gt_inst, pred_sem, pred_inst); for small tables."""
    group, first = factorize(gt_sem, gt_inst, pred_sem, pred_inst)
    summed = np.bincount(group, weights=count, minlength=first.shape[0]).astype(np.int64)
    return OverlapTable(gt_sem[first].astype(np.int64), gt_inst[first].astype(np.int64),
                        pred_sem[first].astype(np.int64), pred_inst[first].astype(np.int64), summed)


def _check(name: str, arr: np.ndarray, n: int) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim != 1 and arr.size != n:
        raise MetricsInputError(f"{name}: expected {n} values, got shape {arr.shape}")
    arr = arr.reshape(-1)
    if arr.shape[0] != n:
        raise MetricsInputError(f"{name}: expected {n} values, got {arr.shape[0]}")
    if arr.dtype.kind not in "ui":
        raise MetricsInputError(f"{name}: expected an integer array, got dtype {arr.dtype}")
    if n and arr.dtype.kind == "i" and int(arr.min()) < 0:
        raise MetricsInputError(f"{name}: negative ids are not allowed")
    return arr


def overlap_table(pred_sem: np.ndarray, pred_inst: np.ndarray, gt_sem: np.ndarray, gt_inst: np.ndarray,
                  num_classes: int) -> OverlapTable:
    """Count points per (gt class, gt instance, pred class, pred instance); arrays of any equal shape."""
    n = int(np.asarray(gt_sem).size)
    gs = _check("gt_sem", gt_sem, n)
    gi = _check("gt_inst", gt_inst, n)
    ps = _check("pred_sem", pred_sem, n)
    pi = _check("pred_inst", pred_inst, n)
    if n == 0:
        empty = np.zeros(0, np.int64)
        return OverlapTable(empty, empty, empty, empty, empty)
    for name, sem in (("gt_sem", gs), ("pred_sem", ps)):
        top = int(sem.max())
        if top >= num_classes:
            raise MetricsInputError(f"{name}: class id {top} outside 0..{num_classes - 1}")
    gi_max, pi_max = int(gi.max()), int(pi.max())
    if gi_max >= 1 << 32 or pi_max >= 1 << 32:
        raise MetricsInputError("instance ids must fit in 32 bits")
    sem_bits = _bits(num_classes - 1)
    gi_values = pi_values = None
    if 2 * sem_bits + _bits(gi_max) + _bits(pi_max) > 64:
        # Rare: instance ids too wide to pack; pack their rank within the frame and map back after.
        gi_values, gi = np.unique(gi, return_inverse=True)
        pi_values, pi = np.unique(pi, return_inverse=True)
        gi, pi = gi.reshape(-1), pi.reshape(-1)
    gi_bits, pi_bits = _bits(int(gi.max())), _bits(int(pi.max()))
    key = gs.astype(np.uint64)
    key = (key << np.uint64(gi_bits)) | gi.astype(np.uint64)
    key = (key << np.uint64(sem_bits)) | ps.astype(np.uint64)
    key = (key << np.uint64(pi_bits)) | pi.astype(np.uint64)
    cells, counts = np.unique(key, return_counts=True)
    p_i = (cells & np.uint64((1 << pi_bits) - 1)).astype(np.int64)
    cells >>= np.uint64(pi_bits)
    p_s = (cells & np.uint64((1 << sem_bits) - 1)).astype(np.int64)
    cells >>= np.uint64(sem_bits)
    g_i = (cells & np.uint64((1 << gi_bits) - 1)).astype(np.int64)
    g_s = (cells >> np.uint64(gi_bits)).astype(np.int64)
    if gi_values is not None and pi_values is not None:
        g_i, p_i = gi_values[g_i].astype(np.int64), pi_values[p_i].astype(np.int64)
    return OverlapTable(g_s, g_i, p_s, p_i, counts.astype(np.int64))
