"""Typed errors of the mapping package."""


class MappingError(RuntimeError):
    """Base class of every mapping error."""


class MappingInputError(MappingError, ValueError):
    """An argument (cloud, pose, config field) is malformed; the message names the field."""


class MapPathError(MappingError):
    """A requested path escapes the configured map root (absolute, ``..`` or symlink escape)."""


class MapFileError(MappingError):
    """A saved map or spilled block is missing or malformed; the message names the file."""
