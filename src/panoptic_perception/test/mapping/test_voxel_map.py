import numpy as np
import pytest

from panoptic_perception.mapping import MapConfig, MappingInputError, PanopticMap, VoxelMap
from panoptic_perception.mapping import keys as K
from panoptic_perception.tracking.tracker import TrackOutput
from panoptic_perception.tracking.types import TrackState


def test_voxel_keys_round_trip_negative_and_positive_cells():
    coords = np.array([[-5, 0, 3], [1_000_000, -1_000_000, -1], [0, 0, 0]])
    np.testing.assert_array_equal(K.unpack(K.pack(coords)), coords)
    assert np.all(np.diff(K.pack(np.array([[0, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0]]))) > 0)


def test_integration_votes_the_class_per_voxel_and_counts_hits(tmp_path):
    vm = VoxelMap(MapConfig(carve=False, spill_dir=str(tmp_path)))
    p = np.array([[0.05, 0.05, 0.05], [0.15, 0.1, 0.1], [1.05, 0.0, 0.0]])
    vm.integrate(p, np.array([9, 9, 11]), np.zeros(3, np.uint32), np.zeros(3))
    vm.integrate(p[:1], np.array([11]), np.zeros(1, np.uint32), np.zeros(3))
    assert len(vm) == 2
    row = vm.lookup(K.voxel_keys(p[:1], 0.2))[0]
    assert vm.cols["counts"][row, 9] == 2 and vm.cols["counts"][row, 11] == 1
    assert np.argmax(vm.cols["counts"][row]) == 9
    assert vm.cols["logodds"][row] == pytest.approx(min(2 * 0.85, 3.5))
    assert np.all(np.diff(vm.cols["keys"]) > 0)


def test_integration_rejects_a_class_outside_the_table(tmp_path):
    vm = VoxelMap(MapConfig(spill_dir=str(tmp_path)))
    with pytest.raises(MappingInputError, match="class_id 25"):
        vm.integrate(np.zeros((1, 3)), np.array([25]), np.zeros(1, np.uint32), np.zeros(3))


def test_moving_things_stay_out_of_the_static_layer_and_live_in_the_dynamic_layer(scene, tmp_path):
    m = PanopticMap(MapConfig(spill_dir=str(tmp_path)))
    T = scene.pose(0, 0)
    car = scene.box_surface(np.array([6.0, 0.0, 0.0]), np.array([4.0, 1.8, 1.5]), 0.0, 0.1, T[:3, 3])
    road = scene.ground(-5, 15, -5, 5, 0.2)
    pts = np.concatenate([road, car])
    cls = np.r_[np.full(len(road), scene.ROAD), np.full(len(car), scene.CAR)]
    inst = np.r_[np.zeros(len(road)), np.full(len(car), 3)]
    track = np.r_[np.zeros(len(road)), np.full(len(car), 42)]
    out = TrackOutput(42, 1, TrackState.CONFIRMED, 0.9, 5, 5, np.zeros(3), np.zeros(3), np.ones(3), 0.0, np.zeros(3),
                      np.zeros(3), 3.0, True, len(car), 0)
    upd = m.integrate(scene.make_cloud(pts, cls, inst, T, track, stamp_ns=5), T, [out])
    assert upd.num_dynamic_points == len(car) and upd.num_static_points == len(road)
    snap = m.snapshot()
    assert not np.any(snap.class_id == scene.CAR)
    assert len(m.instances()) == 0
    obj = m.dynamic.objects[42]
    assert obj.class_id == scene.CAR
    np.testing.assert_allclose(obj.box_center[:2], [6.0, 0.0], atol=0.3)
    # The same car reported parked ({track: moving}) goes to the static layer instead
    m.integrate(scene.make_cloud(pts, cls, inst, T, track, stamp_ns=2 * 10**9), T, {42: False})
    assert np.any(m.snapshot().class_id == scene.CAR) and len(m.instances()) == 1
    assert 42 not in m.dynamic.objects  # not observed moving for longer than dynamic_ttl_s


def test_a_voxel_seen_through_by_later_sweeps_is_carved_away(tmp_path):
    cfg = MapConfig(spill_dir=str(tmp_path))
    vm = VoxelMap(cfg)
    origin = np.zeros(3)
    ghost = np.array([[5.0, 0.0, 0.0]])
    vm.integrate(ghost, np.array([1]), np.zeros(1, np.uint32), origin)
    # A wall at 20 m behind the ghost, on the same rays
    ang = np.radians(np.linspace(-3, 3, 61))
    A, E = np.meshgrid(ang, ang)
    wall = 20.0 * np.stack([np.cos(E) * np.cos(A), np.cos(E) * np.sin(A), np.sin(E)], -1).reshape(-1, 3)
    vm.integrate(wall, np.full(len(wall), 15), np.zeros(len(wall), np.uint32), origin)
    ghost_key = K.voxel_keys(ghost, cfg.voxel_size)
    assert vm.cols["logodds"][vm.lookup(ghost_key)[0]] == pytest.approx(0.85 - 0.4)
    for _ in range(7):  # 0.85 - 8 * 0.4 reaches the -2.0 clamp: pruned
        vm.integrate(wall, np.full(len(wall), 15), np.zeros(len(wall), np.uint32), origin)
    assert vm.lookup(ghost_key)[0] == -1
    assert np.all(vm.cols["logodds"] > 0)  # the wall itself stays


