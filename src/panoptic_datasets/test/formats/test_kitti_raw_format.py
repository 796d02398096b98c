from __future__ import annotations

import numpy as np
import pytest

from panoptic_datasets.formats.errors import ReaderError
from panoptic_datasets.formats.kitti_raw import KittiRawReader, KittiRawWriter, format_stamp, parse_stamp


def write_drive(frames, root, T_base_lidar=None):
    with KittiRawWriter(root, "2011_09_26", 5, T_base_lidar=T_base_lidar) as writer:
        for frame in frames:
            writer.write(frame)
    return root / "2011_09_26" / "2011_09_26_drive_0005_sync"


def test_kitti_raw_round_trip_recovers_points_images_calibration_and_relative_poses(tmp_path, tiny_frames):
    frames = tiny_frames()
    T_base_lidar = np.eye(4)
    T_base_lidar[:3, 3] = [0.8, -0.3, 0.9]
    drive = write_drive(frames, tmp_path, T_base_lidar)
    reader = KittiRawReader(tmp_path / "2011_09_26")
    assert len(reader) == 3 and reader.sequence == 5
    np.testing.assert_allclose(reader.T_base_lidar, T_base_lidar, atol=1e-12)
    first_imu = frames[0].T_world_lidar @ np.linalg.inv(T_base_lidar)
    for original, back in zip(frames, reader, strict=True):
        assert back.sensor.stamp_ns == original.sensor.stamp_ns
        np.testing.assert_array_equal(back.sensor.points, original.sensor.points)
        assert not back.point_label.any()
        np.testing.assert_allclose(back.T_world_lidar, np.linalg.inv(first_imu) @ original.T_world_lidar, atol=1e-6)
        for k, image in enumerate(original.sensor.cameras.values()):
            got = back.sensor.cameras[f"image_{k + 2:02d}"]
            assert got.stamp_ns == image.stamp_ns
            np.testing.assert_array_equal(got.rgb, image.rgb)
            np.testing.assert_allclose(got.camera.K, image.camera.K, atol=1e-9)
            np.testing.assert_allclose(got.camera.T_cam_lidar, image.camera.T_cam_lidar, atol=1e-9)
    oxts = np.loadtxt(drive / "oxts" / "data" / "0000000001.txt")
    assert oxts.shape == (30,)
    imu = [f.T_world_lidar @ np.linalg.inv(T_base_lidar) for f in frames]
    speed = np.linalg.norm(imu[2][:3, 3] - imu[0][:3, 3]) / 0.2  # central difference at frame 1
    assert np.hypot(oxts[6], oxts[7]) == pytest.approx(speed, rel=1e-6)  # vn, ve


def test_kitti_timestamps_keep_nanoseconds():
    ns = 1_317_046_945_964_389_445
    assert format_stamp(ns) == "2011-09-26 14:22:25.964389445"
    assert parse_stamp(format_stamp(ns), "t") == ns


def test_reader_names_missing_velodyne_calibration(tmp_path, tiny_frames):
    write_drive(tiny_frames(num_frames=1), tmp_path)
    (tmp_path / "2011_09_26" / "calib_velo_to_cam.txt").unlink()
    with pytest.raises(ReaderError, match=r"calib_velo_to_cam\.txt: calibration file not found"):
        KittiRawReader(tmp_path / "2011_09_26")


def test_reader_names_truncated_scan(tmp_path, tiny_frames):
    drive = write_drive(tiny_frames(num_frames=1), tmp_path)
    scan = drive / "velodyne_points" / "data" / "0000000000.bin"
    scan.write_bytes(scan.read_bytes()[:-4])
    with pytest.raises(ReaderError, match=r"0000000000\.bin: size 3196 bytes is not a multiple of 16"):
        next(iter(KittiRawReader(drive)))


def test_reader_names_timestamp_count_mismatch(tmp_path, tiny_frames):
    drive = write_drive(tiny_frames(num_frames=2), tmp_path)
    stamps = drive / "velodyne_points" / "timestamps.txt"
    stamps.write_text(stamps.read_text().splitlines()[0] + "\n")
    with pytest.raises(ReaderError, match=r"timestamps\.txt: 1 timestamps for 2 scans"):
        KittiRawReader(drive)
