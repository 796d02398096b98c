"""Panoptic post-processing of per-point query predictions (Mask2Former / MOPT style)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class PanopticPrediction:
    """Per-point result of one sweep (length N, the sweep's points)."""

    class_id: torch.Tensor  # (N,) long train id, 0 = unassigned
    instance_id: torch.Tensor  # (N,) long, 0 for stuff / unassigned
    score: torch.Tensor  # (N,) float in [0, 1]
    uncertainty: torch.Tensor | None  # (N,) camera-feature uncertainty in [0, 1), None without UP-Fuse fusion
    # (K, D) MOPT association vector of thing instance k + 1 (its class's unit slice); None without a tracking head
    association: torch.Tensor | None = None


@torch.no_grad()
def panoptic_inference(
    class_logits: torch.Tensor,
    point_logits: torch.Tensor,
    thing_ids: tuple[int, ...],
    object_mask_threshold: float = 0.8,
    overlap_threshold: float = 0.8,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(Q, C+1) class logits and (Q, N) point mask logits -> per-point (class id, instance id, score).

    See ``panoptic_instances``, which also says which query made each thing instance.
    """
    return panoptic_instances(class_logits, point_logits, thing_ids, object_mask_threshold, overlap_threshold)[:3]


@torch.no_grad()
def panoptic_instances(
    class_logits: torch.Tensor,
    point_logits: torch.Tensor,
    thing_ids: tuple[int, ...],
    object_mask_threshold: float = 0.8,
    overlap_threshold: float = 0.8,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``panoptic_inference`` plus, per thing instance k + 1, its query index and class id ((K,) each).

    Queries predicting "no object" or scoring below ``object_mask_threshold`` are dropped; each
    point goes to the argmax over kept queries of score * mask probability; a query whose kept
    points are less than ``overlap_threshold`` of its own mask is dropped; stuff queries of one
    class merge into one segment (instance 0); every thing query is a new instance (1, 2, ...).
    Class ids are train ids (logit index + 1).
    """
    n = point_logits.shape[1]
    num_classes = class_logits.shape[1] - 1
    scores, labels = class_logits.softmax(-1).max(-1)
    keep = (labels != num_classes) & (scores > object_mask_threshold)
    class_id = torch.zeros(n, dtype=torch.long, device=point_logits.device)
    instance_id = torch.zeros_like(class_id)
    score = torch.zeros(n, dtype=point_logits.dtype, device=point_logits.device)
    no_instances = torch.zeros(0, dtype=torch.long, device=point_logits.device)
    if not keep.any() or n == 0:
        return class_id, instance_id, score, no_instances, no_instances
    kept_queries = torch.nonzero(keep).squeeze(1)
    scores, labels = scores[keep], labels[keep]
    masks = point_logits[keep].sigmoid()
    if masks.device.type == "cpu":
        # The same products and first-maximum argmax in numpy: torch's reductions over the (K, N) masks cost
        # about ten times as much on a CPU (replay benchmark profile, docs/benchmarks.md).
        masks_np = masks.numpy()
        owner = torch.from_numpy((masks_np * scores.numpy()[:, None]).argmax(0))
        original = torch.from_numpy(np.count_nonzero(masks_np >= 0.5, axis=1))
    else:
        owner = (masks * scores[:, None]).argmax(0)
        original = (masks >= 0.5).sum(1)
    owner_prob = masks.gather(0, owner[None])[0]
    mine = owner_prob >= 0.5
    area = torch.bincount(owner[mine], minlength=scores.shape[0])
    segment_ok = (area > 0) & (area >= overlap_threshold * original)
    assigned = mine & segment_ok[owner]
    is_thing = torch.zeros(num_classes + 1, dtype=torch.bool, device=class_logits.device)
    is_thing[[t - 1 for t in thing_ids]] = True
    thing_segment = segment_ok & is_thing[labels]
    instance_of_query = torch.cumsum(thing_segment.long(), 0) * thing_segment  # things numbered 1, 2, ... in query order
    class_id = torch.where(assigned, labels[owner] + 1, class_id)
    instance_id = torch.where(assigned, instance_of_query[owner], instance_id)
    score = torch.where(assigned, scores[owner] * owner_prob, score)
    return class_id, instance_id, score, kept_queries[thing_segment], labels[thing_segment] + 1


def thing_slots(instance_class: torch.Tensor, thing_ids: tuple[int, ...]) -> torch.Tensor:
    """(K,) thing class ids -> (K,) index into ``thing_ids`` (the tracking head's class slice)."""
    lut = torch.full((max(thing_ids) + 1,), -1, dtype=torch.long, device=instance_class.device)
    lut[list(thing_ids)] = torch.arange(len(thing_ids), device=instance_class.device)
    slot = lut[instance_class.clamp(0, len(lut) - 1)]
    if ((instance_class >= len(lut)) | (slot < 0)).any():
        raise ValueError(f"instance classes {instance_class.tolist()} include a class outside thing_ids {thing_ids}")
    return slot

