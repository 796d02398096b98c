"""Lazy access to TensorRT and CUDA: a clear ``BackendUnavailableError`` instead of an ImportError."""

from __future__ import annotations

from typing import Any

import torch

from .errors import BackendUnavailableError


def import_tensorrt() -> Any:
    try:
        import tensorrt
    except ImportError as err:
        raise BackendUnavailableError(
            "tensorrt: the TensorRT Python package is not installed (use the GPU image, docker/Dockerfile.gpu)"
        ) from err
    return tensorrt


def require_cuda() -> None:
    if not torch.cuda.is_available():
        raise BackendUnavailableError("tensorrt: no CUDA device is available (torch.cuda.is_available() is False)")


def tensorrt_major(trt: Any) -> int:
    return int(str(trt.__version__).split(".")[0])
