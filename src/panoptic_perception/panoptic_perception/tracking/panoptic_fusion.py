"""MOPT/EfficientPS panoptic fusion of instance and semantic predictions, on points.

Rule (EfficientPS Sec. 3.5, used by MOPT), adapted from pixels to the N points of a sweep:
1. Keep instances with confidence >= ``min_score``, most confident first. An instance covers the points where
   its mask probability is >= 0.5 (mask logit >= 0); an instance whose covered points are more than
   ``overlap_threshold`` already covered by kept, more confident instances is dropped, as is one covering
   nothing.
2. For each kept instance with class c: ML_A = its mask logits, ML_B = the semantic logits of class c, and
   the fused logit FL = (sigma(ML_A) + sigma(ML_B)) * (ML_A + ML_B) (Hadamard sum/product). EfficientPS zeroes
   both outside the instance's box; on points there is no box, so a point can only join an instance that
   covers it (FL = -inf elsewhere).
3. Per point, argmax over [FL of the kept instances, semantic logits of the stuff classes]; ties go to the
   more confident instance. A point won by an instance gets its class and id.
4. Every other point takes the semantic head's argmax over all classes when that is a stuff class; when it
   is a thing class (a thing no instance claimed) or unlabeled, it becomes unlabeled (0).
5. Stuff classes with fewer than ``min_stuff_points`` points in the sweep become unlabeled (points have no
   pixel connectivity, so a stuff "segment" is all points of that class, as in the panoptic format).

Output ``instance_id`` is 1 + the instance's index in the input (0 for stuff and unlabeled).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..core.labels import UNLABELED, load_class_table
from .errors import TrackingInputError


@dataclass
class PanopticFusionResult:
    class_id: np.ndarray  # (N,) uint16
    instance_id: np.ndarray  # (N,) uint32, 1 + input instance index, 0 = stuff / none
    score: np.ndarray  # (N,) float32: instance confidence for things, semantic softmax probability for stuff
    kept: np.ndarray  # (K,) int64 input indices of the instances that own at least one point, by confidence


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def fuse_panoptic(semantic_logits: np.ndarray, mask_logits: np.ndarray, instance_class: np.ndarray,
                  instance_score: np.ndarray, *, thing_ids: Sequence[int] | None = None, min_score: float = 0.5,
                  overlap_threshold: float = 0.5, min_stuff_points: int = 0) -> PanopticFusionResult:
    """Fuse (N, C) semantic logits and (M, N) instance mask logits with classes (M,) and confidences (M,)."""
    sem = np.asarray(semantic_logits, dtype=np.float32)
    masks = np.asarray(mask_logits, dtype=np.float32)
    cls = np.asarray(instance_class, dtype=np.int64).reshape(-1)
    conf = np.asarray(instance_score, dtype=np.float64).reshape(-1)
    if sem.ndim != 2 or sem.shape[1] == 0:
        raise TrackingInputError(f"fuse_panoptic: semantic_logits must be (N, C >= 1), got shape {sem.shape}")
    n, c = sem.shape
    m = cls.shape[0]
    if masks.shape != (m, n) or conf.shape != (m,):
        raise TrackingInputError(f"fuse_panoptic: expected mask_logits ({m}, {n}) and instance_score ({m},) for "
                                 f"{m} instances and {n} points; got {masks.shape} and {conf.shape}")
    if not (np.all(np.isfinite(sem)) and np.all(np.isfinite(masks))):
        raise TrackingInputError("fuse_panoptic: logits must be finite")
    things = np.array(load_class_table().thing_ids if thing_ids is None else thing_ids, dtype=np.int64)
    is_thing = np.zeros(c, dtype=bool)
    is_thing[things[things < c]] = True
    if m and not np.all(is_thing[np.clip(cls, 0, c - 1)] & (cls >= 0) & (cls < c)):
        raise TrackingInputError(f"fuse_panoptic: instance classes {cls.tolist()} must be thing ids {things.tolist()}")
    stuff = np.flatnonzero(~is_thing & (np.arange(c) != UNLABELED))

    # 1. Confidence order and overlap filter
    order = [int(i) for i in np.argsort(-conf, kind="stable") if conf[i] >= min_score]
    covers = masks >= 0.0
    claimed = np.zeros(n, dtype=bool)
    kept: list[int] = []
    for i in order:
        area = int(covers[i].sum())
        if area == 0 or (covers[i] & claimed).sum() > overlap_threshold * area:
            continue
        kept.append(i)
        claimed |= covers[i]

    # 2.-3. Fused thing logits against stuff logits
    a = masks[kept]  # (K, N)
    b = sem[:, cls[kept]].T
    fused = np.where(covers[kept], (_sigmoid(a) + _sigmoid(b)) * (a + b), -np.inf)
    scores = np.concatenate([fused, sem[:, stuff].T], axis=0)  # (K + S, N)
    winner = np.argmax(scores, axis=0) if scores.shape[0] else np.zeros(n, np.int64)
    k = len(kept)
    thing_pt = winner < k

    class_id = np.zeros(n, dtype=np.uint16)
    instance_id = np.zeros(n, dtype=np.uint32)
    score = np.zeros(n, dtype=np.float32)
    kept_arr = np.asarray(kept, dtype=np.int64)
    owner = kept_arr[winner[thing_pt]]
    class_id[thing_pt] = cls[owner]
    instance_id[thing_pt] = owner + 1
    score[thing_pt] = conf[owner]

    # 4. Remaining points: semantic argmax if stuff
    sem_arg = np.argmax(sem, axis=1)
    rest = ~thing_pt & ~is_thing[sem_arg] & (sem_arg != UNLABELED)
    class_id[rest] = sem_arg[rest]
    shifted = sem - sem.max(axis=1, keepdims=True)
    prob = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    score[rest] = prob[rest, sem_arg[rest]]

    # 5. Minimum stuff size
    if min_stuff_points > 0:
        counts = np.bincount(class_id[rest], minlength=c)
        small = rest & (counts[class_id] < min_stuff_points)
        class_id[small] = UNLABELED
        score[small] = 0.0

    owned = np.unique(owner)
    kept_owned = kept_arr[np.isin(kept_arr, owned)]
    return PanopticFusionResult(class_id, instance_id, score, kept_owned)
