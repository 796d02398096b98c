"""Simulation behaviour: determinism, configuration errors, motion distortion, faults, light, rigs."""

from __future__ import annotations

import numpy as np
import pytest

from panoptic_datasets.frame import LidarSpec, Rig
from panoptic_datasets.world import EPOCH_NS, PRESETS, SceneConfig, World, make_rig, simulate
from panoptic_datasets.world.lidar import deskew, scan
from panoptic_datasets.world.meshes import SoupBuilder
from panoptic_datasets.world.raycast import RayScene
from panoptic_perception.core import CameraModel

TINY = make_rig("tiny")


def _arrays(frames):
    out = []
    for f in frames:
        out += [f.sensor.points, f.sensor.point_time, f.point_label, f.T_world_lidar]
        for name, truth in f.cameras.items():
            out += [f.sensor.cameras[name].rgb, truth.semantic, truth.instance, truth.depth, truth.flow]
        out += [np.concatenate([o.center, o.size, o.velocity, [o.yaw, o.instance_id]]) for o in f.objects]
    return out


def test_same_seed_gives_byte_identical_frames_and_other_seeds_differ():
    a = _arrays(simulate(SceneConfig(seed=11), TINY, 2))
    b = _arrays(simulate(SceneConfig(seed=11), TINY, 2))
    c = _arrays(simulate(SceneConfig(seed=12), TINY, 2))
    assert len(a) == len(b)
    assert all(x.tobytes() == y.tobytes() for x, y in zip(a, b, strict=True))
    assert a[0].shape != c[0].shape or a[0].tobytes() != c[0].tobytes()
    assert a[4].tobytes() != c[4].tobytes()  # the camera image


def test_the_lidar_sweep_does_not_depend_on_the_cameras_of_the_rig():
    """What lets one LiDAR-only model serve the front and the surround rig: the same seed gives the same sweeps."""
    front = TINY.cameras["front"]
    back = CameraModel("back", front.width, front.height, front.K, front.T_cam_lidar @ np.diag([-1.0, -1.0, 1.0, 1.0]))
    two = Rig(TINY.lidar, {"front": front, "back": back}, TINY.T_base_lidar)
    for a, b in zip(simulate(SceneConfig(seed=5), TINY, 2), simulate(SceneConfig(seed=5), two, 2), strict=True):
        assert set(b.cameras) == {"front", "back"}
        assert a.sensor.points.tobytes() == b.sensor.points.tobytes()
        assert a.point_label.tobytes() == b.point_label.tobytes()


def test_frames_are_stamped_at_the_lidar_rate_from_the_epoch_and_start_at_the_world_origin():
    frames = list(simulate(SceneConfig(seed=1, ego_speed=10.0), TINY, 3))
    assert [f.sensor.stamp_ns for f in frames] == [EPOCH_NS, EPOCH_NS + 100_000_000, EPOCH_NS + 200_000_000]
    assert [f.sensor.index for f in frames] == [0, 1, 2]
    assert all(f.sensor.point_time.min() < 0.001 and 0.099 < f.sensor.point_time.max() < 0.1 for f in frames)
    assert all(np.all(np.diff(f.sensor.point_time) >= 0) for f in frames)  # points come in firing order
    np.testing.assert_allclose(frames[0].T_world_lidar, np.eye(4), atol=1e-12)
    travelled = np.linalg.norm(frames[2].T_world_lidar[:3, 3] - frames[0].T_world_lidar[:3, 3])
    assert travelled == pytest.approx(2.0, abs=0.02)  # 10 m/s for 0.2 s (plus a little lane sway)


@pytest.mark.parametrize(("overrides", "match"), [
    ({"dynamic_share": 1.5}, "dynamic_share"),
    ({"light": "noon"}, "light"),
    ({"ego_speed": -1.0}, "ego_speed"),
    ({"num_vehicles": 2.5}, "num_vehicles"),
    ({"lanes_per_direction": 0}, "lanes_per_direction"),
    ({"occlusion_heavy": "yes"}, "occlusion_heavy"),
])
def test_scene_config_rejects_out_of_range_values(overrides, match):
    with pytest.raises(ValueError, match=match):
        SceneConfig(**overrides)


def test_scene_config_from_dict_rejects_unknown_keys_and_accepts_known_ones():
    with pytest.raises(ValueError, match="unknown scene config keys: wheather"):
        SceneConfig.from_dict({"seed": 1, "wheather": "rain"})
    assert SceneConfig.from_dict({"seed": 4, "light": "night"}) == SceneConfig(seed=4, light="night")


def test_make_rig_lists_presets_on_an_unknown_name():
    with pytest.raises(ValueError, match="hdl64-front, hdl32-front"):
        make_rig("velodyne")


def test_simulate_rejects_unknown_faults_and_drives_past_the_road_end():
    with pytest.raises(ValueError, match="unknown fault 'rain'"):
        simulate(SceneConfig(), TINY, 1, faults={"rain": 0.1})
    with pytest.raises(ValueError, match="'frozen' must be in"):
        simulate(SceneConfig(), TINY, 1, faults={"frozen": 2.0})
    with pytest.raises(ValueError, match="past the end"):
        simulate(SceneConfig(road_length=100.0, ego_speed=20.0), TINY, 60)


