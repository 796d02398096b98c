"""MOPT's association loss in training: ground-truth instances of mini-sequences -> batch-hard triplet loss.

Instance vectors are pooled under ground-truth masks (the tracking head's training mode) from the
per-point features of the same forward pass that gives the panoptic losses; each instance reads the
slice of its ground-truth class. Identities are (window, class, instance id): the synthetic world keeps
an object's instance id for a whole sequence, and objects of different windows are never positives.
"""

from __future__ import annotations

import numpy as np
import torch

from panoptic_perception.models import SweepContext, TrackingHead, UPFuseBatch, batch_hard_triplet_loss


def gt_instance_masks(
    semantic: torch.Tensor, instance: torch.Tensor, valid: torch.Tensor, thing_ids: tuple[int, ...], min_points: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(N,) labels of one frame -> (K, N) bool masks, (K,) keys ``class << 16 | instance``, (K,) class ids.

    Thing instances (instance id > 0, class in ``thing_ids``) with at least ``min_points`` valid points.
    """
    is_thing = torch.zeros(int(semantic.max().clamp(min=max(thing_ids))) + 1, dtype=torch.bool)
    is_thing[list(thing_ids)] = True
    thing = valid & (instance > 0) & is_thing[semantic]
    key = (semantic << 16) | instance
    keys, counts = torch.unique(key[thing], return_counts=True)
    keys = keys[counts >= min_points]
    masks = (key[None, :] == keys[:, None]) & thing[None, :]
    return masks, keys, keys >> 16


def window_triplet_loss(
    head: TrackingHead,
    point_features: torch.Tensor,
    semantic: torch.Tensor,
    instance: torch.Tensor,
    valid: torch.Tensor,
    window_of_frame: list[int],
    thing_ids: tuple[int, ...],
    margin: float,
    min_points: int,
    inputs: UPFuseBatch | None = None,
) -> tuple[torch.Tensor, int]:
    """Triplet loss over a batch of frames (B, N, C) grouped into mini-sequences by ``window_of_frame`` (B,).

    ``inputs``: the batch's model inputs, whose points and camera images a head with ``appearance_shape`` inputs
    reads. Returns the loss and the number of anchors it averages.
    """
    thing_index = torch.full((max(thing_ids) + 1,), -1, dtype=torch.long)
    thing_index[list(thing_ids)] = torch.arange(len(thing_ids))
    vectors, identities, frames, classes = [], [], [], []
    for i, window in enumerate(window_of_frame):
        masks, keys, cls = gt_instance_masks(semantic[i], instance[i], valid[i], thing_ids, min_points)
        if keys.numel() == 0:
            continue
        context = None
        if inputs is not None:  # padded points are in no mask, so they are in no segment
            context = SweepContext(inputs.point_xyz[i], inputs.images[i], inputs.K[i], inputs.T_cam_lidar[i],
                                   inputs.camera_valid[i])
        vectors.append(head.instance_vectors(point_features[i], masks, thing_index[cls], context))
        identities.append(keys + (int(window) << 40))
        frames.append(torch.full_like(keys, i))
        classes.append(cls)
    if not vectors:
        return point_features.sum() * 0.0, 0
    return batch_hard_triplet_loss(torch.cat(vectors), torch.cat(identities), torch.cat(frames), torch.cat(classes), margin)


def window_batches(windows: list[list[int]], step: int, batch_size: int, seed: int, rank: int = 0,
                   world_size: int = 1) -> list[list[int]]:
    """The ``batch_size`` windows of this rank at ``step``: an epoch-wise permutation read as one endless stream."""
    n = len(windows)
    start = step * batch_size * world_size + rank * batch_size
    out = []
    for position in range(start, start + batch_size):
        epoch, offset = divmod(position, n)
        out.append(windows[int(np.random.default_rng([seed, epoch, 7]).permutation(n)[offset])])
    return out
