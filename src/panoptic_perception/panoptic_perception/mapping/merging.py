"""Multi-view instance merging: per-frame segments -> one persistent map instance per object.

In the spirit of PanSt3R's mask merging, each frame builds hypotheses and selects a consistent
subset by QUBO (qubo.py):

* ``s -> g``: segment s is another view of map instance g: same class and overlap
  c_sg = |S ∩ dilate(G)| / min(|S|, |G|) >= ``min_containment``, with S, G the coarse cells of the
  segment and the instance and dilate() the 26-neighbourhood (a new view shares edges, not faces, with
  the old ones); quality q = c_sg + 0.5 IoU(S, G).
* ``s -> G``: s bridges several same-class instances G (each a candidate, no pair ever seen as two
  objects in one frame): they are one object seen from views that did not overlap; q = c_sG + 0.5 IoU_sG.
* ``s -> new``: s starts a new instance; q = ``new_instance_quality``.

Quadratic penalty ``conflict_penalty`` between hypotheses of the same segment (one explanation per
segment) and between hypotheses of different segments that touch the same instance (segments of one
frame are different objects). Every segment has a conflict-free "new" hypothesis, so the optimum
explains each segment exactly once. Selected targets of one frame are recorded as mutual conflicts,
which keeps two adjacent cars two even when later views blur their boundary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import keys as K
from .config import MapConfig
from .instances import InstanceRegistry, Segment
from .qubo import solve_qubo


@dataclass
class Hypothesis:
    segment: int  # index into the frame's segments
    targets: tuple[int, ...]  # map instance ids; () = new instance
    quality: float


@dataclass
class MergeResult:
    instance_of_segment: list[int]  # map instance id per segment
    merged: dict[int, int]  # old id -> surviving id, for instances merged in this frame
    num_hypotheses: int


def dilate(cells: np.ndarray) -> np.ndarray:
    """Cells plus their 26 neighbours (unique, sorted)."""
    c = K.unpack(cells)
    offs = np.stack(np.meshgrid(*[np.arange(-1, 2)] * 3, indexing="ij"), -1).reshape(-1, 3)
    return np.unique(K.pack((c[:, None, :] + offs[None]).reshape(-1, 3)))


def overlap_quality(s: np.ndarray, g: np.ndarray, g_dilated: np.ndarray) -> tuple[float, float] | None:
    """(|S ∩ dilate(G)| / min(|S|, |G|), IoU(S, G)), or None without any touching cell."""
    touch = np.intersect1d(s, g_dilated, assume_unique=True).shape[0]
    if touch == 0:
        return None
    inter = np.intersect1d(s, g, assume_unique=True).shape[0]
    return min(1.0, touch / min(s.shape[0], g.shape[0])), inter / (s.shape[0] + g.shape[0] - inter)


class InstanceMerger:
    def __init__(self, config: MapConfig) -> None:
        self.config = config
        self._cache: dict[int, tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}

    def _coarse(self, iid: int, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Coarse cells, dilated coarse cells and the dilated AABB of an instance (cached per key count)."""
        hit = self._cache.get(iid)
        if hit is not None and hit[0] == keys.shape[0]:
            return hit[1:]
        coarse = K.coarsen(keys, self.config.coarse_factor)
        dil = dilate(coarse)
        c = K.unpack(dil)
        entry = (keys.shape[0], coarse, dil, c.min(axis=0), c.max(axis=0))
        self._cache[iid] = entry
        return entry[1:]

    def hypotheses(self, segments: list[Segment], registry: InstanceRegistry) -> list[Hypothesis]:
        cfg = self.config
        out: list[Hypothesis] = []
        live = list(registry.instances.values())
        for si, seg in enumerate(segments):
            out.append(Hypothesis(si, (), cfg.new_instance_quality))
            s_coarse = K.coarsen(seg.keys, cfg.coarse_factor)
            sc = K.unpack(s_coarse)
            lo, hi = sc.min(axis=0), sc.max(axis=0)
            cands: list[int] = []
            for inst in live:
                if inst.class_id != seg.class_id:
                    continue
                g_coarse, g_dil, glo, ghi = self._coarse(inst.instance_id, inst.keys)
                if np.any(glo > hi) or np.any(ghi < lo):
                    continue
                q = overlap_quality(s_coarse, g_coarse, g_dil)
                if q is not None and q[0] >= cfg.min_containment:
                    out.append(Hypothesis(si, (inst.instance_id,), q[0] + 0.5 * q[1]))
                    cands.append(inst.instance_id)
            if len(cands) >= 2 and not any(b in registry.instances[a].conflicts for a in cands for b in cands):
                parts = [self._coarse(g, registry.instances[g].keys) for g in cands]
                union = np.unique(np.concatenate([p[0] for p in parts]))
                q = overlap_quality(s_coarse, union, np.unique(np.concatenate([p[1] for p in parts])))
                if q is not None:
                    out.append(Hypothesis(si, tuple(sorted(cands)), q[0] + 0.5 * q[1]))
        return out

    def step(self, segments: list[Segment], registry: InstanceRegistry, stamp_ns: int, frame: int) -> MergeResult:
        """Associate, select by QUBO, and apply (create / observe / merge) in ``registry``."""
        cfg = self.config
        hyps = self.hypotheses(segments, registry)
        n = len(hyps)
        q = np.array([h.quality for h in hyps])
        seg = np.array([h.segment for h in hyps])
        P = np.where(seg[:, None] == seg[None, :], cfg.conflict_penalty, 0.0)
        for i in range(n):
            for j in range(i + 1, n):
                if seg[i] != seg[j] and set(hyps[i].targets) & set(hyps[j].targets):
                    P[i, j] = P[j, i] = cfg.conflict_penalty
        np.fill_diagonal(P, 0.0)
        x = solve_qubo(q, P, cfg.solver, cfg.exact_max_vars, cfg.anneal_sweeps, cfg.seed + frame)
        # Apply, best hypothesis per segment (the optimum selects exactly one; heuristics may not)
        chosen: dict[int, Hypothesis] = {}
        for h, on in zip(hyps, x, strict=True):
            if on and (h.segment not in chosen or h.quality > chosen[h.segment].quality):
                chosen[h.segment] = h
        result, merged, used = [], {}, set()
        for si, s in enumerate(segments):
            h = chosen.get(si)
            targets = [merged.get(t, t) for t in h.targets] if h is not None else []
            targets = [t for t in targets if t in registry.instances and t not in used]
            if not targets:
                iid = registry.create(s, stamp_ns, frame)
            else:
                iid = registry.merge(targets) if len(targets) > 1 else targets[0]
                merged.update({t: iid for t in targets if t != iid})
                registry.observe(iid, s, stamp_ns, frame)
            used.add(iid)
            result.append(iid)
        if len(result) > 1:
            registry.add_conflicts(result)
        return MergeResult(result, merged, n)
