"""The engine cache with a fake builder: hits, misses, corruption, build-only and timing caches."""

from __future__ import annotations

import json

import pytest

from panoptic_perception.inference import EngineCache, EngineCacheError, cache_key, default_cache_dir

FIELDS = {"model_sha256": "ab" * 32, "tensorrt": "10.3.0", "gpu": "NVIDIA H100", "precision": "fp16"}


class FakeBuilder:
    def __init__(self, payload: bytes = b"engine-bytes-v1") -> None:
        self.payload, self.calls = payload, 0

    def __call__(self) -> bytes:
        self.calls += 1
        return self.payload


def test_an_engine_is_built_once_and_then_served_from_the_cache(tmp_path):
    cache, build = EngineCache(tmp_path), FakeBuilder()
    first = cache.get_or_build(FIELDS, build)
    second = cache.get_or_build(FIELDS, build)
    assert (first.built, first.reason, second.built, second.reason) == (True, "missing", False, "valid")
    assert second.engine == b"engine-bytes-v1" and build.calls == 1
    record = json.loads((tmp_path / f"{cache_key(FIELDS)}.json").read_text())
    assert record["fields"] == FIELDS and record["size"] == 15


@pytest.mark.parametrize("field", ["model_sha256", "tensorrt", "gpu", "precision"])
def test_a_change_of_any_key_field_builds_a_separate_engine(tmp_path, field):
    cache, build = EngineCache(tmp_path), FakeBuilder()
    cache.get_or_build(FIELDS, build)
    entry = cache.get_or_build({**FIELDS, field: "other"}, build)
    assert entry.built and build.calls == 2 and len(list(tmp_path.glob("*.engine"))) == 2


def test_corrupted_truncated_or_mislabelled_engines_are_rebuilt(tmp_path):
    cache, build = EngineCache(tmp_path), FakeBuilder()
    engine_path, key_path = cache.paths(cache.get_or_build(FIELDS, build).key)
    engine_path.write_bytes(b"engine-bytes-v2")  # same size, other bytes
    assert cache.get_or_build(FIELDS, build).reason == "engine hash differs from the recorded one"
    engine_path.write_bytes(b"engine")
    assert cache.get_or_build(FIELDS, build).reason == "engine size 6 != recorded 15"
    record = json.loads(key_path.read_text())
    key_path.write_text(json.dumps({**record, "fields": {**FIELDS, "gpu": "other"}}))
    assert cache.get_or_build(FIELDS, build).reason == "key fields differ"
    key_path.write_text("{not json")
    assert cache.get_or_build(FIELDS, build).reason.startswith("unreadable key file")
    assert build.calls == 5 and cache.get_or_build(FIELDS, build).reason == "valid"


def test_build_only_mode_leaves_a_valid_engine_on_disk_without_returning_it(tmp_path):
    cache, build = EngineCache(tmp_path), FakeBuilder()
    entry = cache.get_or_build(FIELDS, build, build_only=True)
    assert entry.engine is None and entry.path.read_bytes() == b"engine-bytes-v1"
    assert cache.get_or_build(FIELDS, build).engine == b"engine-bytes-v1" and build.calls == 1


def test_a_failing_builder_leaves_no_entry_and_bad_keys_are_refused(tmp_path):
    cache = EngineCache(tmp_path)

    def broken() -> bytes:
        raise RuntimeError("builder crashed")

    with pytest.raises(RuntimeError, match="builder crashed"):
        cache.get_or_build(FIELDS, broken)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(EngineCacheError, match="no engine bytes"):
        cache.get_or_build(FIELDS, lambda: b"")
    with pytest.raises(EngineCacheError, match="str -> str"):
        cache.get_or_build({"precision": 16}, FakeBuilder())  # type: ignore[dict-item]


def test_the_timing_cache_is_persisted_next_to_the_engines_per_runtime_and_gpu(tmp_path):
    cache = EngineCache(tmp_path)
    runtime = {"tensorrt": "10.3.0", "gpu": "NVIDIA H100"}
    assert cache.load_timing_cache(runtime) == b""
    path = cache.save_timing_cache(runtime, b"tactics")
    assert path.parent == tmp_path and EngineCache(tmp_path).load_timing_cache(runtime) == b"tactics"
    assert cache.load_timing_cache({**runtime, "gpu": "NVIDIA L4"}) == b""


def test_the_default_directory_follows_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "panoptic_perception" / "engines"
    assert EngineCache().directory.is_dir()
