from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from mcap.reader import make_reader
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from panoptic_datasets.formats.bag import BagReader, BagWriter
from panoptic_datasets.formats.errors import ReaderError, WriterError


def write_bag(frames, path, **kwargs):
    T_base_lidar = np.eye(4)
    T_base_lidar[:3, 3] = [1.2, 0.0, 1.7]
    with BagWriter(path, T_base_lidar=T_base_lidar, **kwargs) as writer:
        for frame in frames:
            writer.write(frame)
    return T_base_lidar


def test_bag_round_trip_recovers_the_labeled_frames(tmp_path, tiny_frames):
    frames = tiny_frames()
    T_base_lidar = write_bag(frames, tmp_path / "bag", sequence=4)
    reader = BagReader(tmp_path / "bag")
    assert len(reader) == 3 and reader.lidar_frame == "lidar"
    np.testing.assert_allclose(reader.T_base_lidar, T_base_lidar, atol=1e-12)
    read = list(reader)
    assert len(read) == 3
    for original, back in zip(frames, read, strict=True):
        assert back.sensor.stamp_ns == original.sensor.stamp_ns
        assert (back.sensor.sequence, back.sensor.index) == (4, original.sensor.index)
        np.testing.assert_array_equal(back.sensor.points, original.sensor.points)
        np.testing.assert_array_equal(back.sensor.point_time, original.sensor.point_time)
        np.testing.assert_array_equal(back.point_label, original.point_label)
        np.testing.assert_allclose(back.T_world_lidar, original.T_world_lidar, atol=1e-9)
        for name, image in original.sensor.cameras.items():
            got = back.sensor.cameras[name]
            assert got.stamp_ns == image.stamp_ns
            np.testing.assert_array_equal(got.rgb, image.rgb)
            np.testing.assert_allclose(got.camera.K, image.camera.K)
            np.testing.assert_allclose(got.camera.T_cam_lidar, image.camera.T_cam_lidar, atol=1e-9)
            np.testing.assert_array_equal(got.camera.D, image.camera.D)
            truth, got_truth = original.cameras[name], back.cameras[name]
            np.testing.assert_array_equal(got_truth.semantic, truth.semantic)
            np.testing.assert_array_equal(got_truth.instance, truth.instance)
            np.testing.assert_allclose(got_truth.depth, truth.depth, atol=0.5 / 256 + 1e-6)  # stored in 1/256 m steps
            np.testing.assert_allclose(got_truth.flow, truth.flow, atol=0.5 / 64 + 1e-6)  # stored in 1/64 px steps
        assert [(o.instance_id, o.class_id, o.moving) for o in back.objects] == [(7, 1, True), (12, 6, False)]
        np.testing.assert_allclose(back.objects[0].center, original.objects[0].center)
        np.testing.assert_allclose(back.objects[1].yaw, original.objects[1].yaw)


def test_unquantized_bag_keeps_float_ground_truth_bit_exact(tmp_path, tiny_frames):
    frame = tiny_frames(num_frames=1)[0]
    write_bag([frame], tmp_path / "bag", quantize=False)
    back = next(iter(BagReader(tmp_path / "bag")))
    np.testing.assert_array_equal(back.cameras["left"].depth, frame.cameras["left"].depth)
    np.testing.assert_array_equal(back.cameras["left"].flow, frame.cameras["left"].flow)


def test_plain_rosbags_reader_deserializes_the_point_cloud(tmp_path, tiny_frames):
    frames = tiny_frames(num_frames=2)
    write_bag(frames, tmp_path / "bag")
    store = get_typestore(Stores.ROS2_JAZZY)
    with Reader(tmp_path / "bag") as reader:
        assert reader.message_count == sum(info.msgcount for info in reader.topics.values())
        points = [c for c in reader.connections if c.topic == "/lidar/points"]
        msgs = [store.deserialize_cdr(raw, c.msgtype) for c, _, raw in reader.messages(connections=points)]
    assert [f.name for f in msgs[1].fields] == ["x", "y", "z", "intensity", "t"]
    assert msgs[1].header.frame_id == "lidar" and msgs[1].width == len(frames[1].sensor.points)
    cloud = np.frombuffer(msgs[1].data.tobytes(), dtype="<f4").reshape(-1, 5)
    np.testing.assert_array_equal(cloud[:, :4], frames[1].sensor.points)
    assert msgs[1].header.stamp.sec * 10**9 + msgs[1].header.stamp.nanosec == frames[1].sensor.stamp_ns


def test_mcap_library_reads_topics_and_schemas(tmp_path, tiny_frames):
    write_bag(tiny_frames(num_frames=3), tmp_path / "bag")
    with open(tmp_path / "bag" / "bag.mcap", "rb") as stream:
        reader = make_reader(stream)
        summary = reader.get_summary()
        schema_of = {c.topic: summary.schemas[c.schema_id].name for c in summary.channels.values()}
        counts = Counter(channel.topic for _, channel, _ in reader.iter_messages())
    assert schema_of["/lidar/points"] == "sensor_msgs/msg/PointCloud2"
    assert schema_of["/cameras/front/image"] == "sensor_msgs/msg/Image"
    assert schema_of["/cameras/left/camera_info"] == "sensor_msgs/msg/CameraInfo"
    assert schema_of["/tf"] == schema_of["/tf_static"] == "tf2_msgs/msg/TFMessage"
    assert schema_of["/ground_truth/objects"] == "panoptic_msgs/msg/TrackArray"
    assert schema_of["/ground_truth/lidar/labels"] == "sensor_msgs/msg/PointCloud2"
    assert counts["/lidar/points"] == counts["/tf"] == counts["/ground_truth/cameras/left/flow"] == 3
    assert counts["/tf_static"] == 1
    assert len(counts) == 3 + 2 * 2 + 2 + 4 * 2  # points, tf, tf_static; image+info; labels, objects; 4 GT rasters


def test_bag_output_is_byte_identical_for_identical_frames(tmp_path, tiny_frames):
    import hashlib

    for name in ("a", "b"):
        write_bag(tiny_frames(num_frames=2), tmp_path / name / "bag")
    digest = {
        name: {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in (tmp_path / name / "bag").iterdir()}
        for name in ("a", "b")
    }
    assert digest["a"].keys() == {"metadata.yaml", "bag.mcap"}
    assert digest["a"] == digest["b"]


def test_writer_refuses_an_existing_bag(tmp_path, tiny_frames):
    (tmp_path / "bag").mkdir()
    with pytest.raises(WriterError, match="exists already"):
        BagWriter(tmp_path / "bag")


def test_reader_names_a_missing_metadata_file(tmp_path):
    (tmp_path / "bag").mkdir()
    with pytest.raises(ReaderError, match=r"metadata\.yaml: file not found"):
        BagReader(tmp_path / "bag")
