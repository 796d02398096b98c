import os

import pytest

from panoptic_perception.mapping import MapPathError, atomic_write, confine_path


def test_confine_path_accepts_nested_relative_paths_and_absolute_paths_inside_the_root(tmp_path):
    assert confine_path(tmp_path, "maps/run_1/final") == (tmp_path / "maps/run_1/final").resolve()
    assert confine_path(tmp_path, tmp_path / "a") == (tmp_path / "a").resolve()
    assert confine_path(tmp_path, "a/../b") == (tmp_path / "b").resolve()


@pytest.mark.parametrize("requested", ["../x", "a/../../x", "/etc/passwd"])
def test_confine_path_rejects_escapes(tmp_path, requested):
    with pytest.raises(MapPathError, match="outside the map root"):
        confine_path(tmp_path / "root", requested)


def test_confine_path_rejects_a_symlink_that_points_out_of_the_root(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", root / "link")
    with pytest.raises(MapPathError, match="outside the map root"):
        confine_path(root, "link/map")
    os.symlink(root / "inner_target", root / "inner_link")
    assert confine_path(root, "inner_link/map") == (root / "inner_target/map").resolve()


def test_confine_path_rejects_an_empty_path(tmp_path):
    with pytest.raises(MapPathError, match="invalid map path"):
        confine_path(tmp_path, "")


def test_atomic_write_leaves_the_old_file_and_no_partial_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "map.ply"
    target.write_bytes(b"old complete file")

    def failing_writer(f):
        f.write(b"half of the new fi")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, failing_writer)
    assert target.read_bytes() == b"old complete file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.ply"]
    atomic_write(tmp_path / "new.bin", lambda f: f.write(b"abc"))
    assert (tmp_path / "new.bin").read_bytes() == b"abc"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.ply", "new.bin"]
