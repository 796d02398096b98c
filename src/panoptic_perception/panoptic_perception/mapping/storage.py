"""Safe file handling for maps: paths confined to a root, atomic writes, NPZ without pickle."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .errors import MapFileError, MapPathError


def confine_path(root: str | os.PathLike[str], requested: str | os.PathLike[str]) -> Path:
    """Resolve ``requested`` under ``root``; raise :class:`MapPathError` if it would land outside.

    Relative paths are taken from ``root``; absolute paths are accepted only inside it. Symlinks are
    resolved (also those of not-yet-existing parents), so a link pointing out of the root is an escape.
    """
    if str(requested) == "" or "\x00" in str(requested):
        raise MapPathError(f"invalid map path {str(requested)!r}")
    root_resolved = Path(root).resolve()
    req = Path(requested)
    target = (req if req.is_absolute() else root_resolved / req).resolve()
    if target != root_resolved and root_resolved not in target.parents:
        raise MapPathError(f"map path {str(requested)!r} resolves to {target}, outside the map root {root_resolved}")
    return target


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> None:
    """Write a file through ``write(fileobj)`` so readers see the old file or the complete new one.

    The data goes to a temporary file in the same directory, is fsynced, then ``os.replace``d over
    ``path``; on any error the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save_npz(path: str | os.PathLike[str], arrays: dict[str, np.ndarray]) -> None:
    atomic_write(path, lambda f: np.savez(f, **arrays))


def load_npz(path: str | os.PathLike[str], required: tuple[str, ...]) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {k: z[k] for k in z.files}
    except (OSError, ValueError) as err:
        raise MapFileError(f"{path}: cannot read NPZ: {err}") from err
    missing = [k for k in required if k not in out]
    if missing:
        raise MapFileError(f"{path}: missing arrays {', '.join(missing)}")
    return out
