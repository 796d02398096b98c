from __future__ import annotations

import cv2
import numpy as np
import pytest

from panoptic_datasets.formats.errors import ReaderError
from panoptic_datasets.formats.semantickitti import SemanticKittiReader, SemanticKittiWriter, split_projection
from panoptic_perception.core.labels import load_class_table


def write(frames, root, sequence=4, **kwargs):
    with SemanticKittiWriter(root, sequence, **kwargs) as writer:
        for frame in frames:
            writer.write(frame)
    return root / "sequences" / f"{sequence:02d}"


def test_round_trip_recovers_every_part_of_the_labeled_frames(tmp_path, tiny_frames):
    frames = tiny_frames()
    seq = write(frames, tmp_path, T_base_lidar=np.diag([1.0, 1.0, 1.0, 1.0]))
    reader = SemanticKittiReader(tmp_path, sequence=4)
    assert len(reader) == 3 and reader.has_labels
    assert list(reader.cameras) == ["front", "left"]
    for original, read in zip(frames, reader, strict=True):
        np.testing.assert_array_equal(read.sensor.points, original.sensor.points)
        np.testing.assert_array_equal(read.point_label, original.point_label)
        np.testing.assert_array_equal(read.sensor.point_time, original.sensor.point_time)
        assert read.sensor.stamp_ns == original.sensor.stamp_ns
        assert (read.sensor.sequence, read.sensor.index) == (4, original.sensor.index)
        np.testing.assert_allclose(read.T_world_lidar, original.T_world_lidar, atol=1e-9)
        for name, image in original.sensor.cameras.items():
            got = read.sensor.cameras[name]
            assert got.stamp_ns == image.stamp_ns
            np.testing.assert_array_equal(got.rgb, image.rgb)
            np.testing.assert_allclose(got.camera.K, image.camera.K, atol=1e-9)
            np.testing.assert_allclose(got.camera.T_cam_lidar, image.camera.T_cam_lidar, atol=1e-9)
            np.testing.assert_array_equal(got.camera.D, image.camera.D)
            truth, back = original.cameras[name], read.cameras[name]
            np.testing.assert_array_equal(back.semantic, truth.semantic)
            np.testing.assert_array_equal(back.instance, truth.instance)
            np.testing.assert_allclose(back.depth, truth.depth, atol=0.5 / 256)
            np.testing.assert_allclose(back.flow, truth.flow, atol=0.5 / 64)  # KITTI flow PNG: 1/64 px steps
        assert [o.instance_id for o in read.objects] == [o.instance_id for o in original.objects]
        np.testing.assert_array_equal(read.objects[0].center, original.objects[0].center)
    assert seq.joinpath("velodyne", "000002.bin").stat().st_size == 16 * len(frames[2].sensor.points)


def test_labels_on_disk_hold_raw_semantickitti_ids(tmp_path, tiny_frames):
    frame = tiny_frames(num_frames=1)[0]
    seq = write([frame], tmp_path)
    raw = np.fromfile(seq / "labels" / "000000.label", dtype="<u4")
    expected = load_class_table().train_to_raw_lut()[frame.point_label & 0xFFFF]
    np.testing.assert_array_equal(raw & 0xFFFF, expected)
    np.testing.assert_array_equal(raw >> 16, frame.point_label >> 16)
    assert 40 in set((raw & 0xFFFF).tolist()) or 9 not in set((frame.point_label & 0xFFFF).tolist())  # road -> 40


def test_poses_follow_the_kitti_camera_convention(tmp_path, tiny_frames):
    frames = tiny_frames()
    seq = write(frames, tmp_path)
    poses = np.loadtxt(seq / "poses.txt").reshape(-1, 3, 4)
    np.testing.assert_allclose(poses[0], np.hstack([np.eye(3), np.zeros((3, 1))]), atol=1e-12)
    Tr = frames[0].sensor.cameras["front"].camera.T_cam_lidar
    rel = np.linalg.inv(frames[0].T_world_lidar) @ frames[2].T_world_lidar
    np.testing.assert_allclose(poses[2], (Tr @ rel @ np.linalg.inv(Tr))[:3], atol=1e-9)
    times = np.loadtxt(seq / "times.txt")
    np.testing.assert_allclose(times, [0.0, 0.1, 0.2], atol=1e-12)


