"""Pre- and post-processing around a backend: batch -> padded core inputs -> backend -> panoptic points.

Variable point counts are padded up to a multiple of ``bucket`` (``point_valid`` = 0 for padding).
Padded points never influence real ones: depth rendering skips them and every point's mask logits
depend only on its own pixel neighbourhood; buckets keep the number of distinct shapes small for
``torch.compile`` and keep N inside a TensorRT optimisation profile.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from panoptic_perception.models import (
    PanopticPrediction,
    UPFuseBatch,
    UPFuseConfig,
    instance_associations,
    panoptic_instances,
)

from .backend import InferenceBackend
from .errors import BackendInputError
from .tensor_core import batch_to_inputs

DEFAULT_BUCKET = 4096


def padded_size(n: int, bucket: int) -> int:
    if bucket < 1:
        raise BackendInputError(f"bucket must be >= 1, got {bucket}")
    return max(bucket, math.ceil(n / bucket) * bucket)


def pad_points(batch: UPFuseBatch, bucket: int) -> UPFuseBatch:
    """The batch with its point axis zero-padded (invalid) to ``padded_size(N, bucket)``."""
    n = batch.point_xyz.shape[1]
    extra = padded_size(n, bucket) - n
    if extra == 0:
        return batch

    def pad(t: torch.Tensor) -> torch.Tensor:
        return torch.cat([t, t.new_zeros((t.shape[0], extra, *t.shape[2:]))], dim=1)

    return dataclasses.replace(
        batch,
        point_xyz=pad(batch.point_xyz),
        point_vu=pad(batch.point_vu),
        point_range=pad(batch.point_range),
        point_valid=pad(batch.point_valid),
    )


def predictions_from_outputs(
    outputs: dict[str, np.ndarray], point_valid: np.ndarray, config: UPFuseConfig
) -> list[PanopticPrediction]:
    """Per-sweep panoptic points (padding removed) from the core's outputs; as ``UPFuse.predict``."""
    class_logits = torch.from_numpy(outputs["class_logits"])
    point_logits = torch.from_numpy(outputs["point_logits"])
    uncertainty = outputs.get("point_uncertainty")
    association = outputs.get("association")
    results = []
    for i in range(point_valid.shape[0]):
        valid_np = point_valid[i] > 0.5
        count = int(valid_np.sum())
        # pad_points appends the padding, so the valid points are usually a prefix: a view, not a (Q, N) copy.
        valid = slice(0, count) if valid_np[:count].all() else torch.from_numpy(valid_np)
        class_id, instance_id, score, query, label = panoptic_instances(
            class_logits[i],
            point_logits[i][:, valid],
            config.thing_class_ids,
            config.object_mask_threshold,
            config.overlap_threshold,
        )
        u = torch.from_numpy(uncertainty[i])[valid] if uncertainty is not None else None
        vectors = None
        if association is not None:
            vectors = instance_associations(torch.from_numpy(association[i]), query, label, config.thing_class_ids)
        results.append(PanopticPrediction(class_id, instance_id, score, u, vectors))
    return results


class PanopticRunner:
    """Runs UP-Fuse through any ``InferenceBackend`` and returns ``PanopticPrediction`` per sweep."""

    def __init__(self, backend: InferenceBackend, config: UPFuseConfig, bucket: int = DEFAULT_BUCKET) -> None:
        if bucket < 1:
            raise BackendInputError(f"bucket must be >= 1, got {bucket}")
        self.backend, self.config, self.bucket = backend, config, bucket

    def inputs(self, batch: UPFuseBatch) -> dict[str, np.ndarray]:
        batch.validate(self.config.range_spec)
        return batch_to_inputs(pad_points(batch, self.bucket))

    def predict(self, batch: UPFuseBatch) -> list[PanopticPrediction]:
        inputs = self.inputs(batch)
        return predictions_from_outputs(self.backend.run(inputs), inputs["point_valid"], self.config)
