"""Typed errors of the training package."""

from __future__ import annotations


class TrainingError(Exception):
    """Base class of training-package errors."""


class TrainingConfigError(TrainingError, ValueError):
    """A training config (YAML file or dotted override) is invalid; the message names the field."""


class TrainingDataError(TrainingError):
    """A cached sample or generated frame is unusable; the message names the file."""


class CheckpointError(TrainingError):
    """A checkpoint cannot be written or read; the message names the file."""
