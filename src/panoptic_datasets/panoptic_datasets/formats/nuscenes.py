"""nuScenes layout: token-linked JSON tables, LIDAR_TOP sweeps, camera JPEGs, lidarseg and panoptic labels.

    samples/LIDAR_TOP/<scene>__LIDAR_TOP__<us>.pcd.bin   float32 x, y, z, intensity (0-255), ring
    samples/CAM_<NAME>/<scene>__CAM_<NAME>__<us>.jpg     our camera "front_left" <-> channel CAM_FRONT_LEFT
    v1.0-<split>/{log,scene,sample,sample_data,calibrated_sensor,ego_pose,sensor,sample_annotation,
                  instance,category,attribute,visibility,map,lidarseg,panoptic}.json
    lidarseg/v1.0-<split>/<sample_data token>_lidarseg.bin   uint8 category index per point
    panoptic/v1.0-<split>/<sample_data token>_panoptic.npz   uint16 category index * 1000 + instance

Conventions and what does not survive the format: timestamps are microseconds (stamps are
truncated to us); poses are ego (= base_link) in ``global``; cameras are rectified (distortion
is dropped) and share the sweep's ego pose; the ring is derived from each point's elevation;
annotation velocity is derived from neighbouring annotations (as the devkit does) and
``moving`` from the ``*.moving`` attributes; instance ids are renumbered 1..K in
instance-table order. Categories map onto our classes by name: our writer adds categories
for classes nuScenes lacks (e.g. ``static.manmade.pole``), real names map by longest
prefix through ``NUSCENES_TO_CLASS``.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from panoptic_perception.core import CameraImage, CameraModel, SensorFrame
from panoptic_perception.core.labels import INSTANCE_SHIFT, SEMANTIC_MASK

from ..frame import LabeledFrame, ObjectState
from . import _io
from .errors import ReaderError, WriterError

# Our class id -> (nuScenes category name, lidarseg index). Indices 0-31 are nuScenes' own.
CLASS_TO_NUSCENES: dict[int, tuple[str, int]] = {
    0: ("noise", 0),
    1: ("vehicle.car", 17),
    2: ("vehicle.bicycle", 14),
    3: ("vehicle.motorcycle", 21),
    4: ("vehicle.truck", 23),
    5: ("vehicle.bus.rigid", 16),
    6: ("human.pedestrian.adult", 2),
    7: ("human.pedestrian.bicyclist", 32),
    8: ("human.pedestrian.motorcyclist", 33),
    9: ("flat.driveable_surface", 24),
    10: ("flat.driveable_surface.parking", 34),
    11: ("flat.sidewalk", 26),
    12: ("flat.other", 25),
    13: ("static.manmade", 28),
    14: ("static.manmade.fence", 35),
    15: ("static.vegetation", 30),
    16: ("static.vegetation.trunk", 36),
    17: ("flat.terrain", 27),
    18: ("static.manmade.pole", 37),
    19: ("static.manmade.traffic_sign", 38),
}
# Real nuScenes category names (by prefix) -> our class id; anything unlisted is unlabeled (0).
NUSCENES_TO_CLASS: dict[str, int] = {
    "human.pedestrian": 6,
    "movable_object.barrier": 14,
    "vehicle.bicycle": 2,
    "vehicle.motorcycle": 3,
    "vehicle.car": 1,
    "vehicle.emergency.police": 1,
    "vehicle.truck": 4,
    "vehicle.bus": 5,
    "vehicle.construction": 5,
    "vehicle.trailer": 5,
    "vehicle.emergency.ambulance": 5,
    "flat.driveable_surface": 9,
    "flat.sidewalk": 11,
    "flat.other": 12,
    "flat.terrain": 17,
    "static.manmade": 13,
    "static.vegetation": 15,
}
_OUR_NAMES = {name: class_id for class_id, (name, _) in CLASS_TO_NUSCENES.items()}
PANOPTIC_DIVISOR = 1000
TABLES = (
    "log",
    "scene",
    "sample",
    "sample_data",
    "calibrated_sensor",
    "ego_pose",
    "sensor",
    "sample_annotation",
    "instance",
    "category",
    "attribute",
    "visibility",
    "map",
)
READ_TABLES = tuple(t for t in TABLES if t not in ("log", "visibility", "map"))  # what the reader needs
_VISIBILITY = [
    {"token": str(k), "level": lvl, "description": f"visibility of whole object is {lvl}"}
    for k, lvl in enumerate(("v0-40", "v40-60", "v60-80", "v80-100"), 1)
]
_ATTRIBUTES = ("vehicle.moving", "vehicle.parked", "pedestrian.moving", "pedestrian.standing")


def class_of_category(name: str) -> int:
    if name in _OUR_NAMES:
        return _OUR_NAMES[name]
    prefixes = [p for p in NUSCENES_TO_CLASS if name == p or name.startswith(p + ".")]
    return NUSCENES_TO_CLASS[max(prefixes, key=len)] if prefixes else 0


def _token(*parts: object) -> str:
    return hashlib.md5("/".join(str(p) for p in parts).encode()).hexdigest()


def _channel(camera: str) -> str:
    return "CAM_" + camera.upper()


def _pose(T: np.ndarray) -> dict[str, list[float]]:
    return {"translation": [float(v) for v in T[:3, 3]], "rotation": _io.quat_wxyz(T)}


class NuScenesWriter:
    """Write LabeledFrames as one nuScenes scene (all frames are key frames); a context manager."""

    def __init__(
        self,
        root: str | Path,
        version: str = "v1.0-mini",
        scene: str = "scene-0001",
        *,
        T_base_lidar: np.ndarray | None = None,
        beams: int = 32,
    ) -> None:
        self.root = Path(root)
        self.version = version
        self.scene = scene
        if (self.root / version).exists():
            raise WriterError(f"{self.root / version}: table folder exists already")
        self.T_base_lidar = np.eye(4) if T_base_lidar is None else np.asarray(T_base_lidar, dtype=np.float64)
        self.beams = beams
        self.tables: dict[str, list[dict[str, Any]]] = {name: [] for name in (*TABLES, "lidarseg", "panoptic")}
        self._annotations: dict[int, list[dict[str, Any]]] = defaultdict(list)  # our instance id -> annotations
        self._classes: dict[int, int] = {}
        self._last_data: dict[str, dict[str, Any]] = {}
        # Panoptic files wait for close(): instance numbers are known once every frame is in.
        self._pending_panoptic: list[tuple[str, np.ndarray, np.ndarray]] = []
        self._count = 0

    def __enter__(self) -> NuScenesWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _start(self, frame: LabeledFrame) -> None:
        t = self.tables
        t["log"].append(
            {
                "token": _token("log", self.scene),
                "logfile": self.scene,
                "vehicle": "synthetic",
                "date_captured": "2024-01-01",
                "location": "synthetic-city",
            }
        )
        t["map"].append(
            {
                "token": _token("map", self.scene),
                "log_tokens": [t["log"][0]["token"]],
                "category": "semantic_prior",
                "filename": "",
            }
        )
        t["sensor"].append({"token": _token("sensor", "LIDAR_TOP"), "channel": "LIDAR_TOP", "modality": "lidar"})
        t["calibrated_sensor"].append(
            {
                "token": _token("calib", self.scene, "LIDAR_TOP"),
                "sensor_token": _token("sensor", "LIDAR_TOP"),
                **_pose(self.T_base_lidar),
                "camera_intrinsic": [],
            }
        )
        for name, image in frame.sensor.cameras.items():
            channel = _channel(name)
            t["sensor"].append({"token": _token("sensor", channel), "channel": channel, "modality": "camera"})
            T_ego_cam = self.T_base_lidar @ _io.invert(image.camera.T_cam_lidar)
            t["calibrated_sensor"].append(
                {
                    "token": _token("calib", self.scene, channel),
                    "sensor_token": _token("sensor", channel),
                    **_pose(T_ego_cam),
                    "camera_intrinsic": image.camera.K.tolist(),
                }
            )
        t["category"] = [
            {"token": _token("category", name), "name": name, "description": f"class {class_id}", "index": index}
            for class_id, (name, index) in CLASS_TO_NUSCENES.items()
        ]
        t["attribute"] = [{"token": _token("attribute", a), "name": a, "description": a} for a in _ATTRIBUTES]
        t["visibility"] = list(_VISIBILITY)

    def _sample_data(
        self,
        channel: str,
        sample: str,
        stamp_us: int,
        filename: str,
        fileformat: str,
        T_global_ego: np.ndarray,
        size: tuple[int, int] = (0, 0),
    ) -> str:
        token = _token("sample_data", self.scene, channel, self._count)
        ego = _token("ego_pose", self.scene, channel, self._count)
        self.tables["ego_pose"].append({"token": ego, "timestamp": stamp_us, **_pose(T_global_ego)})
        record = {
            "token": token,
            "sample_token": sample,
            "ego_pose_token": ego,
            "calibrated_sensor_token": _token("calib", self.scene, channel),
            "timestamp": stamp_us,
            "fileformat": fileformat,
            "is_key_frame": True,
            "height": size[0],
            "width": size[1],
            "filename": filename,
            "prev": "",
            "next": "",
        }
        if channel in self._last_data:
            self._last_data[channel]["next"] = token
            record["prev"] = self._last_data[channel]["token"]
        self._last_data[channel] = record
        self.tables["sample_data"].append(record)
        return token

    def write(self, frame: LabeledFrame) -> None:
        if self._count == 0:
            self._start(frame)
        sensor = frame.sensor
        sample = _token("sample", self.scene, self._count)
        stamp_us = sensor.stamp_ns // 1000
        samples = self.tables["sample"]
        samples.append(
            {
                "token": sample,
                "timestamp": stamp_us,
                "scene_token": _token("scene", self.scene),
                "prev": samples[-1]["token"] if samples else "",
                "next": "",
            }
        )
        if len(samples) > 1:
            samples[-2]["next"] = sample
        T_global_ego = frame.T_world_lidar @ _io.invert(self.T_base_lidar)
        filename = f"samples/LIDAR_TOP/{self.scene}__LIDAR_TOP__{stamp_us}.pcd.bin"
        lidar = self._sample_data("LIDAR_TOP", sample, stamp_us, filename, "pcd", T_global_ego)
        (self.root / filename).parent.mkdir(parents=True, exist_ok=True)
        xyz = sensor.points[:, :3].astype(np.float64)
        elevation = np.arctan2(xyz[:, 2], np.hypot(xyz[:, 0], xyz[:, 1]))
        span = max(float(np.ptp(elevation)), 1e-9) if len(elevation) else 1.0
        ring = np.round((elevation - elevation.min(initial=0.0)) / span * (self.beams - 1)) if len(elevation) else elevation
        np.column_stack([sensor.points[:, :3], sensor.points[:, 3] * 255.0, ring]).astype("<f4").tofile(self.root / filename)
        for name, image in sensor.cameras.items():
            channel = _channel(name)
            image_us = image.stamp_ns // 1000
            cam_file = f"samples/{channel}/{self.scene}__{channel}__{image_us}.jpg"
            _io.write_jpeg(self.root / cam_file, image.rgb)
            self._sample_data(channel, sample, image_us, cam_file, "jpg", T_global_ego, image.rgb.shape[:2])
        self._write_labels(frame, lidar, sample)
        self._count += 1

    def _write_labels(self, frame: LabeledFrame, lidar: str, sample: str) -> None:
        semantic = frame.point_label & SEMANTIC_MASK
        instance = frame.point_label >> INSTANCE_SHIFT
        index_lut = np.zeros(SEMANTIC_MASK + 1, dtype=np.uint16)
        for class_id, (_, index) in CLASS_TO_NUSCENES.items():
            index_lut[class_id] = index
        cat_index = index_lut[semantic]
        seg_file = f"lidarseg/{self.version}/{lidar}_lidarseg.bin"
        (self.root / seg_file).parent.mkdir(parents=True, exist_ok=True)
        cat_index.astype(np.uint8).tofile(self.root / seg_file)
        self.tables["lidarseg"].append({"token": lidar, "sample_data_token": lidar, "filename": seg_file})
        self._pending_panoptic.append((lidar, cat_index, instance.astype(np.int64)))
        for obj in frame.objects:
            self._classes[obj.instance_id] = obj.class_id
            person = obj.class_id == 6
            attribute = ("pedestrian." if person else "vehicle.") + (
                "moving" if obj.moving else ("standing" if person else "parked")
            )
            T = np.eye(4)
            T[:3, :3] = Rotation.from_euler("z", obj.yaw).as_matrix()
            self._annotations[obj.instance_id].append(
                {
                    "token": _token("annotation", self.scene, obj.instance_id, self._count),
                    "sample_token": sample,
                    "instance_token": _token("instance", self.scene, obj.instance_id),
                    "visibility_token": "4",
                    "attribute_tokens": [_token("attribute", attribute)],
                    "translation": [float(v) for v in obj.center],
                    "size": [float(obj.size[1]), float(obj.size[0]), float(obj.size[2])],  # nuScenes: width, length, height
                    "rotation": _io.quat_wxyz(T),
                    "prev": "",
                    "next": "",
                    "num_lidar_pts": int((instance == obj.instance_id).sum()),
                    "num_radar_pts": 0,
                }
            )

    def close(self) -> None:
        if self._count == 0:
            return
        t = self.tables
        t["scene"].append(
            {
                "token": _token("scene", self.scene),
                "log_token": t["log"][0]["token"],
                "nbr_samples": self._count,
                "first_sample_token": t["sample"][0]["token"],
                "last_sample_token": t["sample"][-1]["token"],
                "name": self.scene,
                "description": "synthetic drive",
            }
        )
        # Annotated instances take 1..K in instance-table order; instances seen only in points follow.
        in_points = set().union(*(np.unique(inst).tolist() for _, _, inst in self._pending_panoptic)) - {0}
        order = sorted(self._annotations) + sorted(in_points - set(self._annotations))
        renumber = {iid: k for k, iid in enumerate(order, 1)}
        if len(renumber) >= PANOPTIC_DIVISOR:
            raise WriterError(f"{self.root}: {len(renumber)} instances exceed the panoptic format's {PANOPTIC_DIVISOR - 1}")
        for iid in sorted(self._annotations):
            chain = self._annotations[iid]
            for a, b in zip(chain, chain[1:], strict=False):
                a["next"], b["prev"] = b["token"], a["token"]
            t["sample_annotation"] += chain
            t["instance"].append(
                {
                    "token": chain[0]["instance_token"],
                    "category_token": _token("category", CLASS_TO_NUSCENES[self._classes[iid]][0]),
                    "nbr_annotations": len(chain),
                    "first_annotation_token": chain[0]["token"],
                    "last_annotation_token": chain[-1]["token"],
                }
            )
        for lidar, cat_index, instance in self._pending_panoptic:
            lut = np.zeros(int(instance.max(initial=0)) + 1, dtype=np.int64)
            for iid, number in renumber.items():
                if iid < len(lut):
                    lut[iid] = number
            renumbered = lut[instance]
            pan_file = f"panoptic/{self.version}/{lidar}_panoptic.npz"
            _io.write_npz(
                self.root / pan_file, data=(cat_index.astype(np.int64) * PANOPTIC_DIVISOR + renumbered).astype(np.uint16)
            )
            t["panoptic"].append({"token": lidar, "sample_data_token": lidar, "filename": pan_file})
        for name, rows in t.items():
            _io.write_json(self.root / self.version / f"{name}.json", rows)


class NuScenesReader:
    """Read one scene of a nuScenes-format dataset root as LabeledFrames (key frames only)."""

    def __init__(self, root: str | Path, version: str | None = None, scene: str | None = None) -> None:
        self.root = Path(root)
        if version is None:
            versions = sorted(p.name for p in self.root.glob("v1.0-*") if p.is_dir())
            if not versions:
                raise ReaderError(f"{self.root}: no v1.0-* table folder")
            version = versions[0]
        self.version = version
        self.t: dict[str, dict[str, dict[str, Any]]] = {}
        for name in READ_TABLES:
            self.t[name] = self._table(name)
        for name in ("lidarseg", "panoptic"):
            path = self.root / version / f"{name}.json"
            self.t[name] = {r["sample_data_token"]: r for r in self._rows(path)} if path.is_file() else {}
        scenes = list(self.t["scene"].values())
        chosen = [s for s in scenes if scene is None or s["name"] == scene]
        if not chosen:
            raise ReaderError(f"{self.root / version / 'scene.json'}: no scene {scene!r}")
        self.scene = chosen[0]
        self.sequence = 0
        self._samples = self._sample_chain()
        self._by_sample: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        for sd in self.t["sample_data"].values():
            if sd.get("is_key_frame", True):
                self._by_sample[sd["sample_token"]][self._channel(sd)] = sd
        first = self._by_sample[self._samples[0]["token"]]
        if "LIDAR_TOP" not in first:
            raise ReaderError(
                f"{self.root / version / 'sample_data.json'}: sample {self._samples[0]['token']} has no LIDAR_TOP data"
            )
        self._T_base_lidar = self._calib(first["LIDAR_TOP"])
        self._cameras: dict[str, CameraModel] = {}
        for channel, sd in sorted(first.items()):
            if channel.startswith("CAM_"):
                calib = self._ref("calibrated_sensor", sd["calibrated_sensor_token"], "sample_data", sd["token"])
                T_cam_lidar = _io.invert(self._calib(sd)) @ self._T_base_lidar
                name = channel[4:].lower()
                self._cameras[name] = CameraModel(
                    name, int(sd["width"]), int(sd["height"]), np.asarray(calib["camera_intrinsic"]), T_cam_lidar
                )
        self._class_of_index = {
            int(c["index"]): class_of_category(c["name"]) for c in self.t["category"].values() if "index" in c
        }
        self._instance_number = {token: k for k, token in enumerate(self.t["instance"], 1)}

    def _rows(self, path: Path) -> list[dict[str, Any]]:
        rows = _io.read_json(path)
        if not isinstance(rows, list) or not all(isinstance(r, dict) and "token" in r for r in rows):
            raise ReaderError(f"{path}: malformed table: expected a list of records with a 'token'")
        return rows

    def _table(self, name: str) -> dict[str, dict[str, Any]]:
        return {r["token"]: r for r in self._rows(self.root / self.version / f"{name}.json")}

    def _ref(self, table: str, token: str, from_table: str, from_token: str) -> dict[str, Any]:
        if token not in self.t[table]:
            raise ReaderError(
                f"{self.root / self.version / (from_table + '.json')}: record {from_token} references "
                f"{table} token {token!r}, which is not in {table}.json"
            )
        return self.t[table][token]

    def _channel(self, sd: dict[str, Any]) -> str:
        calib = self._ref("calibrated_sensor", sd["calibrated_sensor_token"], "sample_data", sd["token"])
        return str(self._ref("sensor", calib["sensor_token"], "calibrated_sensor", calib["token"])["channel"])

    def _calib(self, sd: dict[str, Any]) -> np.ndarray:
        calib = self._ref("calibrated_sensor", sd["calibrated_sensor_token"], "sample_data", sd["token"])
        return _io.transform_from(calib["translation"], calib["rotation"])

    def _sample_chain(self) -> list[dict[str, Any]]:
        chain, token = [], self.scene["first_sample_token"]
        while token:
            sample = self._ref(
                "sample", token, "scene" if not chain else "sample", chain[-1]["token"] if chain else self.scene["token"]
            )
            chain.append(sample)
            token = sample["next"]
        return chain

    @property
    def cameras(self) -> dict[str, CameraModel]:
        return dict(self._cameras)

    @property
    def T_base_lidar(self) -> np.ndarray:
        return self._T_base_lidar

    @property
    def lidar_frame(self) -> str:
        return "LIDAR_TOP"

    def __len__(self) -> int:
        return len(self._samples)

    def __iter__(self) -> Iterator[LabeledFrame]:
        for i, sample in enumerate(self._samples):
            data = self._by_sample[sample["token"]]
            lidar = data["LIDAR_TOP"]
            raw = _io.read_float32_bin(self.root / lidar["filename"], 5)
            points = np.column_stack([raw[:, :3], raw[:, 3] / 255.0]).astype(np.float32)
            ego = self._ref("ego_pose", lidar["ego_pose_token"], "sample_data", lidar["token"])
            T_world_lidar = _io.transform_from(ego["translation"], ego["rotation"]) @ self._T_base_lidar
            images = {}
            for name, camera in self._cameras.items():
                sd = data.get(_channel(name))
                if sd is not None:
                    images[name] = CameraImage(
                        camera, int(sd["timestamp"]) * 1000, _io.read_image(self.root / sd["filename"], color=True)
                    )
            label = self._labels(lidar, len(points))
            sensor = SensorFrame(int(lidar["timestamp"]) * 1000, points, images, None, self.lidar_frame, self.sequence, i)
            yield LabeledFrame(sensor, label, T_world_lidar, {}, self._objects(sample))

    def _labels(self, lidar: dict[str, Any], count: int) -> np.ndarray:
        lut = np.zeros(256, dtype=np.uint32)
        for index, class_id in self._class_of_index.items():
            if 0 <= index < 256:
                lut[index] = class_id
        label = np.zeros(count, dtype=np.uint32)
        if lidar["token"] in self.t["lidarseg"]:
            path = self.root / self.t["lidarseg"][lidar["token"]]["filename"]
            if not path.is_file():
                raise ReaderError(f"{path}: file not found")
            seg = np.fromfile(path, dtype=np.uint8)
            if len(seg) != count:
                raise ReaderError(f"{path}: {len(seg)} labels for {count} points")
            label = lut[seg]
        if lidar["token"] in self.t["panoptic"]:
            path = self.root / self.t["panoptic"][lidar["token"]]["filename"]
            pan = _io.read_npz(path, "data").astype(np.uint32)
            if len(pan) != count:
                raise ReaderError(f"{path}: {len(pan)} labels for {count} points")
            label = lut[np.minimum(pan // PANOPTIC_DIVISOR, 255)] | ((pan % PANOPTIC_DIVISOR) << INSTANCE_SHIFT)
        return label

    def _objects(self, sample: dict[str, Any]) -> list[ObjectState]:
        objects = []
        for ann in (a for a in self.t["sample_annotation"].values() if a["sample_token"] == sample["token"]):
            instance = self._ref("instance", ann["instance_token"], "sample_annotation", ann["token"])
            category = self._ref("category", instance["category_token"], "instance", instance["token"])
            attributes = [
                self._ref("attribute", a, "sample_annotation", ann["token"])["name"] for a in ann.get("attribute_tokens", [])
            ]
            w, length, h = ann["size"]
            yaw = float(Rotation.from_quat([*ann["rotation"][1:], ann["rotation"][0]]).as_euler("ZYX")[0])
            objects.append(
                ObjectState(
                    self._instance_number[instance["token"]],
                    class_of_category(category["name"]),
                    np.asarray(ann["translation"], dtype=np.float64),
                    np.array([length, w, h], dtype=np.float64),
                    yaw,
                    self._velocity(ann),
                    any(a.endswith(".moving") for a in attributes),
                )
            )
        return objects

    def _velocity(self, ann: dict[str, Any]) -> np.ndarray:
        """Centre difference over the neighbouring annotations (the devkit's box_velocity)."""
        before = self.t["sample_annotation"].get(ann["prev"], ann)
        after = self.t["sample_annotation"].get(ann["next"], ann)
        dt_s = (
            self.t["sample"][after["sample_token"]]["timestamp"] - self.t["sample"][before["sample_token"]]["timestamp"]
        ) / 1e6
        if dt_s <= 0:
            return np.zeros(3)
        return (np.asarray(after["translation"]) - np.asarray(before["translation"])) / dt_s
