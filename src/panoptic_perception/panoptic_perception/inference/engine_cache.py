"""A directory of compiled engines keyed by what makes an engine valid (model, runtime, GPU, precision).

Each entry is ``<key>.engine`` plus ``<key>.json`` (the key fields, the engine's size and sha256).
An entry is used only if its key file matches the requested fields and the engine bytes match the
recorded size and hash; otherwise it is rebuilt and replaced. Writes go to a temporary file in the
same directory and are renamed into place, so a crash never leaves a truncated engine under a valid key.
The builder's timing cache (TensorRT tactic timings) is kept next to the engines, one per runtime + GPU.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import EngineCacheError

ENGINE_SUFFIX = ".engine"
KEY_SUFFIX = ".json"
KEY_FORMAT_VERSION = 1


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/panoptic_perception/engines`` (``~/.cache`` when XDG_CACHE_HOME is unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "panoptic_perception" / "engines"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cache_key(fields: dict[str, str]) -> str:
    """A file-name-safe key: sha256 of the fields as canonical JSON (first 32 hex digits)."""
    return sha256_bytes(json.dumps(fields, sort_keys=True).encode())[:32]


@dataclass
class CacheEntry:
    """An engine in the cache; ``engine`` is None in build-only mode. ``reason`` says why it was (re)built."""

    key: str
    path: Path
    built: bool
    reason: str
    engine: bytes | None


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class EngineCache:
    """``get_or_build(key_fields, build_fn)`` returns a validated cached engine or builds and stores one."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise EngineCacheError(f"{self.directory}: cannot create engine cache directory: {err}") from err

    def paths(self, key: str) -> tuple[Path, Path]:
        return self.directory / f"{key}{ENGINE_SUFFIX}", self.directory / f"{key}{KEY_SUFFIX}"

    def validate(self, fields: dict[str, str]) -> tuple[bytes | None, str]:
        """(engine bytes, "valid") for a usable entry, else (None, why it is not usable)."""
        engine_path, key_path = self.paths(cache_key(fields))
        if not engine_path.is_file() or not key_path.is_file():
            return None, "missing"
        try:
            record = json.loads(key_path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            return None, f"unreadable key file ({err})"
        if not isinstance(record, dict) or record.get("format_version") != KEY_FORMAT_VERSION:
            return None, "key file format differs"
        if record.get("fields") != fields:
            return None, "key fields differ"
        data = engine_path.read_bytes()
        if len(data) != record.get("size"):
            return None, f"engine size {len(data)} != recorded {record.get('size')}"
        if sha256_bytes(data) != record.get("sha256"):
            return None, "engine hash differs from the recorded one"
        return data, "valid"

    def store(self, fields: dict[str, str], engine: bytes) -> Path:
        if not isinstance(engine, bytes | bytearray | memoryview) or len(engine) == 0:
            raise EngineCacheError(f"builder returned no engine bytes for {fields}")
        engine = bytes(engine)
        engine_path, key_path = self.paths(cache_key(fields))
        record = {"format_version": KEY_FORMAT_VERSION, "fields": fields, "size": len(engine), "sha256": sha256_bytes(engine)}
        # Engine first, key last: a key file only ever describes a complete engine.
        key_path.unlink(missing_ok=True)
        _write_atomic(engine_path, engine)
        _write_atomic(key_path, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
        return engine_path

    def get_or_build(
        self, key_fields: dict[str, str], build_fn: Callable[[], bytes], *, build_only: bool = False
    ) -> CacheEntry:
        """The cached engine for ``key_fields``, built with ``build_fn`` when missing or invalid.

        ``build_only`` makes sure a valid engine is on disk and returns without keeping its bytes
        (ahead-of-time builds, e.g. when installing the vehicle image).
        """
        bad = {k: v for k, v in key_fields.items() if not isinstance(k, str) or not isinstance(v, str)}
        if bad or not key_fields:
            raise EngineCacheError(f"key fields must be a non-empty str -> str mapping; offending: {bad or key_fields}")
        key = cache_key(key_fields)
        engine, reason = self.validate(key_fields)
        built = engine is None
        if engine is None:
            engine = build_fn()
            self.store(key_fields, engine)
        return CacheEntry(key, self.paths(key)[0], built, reason, None if build_only else bytes(engine))

    def timing_cache_path(self, runtime_fields: dict[str, str]) -> Path:
        """Timing cache file for one runtime version + GPU (tactic timings do not carry across either)."""
        return self.directory / f"timing-{cache_key(runtime_fields)}.cache"

    def load_timing_cache(self, runtime_fields: dict[str, str]) -> bytes:
        path = self.timing_cache_path(runtime_fields)
        return path.read_bytes() if path.is_file() else b""

    def save_timing_cache(self, runtime_fields: dict[str, str], data: bytes) -> Path:
        path = self.timing_cache_path(runtime_fields)
        _write_atomic(path, bytes(data))
        return path
