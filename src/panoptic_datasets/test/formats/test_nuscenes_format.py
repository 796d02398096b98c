from __future__ import annotations

import json

import numpy as np
import pytest

from panoptic_datasets.formats.errors import ReaderError
from panoptic_datasets.formats.nuscenes import NuScenesReader, NuScenesWriter, class_of_category


def write_scene(frames, root, T_base_lidar=None):
    with NuScenesWriter(root, T_base_lidar=T_base_lidar) as writer:
        for frame in frames:
            writer.write(frame)
    return root / "v1.0-mini"


def test_nuscenes_round_trip_recovers_points_labels_poses_and_objects(tmp_path, tiny_frames):
    frames = tiny_frames()
    v, u = np.mgrid[0:16, 0:32]
    for frame in frames:  # smooth images: JPEG keeps them to within a few grey levels
        for image in frame.sensor.cameras.values():
            image.rgb[:] = np.stack([8 * u, 16 * v, 4 * (u + v)], axis=-1).astype(np.uint8)
    T_base_lidar = np.eye(4)
    T_base_lidar[:3, 3] = [0.9, 0.0, 1.8]
    write_scene(frames, tmp_path, T_base_lidar)
    reader = NuScenesReader(tmp_path)
    assert len(reader) == 3 and list(reader.cameras) == ["front", "left"]
    np.testing.assert_allclose(reader.T_base_lidar, T_base_lidar, atol=1e-12)
    for original, back in zip(frames, reader, strict=True):
        assert back.sensor.stamp_ns == original.sensor.stamp_ns
        np.testing.assert_array_equal(back.sensor.points[:, :3], original.sensor.points[:, :3])
        np.testing.assert_allclose(back.sensor.points[:, 3], original.sensor.points[:, 3], atol=1e-6)
        np.testing.assert_array_equal(back.point_label & 0xFFFF, original.point_label & 0xFFFF)
        # Instance ids are renumbered 1..K; the partition of points into instances is kept.
        pairs = set(zip((original.point_label >> 16).tolist(), (back.point_label >> 16).tolist(), strict=True))
        assert len({a for a, _ in pairs}) == len(pairs) == len({b for _, b in pairs})
        np.testing.assert_allclose(back.T_world_lidar, original.T_world_lidar, atol=1e-9)
        for name, image in original.sensor.cameras.items():
            got = back.sensor.cameras[name]
            assert got.stamp_ns == image.stamp_ns
            np.testing.assert_allclose(got.camera.K, image.camera.K, atol=1e-12)
            np.testing.assert_allclose(got.camera.T_cam_lidar, image.camera.T_cam_lidar, atol=1e-9)
            assert np.abs(got.rgb.astype(int) - image.rgb).mean() < 3
        objects = sorted(back.objects, key=lambda o: o.instance_id)
        assert [(o.instance_id, o.class_id, o.moving) for o in objects] == [(1, 1, True), (2, 6, False)]
        np.testing.assert_allclose(objects[0].center, original.objects[0].center)
        np.testing.assert_allclose(objects[0].size, original.objects[0].size)
        assert objects[1].yaw == pytest.approx(original.objects[1].yaw)
        np.testing.assert_allclose(objects[0].velocity, [10.0, 0.0, 0.0], atol=1e-6)  # centre moves 1 m per 0.1 s


def test_real_nuscenes_category_names_map_onto_our_classes():
    assert class_of_category("human.pedestrian.police_officer") == 6
    assert class_of_category("vehicle.bus.bendy") == 5
    assert class_of_category("vehicle.emergency.police") == 1
    assert class_of_category("movable_object.trafficcone") == 0
    assert class_of_category("static.manmade.pole") == 18  # our writer's extension category


def test_reader_names_malformed_json_table(tmp_path, tiny_frames):
    tables = write_scene(tiny_frames(num_frames=1), tmp_path)
    (tables / "sample.json").write_text('[{"token": "abc", ')
    with pytest.raises(ReaderError, match=r"sample\.json: malformed JSON"):
        NuScenesReader(tmp_path)


def test_reader_names_a_missing_token_reference(tmp_path, tiny_frames):
    tables = write_scene(tiny_frames(num_frames=1), tmp_path)
    rows = json.loads((tables / "calibrated_sensor.json").read_text())
    (tables / "calibrated_sensor.json").write_text(json.dumps(rows[1:]))
    with pytest.raises(
        ReaderError, match=r"sample_data\.json: record \w+ references calibrated_sensor token '\w+', which is not in"
    ):
        NuScenesReader(tmp_path)


def test_reader_names_lidarseg_count_mismatch_and_truncated_sweep(tmp_path, tiny_frames):
    write_scene(tiny_frames(num_frames=1), tmp_path)
    (seg,) = (tmp_path / "lidarseg" / "v1.0-mini").iterdir()
    seg.write_bytes(seg.read_bytes()[:-3])
    with pytest.raises(ReaderError, match=r"_lidarseg\.bin: 197 labels for 200 points"):
        next(iter(NuScenesReader(tmp_path)))
    (sweep,) = (tmp_path / "samples" / "LIDAR_TOP").iterdir()
    sweep.write_bytes(sweep.read_bytes()[:-4])
    with pytest.raises(ReaderError, match=r"\.pcd\.bin: size 3996 bytes is not a multiple of 20"):
        next(iter(NuScenesReader(tmp_path)))
