"""INT8 calibration for TensorRT: an ``Int8Calibrator`` fed by an iterator of core input batches.

The calibrator walks the iterator once, stages each batch on the GPU and hands TensorRT the
device pointers in the order it asks for them; the resulting scale table is cached in a file so a
rebuild for another GPU of the same kind skips the calibration pass. With the dynamic point axis,
TensorRT calibrates at the optimisation profile's ``opt`` shape, so every batch must have exactly
that many (padded) points.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .errors import BackendInputError
from .tensor_core import check_inputs
from .trt_runtime import import_tensorrt, require_cuda

# Stages one host array on the device; returns (device pointer, an owner that keeps the memory alive).
StageFn = Callable[[np.ndarray], tuple[int, Any]]


def stage_with_torch_cuda(array: np.ndarray) -> tuple[int, Any]:
    import torch

    tensor = torch.from_numpy(np.ascontiguousarray(array)).cuda()
    return tensor.data_ptr(), tensor


class Int8Calibrator:
    """Feeds calibration batches (dicts of core inputs) to TensorRT's entropy calibrator."""

    def __init__(
        self,
        batches: Iterable[dict[str, np.ndarray]],
        cache_path: str | Path | None = None,
        expected_points: int | None = None,
        stage: StageFn = stage_with_torch_cuda,
        max_batches: int | None = None,
    ) -> None:
        self._batches: Iterator[dict[str, np.ndarray]] = iter(batches)
        self.cache_path = Path(cache_path) if cache_path is not None else None
        self.expected_points = expected_points
        self.stage = stage
        self.max_batches = max_batches
        self.batches_used = 0
        self._staged: list[Any] = []  # device memory of the current batch, alive until the next call

    def next_pointers(self, names: list[str]) -> list[int] | None:
        """Device pointers of the next batch's inputs in ``names`` order; None when calibration data ends."""
        if self.max_batches is not None and self.batches_used >= self.max_batches:
            return None
        batch = next(self._batches, None)
        if batch is None:
            return None
        check_inputs(batch)
        points = batch["point_xyz"].shape[1]
        if self.expected_points is not None and points != self.expected_points:
            raise BackendInputError(
                f"int8 calibration batch {self.batches_used}: {points} points, but TensorRT calibrates at the "
                f"profile's opt size {self.expected_points}; pad batches to it"
            )
        unknown = [n for n in names if n not in batch]
        if unknown:
            raise BackendInputError(f"int8 calibration: TensorRT asks for input(s) {unknown} the batches do not have")
        staged = [self.stage(batch[n]) for n in names]
        self._staged = [owner for _, owner in staged]
        self.batches_used += 1
        return [pointer for pointer, _ in staged]

    def read_cache(self) -> bytes | None:
        if self.cache_path is not None and self.cache_path.is_file():
            return self.cache_path.read_bytes()
        return None

    def write_cache(self, data: bytes) -> None:
        if self.cache_path is not None:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            self.cache_path.write_bytes(bytes(data))

    def tensorrt_calibrator(self) -> Any:
        """This calibrator as a ``tensorrt.IInt8EntropyCalibrator2`` (imports TensorRT, needs CUDA)."""
        trt = import_tensorrt()
        require_cuda()
        feeder = self

        class _EntropyCalibrator(trt.IInt8EntropyCalibrator2):  # type: ignore[misc, name-defined]
            def __init__(self) -> None:
                super().__init__()

            def get_batch_size(self) -> int:
                return 1  # explicit-batch networks: the batch axis is part of each input's shape

            def get_batch(self, names: list[str]) -> list[int] | None:
                return feeder.next_pointers(list(names))

            def read_calibration_cache(self) -> bytes | None:
                return feeder.read_cache()

            def write_calibration_cache(self, cache: Any) -> None:
                feeder.write_cache(bytes(cache))

        return _EntropyCalibrator()