def test_reader_without_our_extras_reads_plain_semantickitti(tmp_path, tiny_frames):
    frames = tiny_frames(num_frames=2)
    write(frames, tmp_path, extras=False)
    reader = SemanticKittiReader(tmp_path / "sequences" / "04")
    assert list(reader.cameras) == ["image_2", "image_3"]
    read = list(reader)
    assert read[0].cameras == {} and read[0].objects == [] and read[0].sensor.point_time is None
    assert read[1].sensor.stamp_ns == 100_000_000
    np.testing.assert_allclose(read[0].T_world_lidar, np.eye(4), atol=1e-12)
    rel = np.linalg.inv(frames[0].T_world_lidar) @ frames[1].T_world_lidar
    np.testing.assert_allclose(read[1].T_world_lidar, rel, atol=1e-9)


def test_test_sequences_without_labels_read_as_unlabeled(tmp_path, tiny_frames):
    seq = write(tiny_frames(num_frames=1), tmp_path)
    for f in (seq / "labels").iterdir():
        f.unlink()
    (seq / "labels").rmdir()
    reader = SemanticKittiReader(seq)
    assert not reader.has_labels
    assert not next(iter(reader)).point_label.any()


def test_flow_png_marks_undefined_and_out_of_range_flow_invalid(tmp_path, tiny_frames):
    frame = tiny_frames(num_frames=1)[0]
    flow = frame.cameras["front"].flow
    flow[0, 0] = np.nan
    flow[1, 1] = [600.0, 0.0]
    seq = write([frame], tmp_path)
    png = cv2.imread(str(seq / "flow_2" / "000000.png"), cv2.IMREAD_UNCHANGED)[..., ::-1]
    assert png.dtype == np.uint16 and png[0, 0, 2] == 0 and png[1, 1, 2] == 0 and png[2, 2, 2] == 1
    assert png[2, 2, 0] == round(flow[2, 2, 0] * 64) + 2**15
    back = next(iter(SemanticKittiReader(seq))).cameras["front"].flow
    assert np.isnan(back[0, 0]).all() and np.isnan(back[1, 1]).all() and np.isfinite(back[2, 2]).all()


def test_kitti_projection_splits_into_intrinsics_and_baseline():
    P2 = np.array([[721.5377, 0, 609.5593, 44.85728], [0, 721.5377, 172.854, 0.2163791], [0, 0, 1, 0.002745884]])
    K, T = split_projection(P2)
    np.testing.assert_allclose(K, P2[:, :3], atol=1e-9)
    np.testing.assert_allclose(T[:3, :3], np.eye(3), atol=1e-12)
    np.testing.assert_allclose(K @ T[:3, 3], P2[:, 3], atol=1e-9)


def test_reader_names_missing_calibration(tmp_path, tiny_frames):
    seq = write(tiny_frames(num_frames=1), tmp_path)
    (seq / "calib.txt").unlink()
    with pytest.raises(ReaderError, match=r"calib\.txt: calibration file not found"):
        SemanticKittiReader(seq)


def test_reader_names_truncated_scan(tmp_path, tiny_frames):
    seq = write(tiny_frames(num_frames=1), tmp_path)
    scan = seq / "velodyne" / "000000.bin"
    scan.write_bytes(scan.read_bytes()[:-6])
    with pytest.raises(ReaderError, match=r"000000\.bin: size \d+ bytes is not a multiple of 16"):
        next(iter(SemanticKittiReader(seq)))


def test_reader_names_label_count_mismatch(tmp_path, tiny_frames):
    seq = write(tiny_frames(num_frames=1), tmp_path)
    labels = seq / "labels" / "000000.label"
    labels.write_bytes(labels.read_bytes()[:-8])
    with pytest.raises(ReaderError, match=r"000000\.label: 198 labels for 200 points"):
        next(iter(SemanticKittiReader(seq)))
