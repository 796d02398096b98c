"""The exportable tensor core of UP-Fuse: fixed-dtype tensors in, the final-layer tensors out.

Everything a backend runs (PyTorch, ONNX Runtime, TensorRT) is this module; range-view projection
before it and panoptic post-processing after it stay in numpy/torch (``runner``). Masks travel as
float32 0/1 and pixel indices as int32, because TensorRT engines handle those I/O types on every
version we target; the core converts them back to the bool/long tensors the model expects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from panoptic_perception.models import UPFuse, UPFuseBatch

from .errors import BackendInputError


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of the core: numpy dtype and symbolic shape (ints are fixed sizes)."""

    dtype: np.dtype
    shape: tuple[str | int, ...]


# Symbols: B sweeps, N points (padded), M cameras, H x W range view, Hc x Wc camera image, Q queries, C1 classes + 1,
# E per-point mask-feature dimensions.
INPUTS: dict[str, TensorSpec] = {
    "range_features": TensorSpec(np.dtype(np.float32), ("B", 5, "H", "W")),
    "range_mask": TensorSpec(np.dtype(np.float32), ("B", "H", "W")),
    "point_xyz": TensorSpec(np.dtype(np.float32), ("B", "N", 3)),
    "point_vu": TensorSpec(np.dtype(np.int32), ("B", "N", 2)),
    "point_range": TensorSpec(np.dtype(np.float32), ("B", "N")),
    "point_valid": TensorSpec(np.dtype(np.float32), ("B", "N")),
    "images": TensorSpec(np.dtype(np.float32), ("B", "M", 3, "Hc", "Wc")),
    "K": TensorSpec(np.dtype(np.float32), ("B", "M", 3, 3)),
    "T_cam_lidar": TensorSpec(np.dtype(np.float32), ("B", "M", 4, 4)),
    "camera_valid": TensorSpec(np.dtype(np.float32), ("B", "M")),
}
INPUT_NAMES: tuple[str, ...] = tuple(INPUTS)
OUTPUTS: dict[str, TensorSpec] = {
    "class_logits": TensorSpec(np.dtype(np.float32), ("B", "Q", "C1")),
    "point_logits": TensorSpec(np.dtype(np.float32), ("B", "Q", "N")),
    "point_uncertainty": TensorSpec(np.dtype(np.float32), ("B", "N")),
    "point_features": TensorSpec(np.dtype(np.float32), ("B", "N", "E")),
}


def output_names(model: UPFuse) -> tuple[str, ...]:
    """Outputs of the core for this model; ``point_uncertainty`` only for fusion with uncertainty,
    ``point_features`` (what the MOPT tracking head pools, after post-processing, outside the core) only with a
    tracking head."""
    present = {"point_uncertainty": model.config.fusion == "upfuse", "point_features": model.config.tracking_head}
    return tuple(n for n in OUTPUTS if present.get(n, True))


class UPFuseTensorCore(nn.Module):
    """``UPFuse`` with positional tensor inputs in ``INPUT_NAMES`` order and a tuple of outputs."""

    def __init__(self, model: UPFuse) -> None:
        super().__init__()
        self.model = model
        self.output_names = output_names(model)

    def forward(
        self,
        range_features: torch.Tensor,
        range_mask: torch.Tensor,
        point_xyz: torch.Tensor,
        point_vu: torch.Tensor,
        point_range: torch.Tensor,
        point_valid: torch.Tensor,
        images: torch.Tensor,
        K: torch.Tensor,
        T_cam_lidar: torch.Tensor,
        camera_valid: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        batch = UPFuseBatch(
            range_features=range_features,
            range_mask=range_mask > 0.5,
            point_xyz=point_xyz,
            point_vu=point_vu.long(),
            point_range=point_range,
            point_valid=point_valid > 0.5,
            images=images,
            K=K,
            T_cam_lidar=T_cam_lidar,
            camera_valid=camera_valid > 0.5,
        )
        out = self.model(batch)
        values = {"class_logits": out.class_logits, "point_logits": out.point_logits,
                  "point_uncertainty": out.point_uncertainty, "point_features": out.point_features}
        return tuple(values[n] for n in self.output_names)


def batch_to_inputs(batch: UPFuseBatch) -> dict[str, np.ndarray]:
    """A ``UPFuseBatch`` as the core's numpy inputs (contiguous, in the core's dtypes)."""
    return {
        name: np.ascontiguousarray(getattr(batch, name).detach().cpu().numpy().astype(spec.dtype, copy=False))
        for name, spec in INPUTS.items()
    }


def check_inputs(inputs: dict[str, np.ndarray]) -> None:
    """Refuse missing or extra inputs and wrong ranks/dtypes/fixed sizes, naming the input."""
    missing = [n for n in INPUT_NAMES if n not in inputs]
    extra = sorted(set(inputs) - set(INPUT_NAMES))
    if missing or extra:
        raise BackendInputError(f"core inputs: missing {missing}, unexpected {extra}; expected {list(INPUT_NAMES)}")
    for name, spec in INPUTS.items():
        array = inputs[name]
        if not isinstance(array, np.ndarray) or array.dtype != spec.dtype:
            found = array.dtype if isinstance(array, np.ndarray) else type(array).__name__
            raise BackendInputError(f"core input {name!r}: expected a {spec.dtype} array, got {found}")
        fixed_ok = all(isinstance(s, str) or s == d for s, d in zip(spec.shape, array.shape, strict=False))
        if array.ndim != len(spec.shape) or not fixed_ok:
            raise BackendInputError(f"core input {name!r}: expected shape {spec.shape}, got {array.shape}")


def inputs_to_tensors(inputs: dict[str, np.ndarray], device: torch.device | str = "cpu") -> list[torch.Tensor]:
    return [torch.from_numpy(np.ascontiguousarray(inputs[n])).to(device) for n in INPUT_NAMES]
