from __future__ import annotations

import numpy as np
import pytest

from panoptic_datasets.cli import main
from panoptic_datasets.formats.bag import BagReader
from panoptic_datasets.formats.semantickitti import SemanticKittiWriter
from panoptic_datasets.splits import SPLITS, split_of, split_seed


def write_sequence(frames, root, sequence=4):
    with SemanticKittiWriter(root, sequence) as writer:
        for frame in frames:
            writer.write(frame)
    return root / "sequences" / f"{sequence:02d}"


def test_convert_turns_a_semantickitti_sequence_into_a_bag(tmp_path, tiny_frames, capsys):
    frames = tiny_frames()
    seq = write_sequence(frames, tmp_path / "kitti")
    assert main(["convert", "--from", "semantickitti", str(seq), "--to", "bag", str(tmp_path / "bag")]) == 0
    assert "converted 3 frames" in capsys.readouterr().out
    read = list(BagReader(tmp_path / "bag"))
    assert read[0].sensor.sequence == 4
    np.testing.assert_array_equal(read[2].point_label, frames[2].point_label)
    np.testing.assert_allclose(read[1].T_world_lidar, frames[1].T_world_lidar, atol=1e-9)


def test_info_reports_frames_topics_points_and_classes(tmp_path, tiny_frames, capsys):
    frames = tiny_frames()
    seq = write_sequence(frames, tmp_path / "kitti")
    main(["convert", "--from", "semantickitti", str(seq), "--to", "bag", str(tmp_path / "bag")])
    capsys.readouterr()
    assert main(["info", str(tmp_path / "bag")]) == 0
    out = capsys.readouterr().out
    assert "bag, 3 frames" in out
    assert "/lidar/points  sensor_msgs/msg/PointCloud2  3" in out
    assert "/tf_static  tf2_msgs/msg/TFMessage  1" in out
    assert "points: 621 total, 207 per frame (min 200, max 214)" in out
    road = sum(int(((f.point_label & 0xFFFF) == 9).sum()) for f in frames)
    assert f" 9 road           {road}" in out
    assert main(["info", str(seq)]) == 0
    assert "semantickitti, 3 frames" in capsys.readouterr().out


def test_user_errors_print_one_line_and_exit_2(tmp_path, capsys):
    assert main(["info", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("panoptic-data info: error:") and "no such file or folder" in err
    assert "Traceback" not in err
    (tmp_path / "empty").mkdir()
    assert main(["convert", "--from", "semantickitti", str(tmp_path / "empty"), "--to", "bag", str(tmp_path / "b")]) == 2
    assert "empty/calib.txt: calibration file not found" in capsys.readouterr().err
    assert main(["generate", "--frames", "2", "--out", str(tmp_path / "g")]) == 2
    assert "give --seed, or --split with --sequence" in capsys.readouterr().err


def test_splits_map_sequences_to_disjoint_seed_ranges():
    assert split_seed("train", 0) == 0 and split_seed("val", 3) == 1003 and split_seed("test", 99) == 2099
    assert split_of(1003) == "val" and split_of(1500) is None
    assert not set(SPLITS["train"]) & set(SPLITS["val"]) and not set(SPLITS["val"]) & set(SPLITS["test"])
    with pytest.raises(ValueError, match=r"split 'val' has sequences 0\.\.99; got 100"):
        split_seed("val", 100)


def test_generate_is_byte_identical_for_the_same_seed_and_config(tmp_path):
    import hashlib

    scene = tmp_path / "scene.yaml"
    scene.write_text("num_vehicles: 4\nnum_pedestrians: 2\nlight: dusk\n")
    outputs = []
    for name in ("a", "b"):
        assert (
            main(
                [
                    "generate",
                    "--rig",
                    "tiny",
                    "--frames",
                    "2",
                    "--split",
                    "val",
                    "--sequence",
                    "3",
                    "--scene",
                    str(scene),
                    "--format",
                    "both",
                    "--out",
                    str(tmp_path / name),
                ]
            )
            == 0
        )
        root = tmp_path / name
        outputs.append(
            {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}
        )
    assert outputs[0] == outputs[1]
    assert {
        "bags/1003/1003.mcap",
        "bags/1003/metadata.yaml",
        "sequences/1003/velodyne/000001.bin",
        "sequences/1003/labels/000001.label",
        "configs/1003.yaml",
    } <= outputs[0].keys()
    assert "light: dusk" in (tmp_path / "a" / "configs" / "1003.yaml").read_text()


@pytest.mark.parametrize("fmt", ["kitti_raw", "nuscenes"])
def test_convert_reads_kitti_raw_and_nuscenes_into_a_bag(tmp_path, tiny_frames, capsys, fmt):
    from panoptic_datasets.formats import KittiRawWriter, NuScenesWriter

    frames = tiny_frames(num_frames=2)
    writer = KittiRawWriter(tmp_path / "src") if fmt == "kitti_raw" else NuScenesWriter(tmp_path / "src")
    with writer:
        for frame in frames:
            writer.write(frame)
    src = tmp_path / "src" / "2011_09_26" if fmt == "kitti_raw" else tmp_path / "src"
    assert main(["convert", "--from", fmt, str(src), "--to", "bag", str(tmp_path / "bag")]) == 0
    read = list(BagReader(tmp_path / "bag"))
    assert [f.sensor.stamp_ns for f in read] == [f.sensor.stamp_ns for f in frames]
    np.testing.assert_array_equal(read[1].sensor.points[:, :3], frames[1].sensor.points[:, :3])
    assert len(read[1].sensor.cameras) == 2
