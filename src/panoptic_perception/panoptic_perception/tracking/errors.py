"""Typed errors of the tracking package."""

from __future__ import annotations


class TrackingError(Exception):
    """Base class of every error raised by ``panoptic_perception.tracking``."""


class TrackerConfigError(TrackingError, ValueError):
    """A tracker or association configuration is malformed (unknown key, out-of-range value)."""


class TrackingInputError(TrackingError, ValueError):
    """Detections, logits, stamps or poses handed to the tracker have the wrong shape or content."""
