"""VO-enhanced video panoptic segmentation (PVO's VPS module), on the reduced grid.

The previous keyframe's panoptic image is carried into the current frame: static pixels move with the
estimated pose and depth, dynamic pixels with the optical flow (their motion is not the ego motion).
The warped image fills pixels the current segmentation leaves empty, and each current instance takes
the id of the warped instance of the same class it overlaps best (IoU above a threshold), so ids stay
consistent over time.
"""

from __future__ import annotations

import numpy as np

from .reduced_grid import NO_LABEL


def warp_labels(class_id: np.ndarray, instance_id: np.ndarray, coords: np.ndarray, valid: np.ndarray,
                disps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward-splat labels (H, W) to the nearest pixel of ``coords`` (H, W, 2); the nearer point wins."""
    ht, wd = class_id.shape
    col, row = np.rint(coords[..., 0]).astype(np.int64), np.rint(coords[..., 1]).astype(np.int64)
    ok = valid & (class_id != NO_LABEL) & (col >= 0) & (col < wd) & (row >= 0) & (row < ht)
    pix = (row * wd + col)[ok]
    order = np.lexsort((-disps[ok], pix))  # by target pixel, largest inverse depth (nearest) first
    first = order[np.r_[True, pix[order][1:] != pix[order][:-1]]] if len(order) else order
    out_c = np.full(ht * wd, NO_LABEL, np.int64)
    out_i = np.full(ht * wd, NO_LABEL, np.int64)
    out_c[pix[first]] = class_id[ok][first]
    out_i[pix[first]] = instance_id[ok][first]
    return out_c.reshape(ht, wd), out_i.reshape(ht, wd)


def match_instances(class_cur: np.ndarray, inst_cur: np.ndarray, class_prev: np.ndarray, inst_prev: np.ndarray,
                    threshold: float) -> dict[int, int]:
    """{current id: previous id} for current instances whose best same-class IoU with a previous one exceeds threshold."""
    matches: dict[int, int] = {}
    taken: set[int] = set()
    candidates = []
    for cid in np.unique(inst_cur[inst_cur > 0]):
        mask = inst_cur == cid
        cls = int(np.bincount(class_cur[mask].clip(min=0)).argmax())
        overlap = inst_prev[mask & (class_prev == cls) & (inst_prev > 0)]
        for pid in np.unique(overlap):
            prev_mask = inst_prev == pid
            iou = float((mask & prev_mask).sum() / (mask | prev_mask).sum())
            if iou > threshold:
                candidates.append((iou, int(cid), int(pid)))
    for _, cid, pid in sorted(candidates, reverse=True):  # greedy, best IoU first, one-to-one
        if cid not in matches and pid not in taken:
            matches[cid] = pid
            taken.add(pid)
    return matches


def fuse_panoptic(class_cur: np.ndarray, inst_cur: np.ndarray, class_warp: np.ndarray, inst_warp: np.ndarray,
                  threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Temporally consistent (class, instance) images: matched ids carried over, holes filled from the warp.

    Unmatched current ids that collide with a carried-over id get fresh ids above every id in use.
    """
    matches = match_instances(class_cur, inst_cur, class_warp, inst_warp, threshold)
    carried = set(matches.values())
    next_id = int(max(inst_cur.max(initial=0), inst_warp.max(initial=0))) + 1
    out_i = inst_cur.copy()
    for cid in np.unique(inst_cur[inst_cur > 0]):
        cid = int(cid)
        if cid in matches:
            out_i[inst_cur == cid] = matches[cid]
        elif cid in carried:
            out_i[inst_cur == cid] = next_id
            next_id += 1
    hole = class_cur == NO_LABEL
    out_c = np.where(hole, class_warp, class_cur)
    out_i = np.where(hole, inst_warp, out_i)
    return out_c, out_i