def _drive(m: PanopticMap, scene, xs) -> None:
    for k, x in enumerate(xs):
        T = scene.pose(x, 0.0)
        road = scene.ground(x - 8, x + 8, -4, 4, 0.25)
        cls = np.where(np.abs(road[:, 1]) > 3, scene.SIDEWALK, scene.ROAD)
        m.integrate(scene.make_cloud(road, cls, np.zeros(len(road)), T, stamp_ns=k), T)


def _carved_reference(keys, points, origin, cfg):
    """Rows of ``keys`` a sweep sees through, straight from the definition: per 0.5 x 0.25 deg pixel the
    nearest return; a voxel centre in a pixel with a return, clearly nearer than it, is seen through."""
    def pixel(v):
        r = np.linalg.norm(v, axis=1)
        az = np.floor((np.arctan2(v[:, 1], v[:, 0]) + np.pi) / np.radians(0.5)).astype(np.int64)
        el = np.floor((np.arcsin(np.clip(v[:, 2] / r, -1, 1)) + np.pi / 2) / np.radians(0.25)).astype(np.int64)
        return list(zip(az.tolist(), el.tolist(), strict=True)), r

    pixels, r = pixel(points - origin)
    nearest: dict = {}
    for px, rr in zip(pixels, r.tolist(), strict=True):
        nearest[px] = min(rr, nearest.get(px, np.inf))
    centres = K.centres(keys, cfg.voxel_size)
    vpix, rv = pixel(centres - origin)
    return {i for i, (px, rr) in enumerate(zip(vpix, rv.tolist(), strict=True))
            if 1e-3 < rr < r.max() and px in nearest and rr < nearest[px] * (1 - cfg.carve_margin) - 2 * cfg.voxel_size}


def test_carving_misses_exactly_the_voxels_the_definition_says_were_seen_through(tmp_path):
    rng = np.random.default_rng(3)
    cfg = MapConfig(spill_dir=str(tmp_path))
    vm = VoxelMap(cfg)
    cells = rng.uniform([-30, -30, -2], [30, 30, 4], (3000, 3))
    vm.integrate(cells, rng.integers(0, 20, 3000), np.zeros(3000, np.uint32), np.zeros(3))
    before = vm.cols["logodds"].copy()
    origin = np.array([1.0, -2.0, 1.5])
    # A sweep of walls around the sensor: most cells in front of them were seen through
    directions = rng.normal(size=(20000, 3)) * [1, 1, 0.2]
    sweep = origin + directions / np.linalg.norm(directions, axis=1, keepdims=True) * rng.uniform(20, 45, (20000, 1))
    expected = _carved_reference(vm.cols["keys"], sweep, origin, cfg)
    assert 100 < len(expected) < 2900  # the test sees both outcomes
    vm._carve(sweep, origin)
    missed = np.flatnonzero(vm.cols["logodds"] < before)
    assert set(missed.tolist()) == expected
    np.testing.assert_allclose(vm.cols["logodds"][missed], before[missed] + cfg.logodds_miss, rtol=1e-6)
    assert np.isinf(vm._range_image).all()  # the scratch range image is clean for the next sweep


def test_centre_columns_are_the_centres():
    keys = K.pack(np.array([[-5, 0, 3], [1000, -1000, -1], [0, 0, 0]]))
    np.testing.assert_array_equal(np.column_stack(K.centre_columns(keys, 0.2)), K.centres(keys, 0.2))


def test_far_blocks_are_evicted_to_disk_and_reloaded_to_the_same_map(scene, tmp_path):
    xs = list(np.arange(0.0, 60.0, 2.0)) + list(np.arange(60.0, -1.0, -2.0))
    small = PanopticMap(MapConfig(block_size=4.0, window_radius=12.0, spill_dir=str(tmp_path / "spill"), carve=False))
    ref = PanopticMap(MapConfig(spill_dir=str(tmp_path / "ref"), carve=False))
    peak = 0
    for x in xs:
        _drive(small, scene, [x])
        _drive(ref, scene, [x])
        peak = max(peak, len(small.voxels))
    assert peak < 0.6 * len(ref.voxels)  # the window bounds memory
    files = list((tmp_path / "spill").glob("block_*.npz"))
    assert len(files) == len(small.voxels.spilled) > 0
    a, b = small.voxels.all_columns(), ref.voxels.all_columns()
    for c in ("keys", "counts", "logodds", "instance"):
        np.testing.assert_array_equal(a[c], b[c])
    # The whole map's snapshot (published every second) reads the spilled blocks' occupied voxels from memory
    for block in small.voxels.spilled:
        small.voxels.block_path(block).rename(small.voxels.block_path(block).with_suffix(".moved"))
    snap, want = small.snapshot(), ref.snapshot()
    for field in ("keys", "centres", "class_id", "instance_id", "logodds"):
        np.testing.assert_array_equal(getattr(snap, field), getattr(want, field))
    for block in small.voxels.spilled:
        small.voxels.block_path(block).with_suffix(".moved").rename(small.voxels.block_path(block))
    # Driving back to the start reloaded the blocks there (nothing near the origin is spilled)
    x_in_memory = K.centres(small.voxels.cols["keys"], 0.2)[:, 0]
    assert x_in_memory.min() < -7.0 and x_in_memory.max() < 40.0
