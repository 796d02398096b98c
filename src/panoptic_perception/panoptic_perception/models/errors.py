"""Typed errors of the models package."""

from __future__ import annotations


class ModelError(Exception):
    """Base class of every error raised by ``panoptic_perception.models``."""


class ModelConfigError(ModelError, ValueError):
    """An architecture configuration is malformed or does not match what was expected."""


class ModelFormatError(ModelError):
    """A saved model (JSON + safetensors) cannot be read or does not match its architecture."""


class ModelInputError(ModelError, ValueError):
    """A batch handed to a model has the wrong shape, dtype or content."""
