"""The ground truth is right: point labels, persistent ids, camera-LiDAR agreement, optical flow."""

from __future__ import annotations

import numpy as np

from panoptic_datasets.world import make_rig
from panoptic_perception.core import load_class_table, unpack_label


def _in_box(points_world: np.ndarray, obj, margin: float) -> np.ndarray:
    c, s = np.cos(obj.yaw), np.sin(obj.yaw)
    d = points_world - obj.center
    local = np.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1], d[:, 2]], axis=1)
    return np.all(np.abs(local) <= obj.size / 2 + margin, axis=1)


def test_every_thing_point_lies_on_the_object_whose_id_it_carries(busy_frames, busy_drive):
    checked = 0
    for frame in busy_frames:
        semantic, instance = unpack_label(frame.point_label)
        stamp_time = frame.sensor.index * busy_drive.period
        T = busy_drive.T_world_lidar(stamp_time + frame.sensor.point_time.astype(np.float64))
        world = np.einsum("nij,nj->ni", T[:, :3, :3], frame.sensor.xyz.astype(np.float64)) + T[:, :3, 3]
        objects = {o.instance_id: o for o in frame.objects}
        for inst in np.unique(instance[instance > 0]):
            mine = instance == inst
            obj = objects[int(inst)]
            assert np.all(semantic[mine] == obj.class_id)
            # Range noise is 1.5 cm (1 sigma): 8 cm is beyond 5 sigma.
            assert _in_box(world[mine], obj, 0.08).mean() > 0.995
            checked += int(mine.sum())
    assert checked > 200


def test_stuff_points_carry_instance_zero_and_things_a_positive_id(busy_frames):
    table = load_class_table()
    is_thing = table.is_thing_lut()
    for frame in busy_frames:
        semantic, instance = unpack_label(frame.point_label)
        assert np.all((instance > 0) == is_thing[semantic])
        assert np.all(semantic > 0)  # every LiDAR return hits a labelled surface (the sky returns nothing)


def test_instance_ids_persist_across_frames_and_are_unique(busy_frames):
    history: dict[int, list] = {}
    for frame in busy_frames:
        ids = [o.instance_id for o in frame.objects]
        assert len(ids) == len(set(ids))
        for o in frame.objects:
            history.setdefault(o.instance_id, []).append(o)
    assert len(history) > 50
    period = 0.1
    moving_checked = 0
    for track in history.values():
        assert len({o.class_id for o in track}) == 1
        for a, b in zip(track[:-1], track[1:], strict=True):
            predicted = a.center + a.velocity * period
            assert np.linalg.norm(b.center - predicted) < 0.35
            moving_checked += a.moving
    assert moving_checked > 20


def test_labelled_points_land_on_the_same_instance_in_the_camera(busy_frames):
    cam = make_rig("tiny").cameras["front"]
    agree = total = 0
    for frame in busy_frames:
        truth = frame.cameras["front"]
        semantic, instance = unpack_label(frame.point_label)
        uv, depth, inside = cam.project(frame.sensor.xyz)
        things = inside & (instance > 0)
        u, v = uv[things, 0].astype(int), uv[things, 1].astype(int)
        cam_depth = truth.depth[v, u]
        same_surface = np.abs(cam_depth - depth[things]) < 0.05 * depth[things]
        agree += int(np.sum(truth.instance[v, u][same_surface] == instance[things][same_surface]))
        total += int(same_surface.sum())
    assert total > 30
    assert agree / total > 0.95


def test_flow_of_static_pixels_matches_reprojection_with_depth_and_ego_motion(busy_frames, busy_drive):
    cam = make_rig("tiny").cameras["front"]
    errors, dynamic_gap = [], []
    for frame in busy_frames:
        truth = frame.cameras["front"]
        t_cam = (frame.sensor.cameras["front"].stamp_ns - busy_frames[0].sensor.stamp_ns) * 1e-9
        H, W = truth.depth.shape
        v, u = np.mgrid[0:H, 0:W]
        z = truth.depth.astype(np.float64)
        x = np.stack([(u + 0.5 - cam.K[0, 2]) / cam.K[0, 0] * z, (v + 0.5 - cam.K[1, 2]) / cam.K[1, 1] * z, z], -1)
        T_now = busy_drive.T_world_lidar(t_cam) @ np.linalg.inv(cam.T_cam_lidar)
        T_next = busy_drive.T_world_lidar(t_cam + busy_drive.period) @ np.linalg.inv(cam.T_cam_lidar)
        T = np.linalg.inv(T_next) @ T_now
        xn = x @ T[:3, :3].T + T[:3, 3]
        uv = xn[..., :2] / xn[..., 2:3] * np.diag(cam.K)[:2] + cam.K[:2, 2]
        expected = uv - np.stack([u + 0.5, v + 0.5], -1)
        err = np.linalg.norm(truth.flow - expected, axis=-1)
        static = (truth.semantic > 0) & (truth.instance == 0) & np.isfinite(err)
        errors.append(err[static])
        moving_ids = [o.instance_id for o in frame.objects if o.moving and np.linalg.norm(o.velocity) > 3.0]
        dyn = np.isin(truth.instance, moving_ids) & np.isfinite(err)
        dynamic_gap.append(err[dyn])
        assert np.all(np.isnan(truth.flow[truth.semantic == 0]))  # sky has no flow
    assert np.median(np.concatenate(errors)) < 0.1
    # Pixels on fast movers do not move like the static world.
    gap = np.concatenate(dynamic_gap)
    assert len(gap) > 10 and np.median(gap) > 0.5
