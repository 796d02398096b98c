"""Typed errors of the inference package."""

from __future__ import annotations


class InferenceError(Exception):
    """Base class of every error raised by ``panoptic_perception.inference``."""


class BackendUnavailableError(InferenceError):
    """A backend's runtime (tensorrt, CUDA, onnxruntime provider) is not installed or has no device."""


class BackendInputError(InferenceError, ValueError):
    """Inputs handed to a backend are missing, extra, or have the wrong shape or dtype."""


class ModelLoadError(InferenceError):
    """A model directory is missing a file, has the wrong format version, or its tensors do not match."""


class ExportError(InferenceError):
    """The network could not be exported to ONNX."""


class EngineCacheError(InferenceError):
    """An engine cache directory or entry cannot be used."""
