"""Typed errors raised by the ROS boundary."""

from __future__ import annotations


class ConversionError(ValueError):
    """A message (or array) cannot be converted; the text names the offending field."""
