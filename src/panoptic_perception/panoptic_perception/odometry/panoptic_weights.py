"""PVO's panoptic-aware confidence (Xu et al., CVPR 2023, VPS-enhanced VO module).

``w = sigmoid(w_logit + (1 - M_d) * eta)`` with ``eta = 10``. M_d is the DYNAMIC mask: 1 on pixels of
moving things, 0 elsewhere. So static pixels (M_d = 0) get their confidence logit raised by eta
(sigmoid -> ~1), while dynamic pixels keep the update operator's own, unboosted confidence.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from .errors import OdometryInputError

ETA = 10.0  # PVO's boost of static-pixel confidence logits


def panoptic_confidence(logits: torch.Tensor, dynamic: torch.Tensor, eta: float = ETA) -> torch.Tensor:
    """Panoptic-aware confidence in [0, 1].

    ``logits`` (..., H, W, C) are the update operator's confidence logits (C = 2 for the flow's x, y);
    ``dynamic`` (..., H, W) is M_d (bool or {0, 1}), broadcast over the channels.
    """
    if logits.shape[-3:-1] != dynamic.shape[-2:]:
        raise OdometryInputError(f"dynamic: expected (..., {logits.shape[-3]}, {logits.shape[-2]}) to match logits "
                                 f"{tuple(logits.shape)}, got {tuple(dynamic.shape)}")
    static = 1.0 - dynamic.to(logits.dtype)
    return torch.sigmoid(logits + static[..., None] * eta)


def dynamic_mask(
    class_ids: np.ndarray,
    instance_ids: np.ndarray,
    moving_track_ids: Iterable[int],
    thing_ids: Iterable[int],
    untracked_things_dynamic: bool = True,
) -> np.ndarray:
    """M_d: True where a pixel belongs to a thing whose instance (track) is estimated to be moving.

    Stuff is never dynamic; a thing is dynamic only when its instance id is in ``moving_track_ids`` (a
    parked car is static). Thing pixels without an instance (id 0) are dynamic when
    ``untracked_things_dynamic``: their motion is unknown, and dropping a few static pixels costs less
    than letting a moving one into the pose estimate.
    """
    class_ids = np.asarray(class_ids)
    instance_ids = np.asarray(instance_ids)
    if class_ids.shape != instance_ids.shape:
        raise OdometryInputError(f"instance_ids: expected shape {class_ids.shape} to match class_ids, "
                                 f"got {instance_ids.shape}")
    is_thing = np.isin(class_ids, np.fromiter(thing_ids, dtype=np.int64))
    moving = np.isin(instance_ids, np.fromiter(moving_track_ids, dtype=np.int64))
    untracked = instance_ids == 0
    return is_thing & (moving | (untracked & untracked_things_dynamic))
