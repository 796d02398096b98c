import json

import numpy as np
import pytest

from panoptic_perception.mapping import MapConfig, MapPathError, PanopticMap

PLY_TYPES = {"float": "<f4", "ushort": "<u2", "uint": "<u4", "uchar": "u1"}
PCD_TYPES = {("F", "4"): "<f4", ("U", "2"): "<u2", ("U", "4"): "<u4", ("U", "1"): "u1"}
FIELDS = ["x", "y", "z", "class_id", "instance_id", "label", "r", "g", "b"]


def parse_ply(data: bytes) -> np.ndarray:
    head, body = data.split(b"end_header\n", 1)
    lines = head.decode("ascii").splitlines()
    assert lines[:2] == ["ply", "format binary_little_endian 1.0"]
    n = int(next(ln for ln in lines if ln.startswith("element vertex")).split()[-1])
    props = [ln.split()[1:] for ln in lines if ln.startswith("property")]
    dtype = np.dtype([(name, PLY_TYPES[t]) for t, name in props])
    assert len(body) == n * dtype.itemsize
    return np.frombuffer(body, dtype)


def parse_pcd(data: bytes) -> np.ndarray:
    head, body = data.split(b"DATA binary\n", 1)
    meta = {ln.split()[0]: ln.split()[1:] for ln in head.decode("ascii").splitlines() if not ln.startswith("#")}
    assert meta["VERSION"] == ["0.7"] and meta["HEIGHT"] == ["1"] and meta["COUNT"] == ["1"] * len(meta["FIELDS"])
    dtype = np.dtype([(f, PCD_TYPES[(t, s)]) for f, t, s in zip(meta["FIELDS"], meta["TYPE"], meta["SIZE"], strict=True)])
    n = int(meta["POINTS"][0])
    assert int(meta["WIDTH"][0]) == n and len(body) == n * dtype.itemsize
    return np.frombuffer(body, dtype)


def build_map(car_view, root, spill) -> PanopticMap:
    m = PanopticMap(MapConfig(root_dir=str(root), spill_dir=str(spill)))
    car = (np.array([3.0, 0.0, 0.0]), 0.0)
    for k, vp in enumerate([(-4.0, -6.0), (0.0, -7.0), (5.0, -6.5)]):
        cloud, T = car_view(vp, [car], [10 + k], stamp_ns=k)
        m.integrate(cloud, T)
    return m


def test_saved_ply_pcd_and_json_parse_back_to_the_map(car_view, tmp_path):
    m = build_map(car_view, tmp_path, tmp_path / "spill")
    out = m.save("maps/run1")
    assert out == (tmp_path / "maps/run1").resolve()
    snap = m.snapshot()
    ply, pcd = parse_ply((out / "map.ply").read_bytes()), parse_pcd((out / "map.pcd").read_bytes())
    for cloud in (ply, pcd):
        assert list(cloud.dtype.names) == FIELDS and len(cloud) == len(snap.keys)
        np.testing.assert_allclose(np.stack([cloud["x"], cloud["y"], cloud["z"]], 1), snap.centres, atol=1e-5)
        np.testing.assert_array_equal(cloud["class_id"], snap.class_id)
        np.testing.assert_array_equal(cloud["instance_id"], snap.instance_id)
        np.testing.assert_array_equal(cloud["label"], snap.class_id.astype(np.uint32) | (snap.instance_id << 16))
    road = ply["class_id"] == 9
    np.testing.assert_array_equal(np.stack([ply["r"][road], ply["g"][road], ply["b"][road]], 1)[0],
                                  m.class_table.colors()[9])
    doc = json.loads((out / "instances.json").read_text())
    assert doc["frame_id"] == "odom"
    (inst,) = doc["instances"]
    assert inst["class_name"] == "car" and inst["num_observations"] == 3
    assert inst["num_voxels"] >= int(np.sum(snap.instance_id == inst["instance_id"])) > 50  # keys: every voxel it touched
    assert set(inst) >= {"instance_id", "class_id", "confidence", "centroid", "box_center", "box_size", "box_yaw",
                         "first_seen_ns", "last_seen_ns"}


def test_a_loaded_map_resumes_mapping_with_the_same_identities(car_view, tmp_path):
    m = build_map(car_view, tmp_path, tmp_path / "spill")
    m.save("saved")
    loaded = PanopticMap.load("saved", root_dir=tmp_path, spill_dir=str(tmp_path / "spill2"))
    a, b = m.voxels.all_columns(), loaded.voxels.all_columns()
    for c in a:
        np.testing.assert_array_equal(a[c], b[c])
    assert loaded.instances() == m.instances()
    # Both continue identically: a new view of the parked car keeps its id, a new car gets the next id
    car, other = (np.array([3.0, 0.0, 0.0]), 0.0), (np.array([3.0, 5.0, 0.0]), 0.0)
    cloud, T = car_view((9.0, -4.0), [car, other], [77, 78], stamp_ns=9)
    ua, ub = m.integrate(cloud, T), loaded.integrate(cloud, T)
    assert ua.instance_of_segment == ub.instance_of_segment == {77: 1, 78: 2}
    assert loaded.instances() == m.instances()


def test_save_and_load_refuse_paths_outside_the_root(car_view, tmp_path):
    m = build_map(car_view, tmp_path / "root", tmp_path / "spill")
    with pytest.raises(MapPathError, match="outside the map root"):
        m.save("../escape")
    with pytest.raises(MapPathError, match="outside the map root"):
        PanopticMap.load("/etc", root_dir=tmp_path / "root")
    assert not (tmp_path / "escape").exists()
