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
    SweepContext,
    TrackingHead,
    UPFuseBatch,
    UPFuseConfig,
    panoptic_instances,
    thing_slots,
)

from .backend import InferenceBackend
from .errors import BackendInputError
from .tensor_core import batch_to_inputs

DEFAULT_BUCKET = 4096
HEAD_CONTEXT = ("point_xyz", "images", "K", "T_cam_lidar", "camera_valid")  # core inputs an appearance head reads


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
    outputs: dict[str, np.ndarray], point_valid: np.ndarray, config: UPFuseConfig, tracking_head: TrackingHead | None = None
) -> list[PanopticPrediction]:
    """Per-sweep panoptic points (padding removed) from the core's outputs; as ``UPFuse.predict``.

    With ``tracking_head`` and a ``point_features`` output, each thing instance gets its association vector:
    the point features pooled over its final segment, through the head's FC layers (a few instances, so
    outside the exported graph). A head whose inputs include camera colour and shape (``appearance_shape``) also
    reads the core inputs ``HEAD_CONTEXT`` from ``outputs`` (``PanopticRunner.run_core`` adds them)."""
    class_logits = torch.from_numpy(outputs["class_logits"])
    point_logits = torch.from_numpy(outputs["point_logits"])
    uncertainty = outputs.get("point_uncertainty")
    point_features = outputs.get("point_features") if tracking_head is not None else None
    needs_context = tracking_head is not None and tracking_head.inputs != "features"
    if needs_context and any(n not in outputs for n in HEAD_CONTEXT):
        raise BackendInputError(f"the tracking head's {tracking_head.inputs!r} inputs need the core inputs "
                                f"{', '.join(HEAD_CONTEXT)} next to the outputs (PanopticRunner.run_core adds them)")
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
        if tracking_head is not None and point_features is not None:
            context = None
            if needs_context:
                context = SweepContext(torch.from_numpy(outputs["point_xyz"][i])[valid], torch.from_numpy(outputs["images"][i]),
                                       torch.from_numpy(outputs["K"][i]), torch.from_numpy(outputs["T_cam_lidar"][i]),
                                       torch.from_numpy(outputs["camera_valid"][i] > 0.5))
            with torch.inference_mode():
                vectors = tracking_head.segment_vectors(torch.from_numpy(point_features[i])[valid], instance_id,
                                                        thing_slots(label, config.thing_class_ids), context)
        results.append(PanopticPrediction(class_id, instance_id, score, u, vectors))
    return results


class PanopticRunner:
    """Runs UP-Fuse through any ``InferenceBackend`` and returns ``PanopticPrediction`` per sweep."""

    def __init__(self, backend: InferenceBackend, config: UPFuseConfig, bucket: int = DEFAULT_BUCKET,
                 tracking_head: TrackingHead | None = None) -> None:
        """``tracking_head``: the model's MOPT head (``ModelArtifacts.model.tracking_head``); without it no
        instance gets an association vector."""
        if bucket < 1:
            raise BackendInputError(f"bucket must be >= 1, got {bucket}")
        if tracking_head is not None and not config.tracking_head:
            raise BackendInputError("a tracking head was given for a model whose config has none (tracking_head: false)")
        self.backend, self.config, self.bucket = backend, config, bucket
        self.tracking_head = tracking_head.eval() if tracking_head is not None else None

    def inputs(self, batch: UPFuseBatch) -> dict[str, np.ndarray]:
        batch.validate(self.config.range_spec)
        return batch_to_inputs(pad_points(batch, self.bucket))

    def run_core(self, batch: UPFuseBatch) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The network core's outputs and the padded points' validity (what ``predictions`` needs)."""
        inputs = self.inputs(batch)
        outputs = self.backend.run(inputs)
        if self.tracking_head is not None and self.tracking_head.inputs != "features":
            outputs = {**outputs, **{name: inputs[name] for name in HEAD_CONTEXT}}  # the head's colour and shape inputs
        return outputs, inputs["point_valid"]

    def predictions(self, outputs: dict[str, np.ndarray], point_valid: np.ndarray) -> list[PanopticPrediction]:
        return predictions_from_outputs(outputs, point_valid, self.config, self.tracking_head)

    def predict(self, batch: UPFuseBatch) -> list[PanopticPrediction]:
        return self.predictions(*self.run_core(batch))
