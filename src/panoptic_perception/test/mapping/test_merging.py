import numpy as np

from panoptic_perception.mapping import MapConfig, PanopticMap

CAR = 1

VIEWPOINTS = [(-4.0, -6.0), (0.0, -7.0), (5.0, -6.5), (9.0, -4.0), (10.0, 2.0)]


def test_one_parked_car_seen_from_five_viewpoints_with_permuted_ids_is_one_map_instance(car_view, tmp_path):
    m = PanopticMap(MapConfig(spill_dir=str(tmp_path / "spill")))
    car = (np.array([3.0, 0.0, 0.0]), 0.1)
    ids = []
    for k, vp in enumerate(VIEWPOINTS):
        cloud, T = car_view(vp, [car], [int(np.random.default_rng(k).integers(1, 500))], stamp_ns=k * 10**8)
        ids.append(m.integrate(cloud, T).instance_of_segment)
    assert len({next(iter(d.values())) for d in ids}) == 1
    (inst,) = m.instances()
    assert inst["class_id"] == CAR and inst["class_name"] == "car"
    assert inst["num_observations"] == 5
    assert inst["first_seen_ns"] == 0 and inst["last_seen_ns"] == 4 * 10**8
    # Voxel boxes are padded by half a voxel on each side and quantised: true size + up to ~2 voxels
    assert 4.2 <= inst["box_size"][0] <= 4.8 and 1.8 <= inst["box_size"][1] <= 2.4
    assert abs(inst["box_yaw"] - 0.1) < 0.05
    np.testing.assert_allclose(inst["centroid"][:2], [3.0, 0.0], atol=0.6)
    assert 0.9 < inst["confidence"] <= 1.0
    snap = m.snapshot()
    assert set(np.unique(snap.instance_id[snap.class_id == CAR]).tolist()) == {inst["instance_id"]}


def test_two_adjacent_parked_cars_half_a_metre_apart_stay_two_instances(car_view, tmp_path):
    m = PanopticMap(MapConfig(spill_dir=str(tmp_path / "spill")))
    # Side by side: widths 1.8 m, centres 2.3 m apart in y leave a 0.5 m gap
    cars = [(np.array([3.0, -1.15, 0.0]), 0.0), (np.array([3.0, 1.15, 0.0]), 0.0)]
    rng = np.random.default_rng(3)
    for k, vp in enumerate(VIEWPOINTS):
        ids = rng.permutation(50)[:2] + 1
        if k % 2:
            cars_k, ids_k = cars[::-1], ids[::-1]  # the order (and hence id) of the cars changes too
        else:
            cars_k, ids_k = cars, ids
        cloud, T = car_view(vp, cars_k, ids_k.tolist(), stamp_ns=k)
        m.integrate(cloud, T)
    insts = m.instances()
    assert len(insts) == 2
    ys = sorted(i["centroid"][1] for i in insts)
    assert ys[0] < -0.5 and ys[1] > 0.5
    assert all(i["num_observations"] >= 4 for i in insts)


def test_two_views_that_do_not_overlap_are_merged_when_a_bridging_view_arrives(car_view, tmp_path):
    m = PanopticMap(MapConfig(spill_dir=str(tmp_path / "spill")))
    car = (np.array([3.0, 0.0, 0.0]), 0.0)
    # Front-only and back-only views from below the roof share no cells: two instances first
    for k, vp in enumerate([(12.0, 0.0, 1.0), (-6.0, 0.0, 1.0)]):
        cloud, T = car_view(vp, [car], [k + 1])
        m.integrate(cloud, T)
    assert len(m.instances()) == 2
    cloud, T = car_view((3.0, -8.0), [car], [9])  # the side view touches both ends
    cloud2, T2 = car_view((8.0, -6.0), [car], [9])
    m.integrate(cloud, T)
    m.integrate(cloud2, T2)
    (inst,) = m.instances()
    assert inst["num_observations"] == 4
    snap = m.snapshot()
    assert set(np.unique(snap.instance_id[snap.class_id == CAR]).tolist()) == {inst["instance_id"]}