def test_rig_presets_have_the_documented_sensors():
    hdl64, hdl32, surround = make_rig("hdl64-front"), make_rig("hdl32-front"), make_rig("hdl64-surround")
    assert (hdl64.lidar.beams, hdl64.lidar.columns, hdl64.lidar.fov_up_deg, hdl64.lidar.fov_down_deg) == (64, 2048, 2.0, -24.8)
    assert (hdl32.lidar.beams, hdl32.lidar.columns, hdl32.lidar.fov_up_deg, hdl32.lidar.fov_down_deg) == (32, 1024, 10.0, -30.0)
    cam = hdl64.cameras["front"]
    assert (cam.width, cam.height) == (1241, 376) and cam.K[0, 0] == pytest.approx(718.856)
    assert len(surround.cameras) == 6 and set(PRESETS) >= {"tiny", "hdl32-surround"}
    # Surround cameras look every 60 degrees around the LiDAR.
    axes = [np.linalg.inv(c.T_cam_lidar)[:3, 2] for c in surround.cameras.values()]
    yaws = sorted(np.degrees(np.arctan2(a[1], a[0])) % 360 for a in axes)
    np.testing.assert_allclose(yaws, [0, 60, 120, 180, 240, 300], atol=1e-9)


def test_point_time_spans_one_rotation_and_deskewing_straightens_a_wall_behind_the_ego():
    b = SoupBuilder()
    b.add("box", (0.2, 60.0, 10.0), (-12.0, 0.0, 5.0), 13, (0.5, 0.5, 0.5), 0.5)
    wall = b.build()
    rays = RayScene([(wall.vertices, wall.faces)])
    spec = LidarSpec("test", beams=8, columns=512, fov_up_deg=2.0, fov_down_deg=-10.0)

    def pose_at(dt: np.ndarray) -> np.ndarray:
        T = np.tile(np.eye(4), (len(dt), 1, 1))
        T[:, 0, 3], T[:, 2, 3] = 10.0 * dt, 1.7  # 10 m/s along +x
        return T

    sweep = scan(rays, spec, pose_at, wall.reflectivity, np.random.default_rng(0))
    assert sweep.point_time.min() < 0.001 and sweep.point_time.max() > 0.099
    raw_x = sweep.points[:, 0]
    fixed_x = deskew(sweep.points, sweep.point_time, pose_at, pose_at(np.zeros(1))[0])[:, 0]
    # The wall is first seen at t ~ 0 on one side and at t ~ 0.1 s on the other: 1 m apart raw.
    assert np.ptp(raw_x) > 0.6
    assert np.std(fixed_x) < 0.05 and np.std(raw_x) > 4 * np.std(fixed_x)
    np.testing.assert_allclose(np.median(fixed_x), -11.9, atol=0.03)  # the wall's face towards the LiDAR


def test_camera_faults_drop_freeze_and_misexpose_images():
    cfg = SceneConfig(seed=2)
    assert all(not f.sensor.cameras and not f.cameras for f in simulate(cfg, TINY, 2, faults={"camera_dropout": 1.0}))
    frozen = list(simulate(cfg, TINY, 3, faults={"frozen": 1.0}))
    assert frozen[2].sensor.cameras["front"].rgb.tobytes() == frozen[0].sensor.cameras["front"].rgb.tobytes()
    normal = next(simulate(cfg, TINY, 1)).sensor.cameras["front"].rgb.mean()
    over = next(simulate(cfg, TINY, 1, faults={"overexpose": 1.0})).sensor.cameras["front"].rgb.mean()
    under = next(simulate(cfg, TINY, 1, faults={"underexpose": 1.0})).sensor.cameras["front"].rgb.mean()
    assert over > normal + 40 and under < normal - 40


def test_calibration_error_rotates_only_the_reported_camera_extrinsics():
    good = next(simulate(SceneConfig(seed=2), TINY, 1))
    bad = next(simulate(SceneConfig(seed=2), TINY, 1, calibration_error_deg=2.0))
    R = bad.sensor.cameras["front"].camera.T_cam_lidar[:3, :3] @ TINY.cameras["front"].T_cam_lidar[:3, :3].T
    angle = np.degrees(np.arccos((np.trace(R) - 1) / 2))
    assert angle == pytest.approx(2.0, abs=1e-3)  # arccos near 1 is ill-conditioned
    assert bad.sensor.cameras["front"].rgb.tobytes() == good.sensor.cameras["front"].rgb.tobytes()


def test_night_is_darker_than_dusk_which_is_darker_than_day():
    means = [next(simulate(SceneConfig(seed=3, light=light), TINY, 1)).sensor.cameras["front"].rgb.mean()
             for light in ("day", "dusk", "night")]
    assert means[0] > means[1] > means[2] and means[2] < 0.35 * means[0]


def test_dynamic_share_sets_how_many_agents_move_and_a_static_world_has_no_velocity():
    static = next(simulate(SceneConfig(seed=6, dynamic_share=0.0), TINY, 1))
    assert static.objects and not any(o.moving for o in static.objects)
    assert all(np.all(o.velocity == 0) for o in static.objects)
    busy = World(SceneConfig(seed=6, dynamic_share=1.0, num_vehicles=30, num_pedestrians=20))
    moving = [a for a in busy.agents if a.speed > 0]
    assert len(moving) >= 30 + 20 * 0.9


def test_worlds_vary_with_the_seed_and_hold_every_class():
    a, b = World(SceneConfig(seed=0)), World(SceneConfig(seed=1))
    assert a.layout.soup.vertices.shape != b.layout.soup.vertices.shape or not np.array_equal(
        a.layout.soup.vertices, b.layout.soup.vertices)
    classes = set(np.unique(a.tri_semantic)) | set(np.unique(b.tri_semantic))
    assert classes == set(range(1, 20))
