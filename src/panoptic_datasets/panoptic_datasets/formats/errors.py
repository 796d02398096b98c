"""Errors raised by the dataset readers and writers; messages name the file or field at fault."""

from __future__ import annotations


class FormatError(ValueError):
    """Base of every dataset-format error."""


class ReaderError(FormatError):
    """A dataset on disk is missing a file or holds a malformed one."""


class WriterError(FormatError):
    """Frames cannot be written in the requested format (bad path, unrepresentable value)."""
