"""SemanticKITTI / KITTI odometry layout: ``sequences/NN/`` with velodyne, labels, image_2, calib, poses, times.

Standard files (what real SemanticKITTI holds)::

    velodyne/NNNNNN.bin   float32 x, y, z, intensity
    labels/NNNNNN.label   uint32 raw SemanticKITTI id | instance << 16
    image_2/NNNNNN.png    RGB of the first camera (image_3, image_4, ... for the next ones)
    calib.txt             P0..P3 (3x4, one per image_k: P_k = K_k [R|t] of cam_k in cam0) and Tr (velo -> cam0)
    poses.txt             3x4 row-major pose of cam0 in the first cam0 frame, one line per scan
    times.txt             scan time [s] from the sequence start

Our extra ground truth, in sibling files the reader picks up when present::

    image_K_semantic/NNNNNN.png  uint16 class id      image_K_instance/NNNNNN.png  uint16 instance id
    image_K_depth/NNNNNN.png     uint16 depth * 256 (KITTI depth convention, 0 = none, max 255.99 m)
    flow_K/NNNNNN.png            KITTI flow PNG: uint16 (u, v, valid), value = flow * 64 + 2^15
    image_K_times.txt            camera stamps [s] from the sequence start
    velodyne_time/NNNNNN.npz     float32 per-point time offset [s] under key "t"
    objects/NNNNNN.json          object states (world frame)
    panoptic.json                time origin, first LiDAR pose, T_base_lidar, camera names and distortion

cam0 is the first camera's optical frame (KITTI's left grey camera does not exist on our rigs).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import TracebackType

import numpy as np
from scipy.linalg import rq

from panoptic_perception.core import CameraImage, CameraModel, SensorFrame
from panoptic_perception.core.labels import INSTANCE_SHIFT, SEMANTIC_MASK, load_class_table

from ..frame import CameraTruth, LabeledFrame
from . import _io
from .errors import ReaderError, WriterError

DEPTH_SCALE = 256.0  # KITTI depth PNG: uint16 = depth [m] * 256
FLOW_SCALE, FLOW_OFFSET = 64.0, 2**15  # KITTI flow PNG: uint16 = flow [px] * 64 + 2^15
# LiDAR (x fwd, y left, z up) -> optical (x right, y down, z fwd); used for Tr when a rig has no camera.
_LIDAR_TO_OPTICAL = np.array([[0, -1, 0, 0], [0, 0, -1, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=np.float64)


def encode_kitti_flow(flow: np.ndarray) -> np.ndarray:
    """KITTI flow PNG channels (u, v, valid) as uint16: value = flow * 64 + 2^15; NaN or |flow| >= 512 px invalid."""
    scaled = np.round(np.asarray(flow, dtype=np.float64) * FLOW_SCALE) + FLOW_OFFSET
    valid = np.isfinite(scaled).all(axis=-1) & (scaled >= 0).all(axis=-1) & (scaled <= 65535).all(axis=-1)
    out = np.zeros((*flow.shape[:2], 3), dtype=np.uint16)
    out[valid, :2] = scaled[valid]
    out[..., 2] = valid
    return out


def decode_kitti_flow(png: np.ndarray, source: Path) -> np.ndarray:
    if png.ndim != 3 or png.shape[2] != 3 or png.dtype != np.uint16:
        raise ReaderError(f"{source}: expected a 3-channel 16-bit KITTI flow PNG, got {png.dtype} {png.shape}")
    flow = (png[..., :2].astype(np.float32) - FLOW_OFFSET) / FLOW_SCALE
    flow[png[..., 2] == 0] = np.nan
    return flow


def sequence_dir(root: str | Path, sequence: int) -> Path:
    return Path(root) / "sequences" / f"{sequence:02d}"


def format_matrix(M: np.ndarray) -> str:
    return " ".join(f"{v:.12e}" for v in np.asarray(M, dtype=np.float64).ravel())


def parse_calib(path: Path) -> dict[str, np.ndarray]:
    """Parse a KITTI ``key: v v v`` calibration file into float arrays."""
    if not path.is_file():
        raise ReaderError(f"{path}: calibration file not found")
    out: dict[str, np.ndarray] = {}
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        key, sep, values = line.partition(":")
        if not sep:
            raise ReaderError(f"{path}:{lineno}: expected 'key: values', got {line!r}")
        try:
            out[key.strip()] = np.array([float(v) for v in values.split()], dtype=np.float64)
        except ValueError:
            out[key.strip()] = np.array([])  # text entries (calib_time) are not numeric
    return out


def calib_matrix(calib: dict[str, np.ndarray], key: str, shape: tuple[int, int], path: Path) -> np.ndarray:
    if key not in calib:
        raise ReaderError(f"{path}: missing entry {key!r}")
    if calib[key].size != shape[0] * shape[1]:
        raise ReaderError(f"{path}: entry {key!r} has {calib[key].size} values, expected {shape[0] * shape[1]}")
    return calib[key].reshape(shape)


def split_projection(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a 3x4 projection P = K [R | t] into K (positive diagonal, K[2,2] = 1) and the 4x4 [R | t]."""
    K, R = rq(P[:, :3])
    signs = np.diag(np.sign(np.diag(K)))
    K, R = K @ signs, signs @ R
    t = np.linalg.solve(K, P[:, 3])
    K = K / K[2, 2]
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, t
    return K, T


def seconds_to_ns(text: str, source: str) -> int:
    try:
        return int((Decimal(text.strip()) * 1_000_000_000).to_integral_value())
    except InvalidOperation as err:
        raise ReaderError(f"{source}: not a time in seconds: {text!r}") from err


class SemanticKittiWriter:
    """Write LabeledFrames of one sequence; use as a context manager (``close`` writes poses and times)."""

    def __init__(self, root: str | Path, sequence: int, *, T_base_lidar: np.ndarray | None = None, extras: bool = True) -> None:
        self.dir = sequence_dir(root, sequence)
        if self.dir.exists() and any(self.dir.iterdir()):
            raise WriterError(f"{self.dir}: sequence folder exists and is not empty")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.sequence = sequence
        self.T_base_lidar = np.eye(4) if T_base_lidar is None else np.asarray(T_base_lidar, dtype=np.float64)
        self.extras = extras
        self._to_raw = load_class_table().train_to_raw_lut().astype(np.uint32)
        self._cameras: list[CameraModel] = []
        self._tr = _LIDAR_TO_OPTICAL
        self._first_pose: np.ndarray | None = None
        self._origin_ns = 0
        self._poses: list[str] = []
        self._times: list[str] = []
        self._camera_times: dict[str, list[str]] = {}
        self._count = 0

    def __enter__(self) -> SemanticKittiWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _start(self, frame: LabeledFrame) -> None:
        self._cameras = [image.camera for image in frame.sensor.cameras.values()]
        self._first_pose = frame.T_world_lidar.copy()
        self._origin_ns = frame.sensor.stamp_ns
        if self._cameras:
            self._tr = self._cameras[0].T_cam_lidar
        lines = []
        cam0_T_lidar = self._tr
        projections = [cam.K @ (cam.T_cam_lidar @ _io.invert(cam0_T_lidar))[:3] for cam in self._cameras]
        default = projections[0] if projections else np.hstack([np.eye(3), np.zeros((3, 1))])
        projections = [default, default, *projections] if projections else [default] * 4
        projections += [default] * (4 - len(projections))
        lines += [f"P{k}: {format_matrix(P)}" for k, P in enumerate(projections)]
        lines.append(f"Tr: {format_matrix(self._tr[:3])}")
        (self.dir / "calib.txt").write_text("\n".join(lines) + "\n")
        if self.extras:
            _io.write_json(
                self.dir / "panoptic.json",
                {
                    "format": "panoptic_datasets semantickitti extras",
                    "version": 1,
                    "time_origin_ns": int(self._origin_ns),
                    "sequence": int(self.sequence),
                    "T_world_lidar_first": self._first_pose.tolist(),
                    "T_base_lidar": self.T_base_lidar.tolist(),
                    "lidar_frame": frame.sensor.lidar_frame,
                    "cameras": {f"image_{k + 2}": {"name": cam.name, "D": cam.D.tolist()} for k, cam in enumerate(self._cameras)},
                },
            )

    def write(self, frame: LabeledFrame) -> None:
        if self._count == 0:
            self._start(frame)
        names = [cam.name for cam in self._cameras]
        if list(frame.sensor.cameras) != names:
            raise WriterError(f"{self.dir}: frame {self._count} has cameras {list(frame.sensor.cameras)}, sequence has {names}")
        stem = f"{self._count:06d}"
        velodyne = self.dir / "velodyne"
        velodyne.mkdir(exist_ok=True)
        frame.sensor.points.astype("<f4").tofile(velodyne / f"{stem}.bin")
        semantic = frame.point_label & SEMANTIC_MASK
        raw = self._to_raw[semantic] | (frame.point_label & ~np.uint32(SEMANTIC_MASK))
        (self.dir / "labels").mkdir(exist_ok=True)
        raw.astype("<u4").tofile(self.dir / "labels" / f"{stem}.label")
        # KITTI pose: cam0 at scan i in the cam0 frame of scan 0.
        pose = self._tr @ _io.invert(self._first_pose) @ frame.T_world_lidar @ _io.invert(self._tr)
        self._poses.append(format_matrix(pose[:3]))
        self._times.append(f"{(frame.sensor.stamp_ns - self._origin_ns) / 1e9:.12e}")
        for k, (name, image) in enumerate(frame.sensor.cameras.items()):
            folder = f"image_{k + 2}"
            _io.write_png(self.dir / folder / f"{stem}.png", image.rgb)
            self._camera_times.setdefault(folder, []).append(f"{(image.stamp_ns - self._origin_ns) / 1e9:.12e}")
            if self.extras and name in frame.cameras:
                self._write_camera_truth(folder, k + 2, stem, frame.cameras[name])
        if self.extras:
            if frame.sensor.point_time is not None:
                _io.write_npz(self.dir / "velodyne_time" / f"{stem}.npz", t=np.asarray(frame.sensor.point_time, dtype="<f4"))
            _io.write_json(self.dir / "objects" / f"{stem}.json", _io.objects_to_json(frame.objects))
        self._count += 1

    def _write_camera_truth(self, folder: str, index: int, stem: str, truth: CameraTruth) -> None:
        if truth.instance.size and int(truth.instance.max()) > SEMANTIC_MASK:
            raise WriterError(f"{self.dir / (folder + '_instance')}: instance ids above {SEMANTIC_MASK} do not fit a 16-bit PNG")
        _io.write_png(self.dir / f"{folder}_semantic" / f"{stem}.png", truth.semantic.astype(np.uint16))
        _io.write_png(self.dir / f"{folder}_instance" / f"{stem}.png", truth.instance.astype(np.uint16))
        depth = np.round(np.asarray(truth.depth, dtype=np.float64) * DEPTH_SCALE)
        depth[~np.isfinite(depth) | (depth > np.iinfo(np.uint16).max) | (depth < 0)] = 0  # out of range -> "no depth"
        _io.write_png(self.dir / f"{folder}_depth" / f"{stem}.png", depth.astype(np.uint16))
        if truth.flow is not None:
            _io.write_png(self.dir / f"flow_{index}" / f"{stem}.png", encode_kitti_flow(truth.flow))

    def close(self) -> None:
        (self.dir / "poses.txt").write_text("".join(p + "\n" for p in self._poses))
        (self.dir / "times.txt").write_text("".join(t + "\n" for t in self._times))
        if self.extras:
            for folder, times in self._camera_times.items():
                (self.dir / f"{folder}_times.txt").write_text("".join(t + "\n" for t in times))


class SemanticKittiReader:
    """Read one sequence folder (``.../sequences/NN``) as LabeledFrames.

    Without labels (SemanticKITTI test sequences) ``point_label`` is all 0 (unlabeled) and
    ``has_labels`` is False; camera ground truth is attached only where its files exist.
    """

    def __init__(self, path: str | Path, sequence: int | None = None) -> None:
        path = Path(path)
        self.dir = sequence_dir(path, sequence) if sequence is not None else path
        if not self.dir.is_dir():
            raise ReaderError(f"{self.dir}: sequence folder not found")
        self.sequence = int(self.dir.name) if self.dir.name.isdigit() else 0
        calib_path = self.dir / "calib.txt"
        calib = parse_calib(calib_path)
        self._tr = np.vstack([calib_matrix(calib, "Tr", (3, 4), calib_path), [0, 0, 0, 1]])
        extras_path = self.dir / "panoptic.json"
        extras = _io.read_json(extras_path) if extras_path.is_file() else {}
        try:
            self._origin_ns = int(extras.get("time_origin_ns", 0))
            self._first_pose = np.asarray(extras.get("T_world_lidar_first", np.eye(4)), dtype=np.float64).reshape(4, 4)
            self._T_base_lidar = np.asarray(extras.get("T_base_lidar", np.eye(4)), dtype=np.float64).reshape(4, 4)
            self._lidar_frame = str(extras.get("lidar_frame", "lidar"))
            camera_extras = dict(extras.get("cameras", {}))
        except (TypeError, ValueError) as err:
            raise ReaderError(f"{extras_path}: malformed: {err}") from err
        self._scans = sorted((self.dir / "velodyne").glob("*.bin"))
        if not self._scans:
            raise ReaderError(f"{self.dir / 'velodyne'}: no scans (*.bin) found")
        self._stamps = self._read_times(self.dir / "times.txt", len(self._scans))
        self._poses = self._read_poses(self.dir / "poses.txt", len(self._scans))
        self.has_labels = (self.dir / "labels").is_dir()
        self._to_train = load_class_table().raw_to_train_lut().astype(np.uint32)
        self._cameras: dict[str, tuple[str, CameraModel]] = {}
        self._camera_stamps: dict[str, list[int]] = {}
        k = 2
        while (self.dir / f"image_{k}").is_dir():
            folder = f"image_{k}"
            P = calib_matrix(calib, f"P{k}", (3, 4), calib_path)
            K, T_cam_cam0 = split_projection(P)
            first = _io.read_image(self.dir / folder / f"{self._scans[0].stem}.png", color=True)
            info = camera_extras.get(folder, {})
            camera = CameraModel(
                str(info.get("name", folder)),
                first.shape[1],
                first.shape[0],
                K,
                T_cam_cam0 @ self._tr,
                np.asarray(info.get("D", np.zeros(5)), dtype=np.float64),
            )
            self._cameras[camera.name] = (folder, camera)
            k += 1

    def _read_times(self, path: Path, count: int) -> list[int]:
        if not path.is_file():
            raise ReaderError(f"{path}: file not found")
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        if len(lines) != count:
            raise ReaderError(f"{path}: {len(lines)} times for {count} scans")
        return [self._origin_ns + seconds_to_ns(line, f"{path}:{i + 1}") for i, line in enumerate(lines)]

    def _read_poses(self, path: Path, count: int) -> list[np.ndarray]:
        if not path.is_file():
            raise ReaderError(f"{path}: file not found")
        try:
            rows = [np.array(line.split(), dtype=np.float64) for line in path.read_text().splitlines() if line.strip()]
        except ValueError as err:
            raise ReaderError(f"{path}: malformed pose: {err}") from err
        if len(rows) != count or any(r.size != 12 for r in rows):
            raise ReaderError(f"{path}: expected {count} lines of 12 values")
        inv_tr = _io.invert(self._tr)
        return [self._first_pose @ inv_tr @ np.vstack([r.reshape(3, 4), [0, 0, 0, 1]]) @ self._tr for r in rows]

    @property
    def cameras(self) -> dict[str, CameraModel]:
        return {name: camera for name, (_, camera) in self._cameras.items()}

    @property
    def T_base_lidar(self) -> np.ndarray:
        return self._T_base_lidar

    @property
    def lidar_frame(self) -> str:
        return self._lidar_frame

    def __len__(self) -> int:
        return len(self._scans)

    def __iter__(self) -> Iterator[LabeledFrame]:
        for i in range(len(self._scans)):
            yield self[i]

    def __getitem__(self, i: int) -> LabeledFrame:
        scan = self._scans[i]
        stem = scan.stem
        points = _io.read_float32_bin(scan, 4)
        if self.has_labels:
            raw = _io.read_uint32_bin(self.dir / "labels" / f"{stem}.label", len(points))
            label = self._to_train[raw & SEMANTIC_MASK] | ((raw >> INSTANCE_SHIFT) << INSTANCE_SHIFT)
        else:
            label = np.zeros(len(points), dtype=np.uint32)
        time_path = self.dir / "velodyne_time" / f"{stem}.npz"
        point_time = _io.read_npz(time_path, "t") if time_path.is_file() else None
        if point_time is not None and len(point_time) != len(points):
            raise ReaderError(f"{time_path}: {len(point_time)} time offsets for {len(points)} points")
        images, truths = {}, {}
        for name, (folder, camera) in self._cameras.items():
            stamp = self._camera_stamp(folder, i)
            images[name] = CameraImage(camera, stamp, _io.read_image(self.dir / folder / f"{stem}.png", color=True))
            truth = self._camera_truth(folder, stem)
            if truth is not None:
                truths[name] = truth
        objects_path = self.dir / "objects" / f"{stem}.json"
        objects = _io.objects_from_json(_io.read_json(objects_path), objects_path) if objects_path.is_file() else []
        sensor = SensorFrame(self._stamps[i], points, images, point_time, self._lidar_frame, self.sequence, i)
        return LabeledFrame(sensor, label, self._poses[i], truths, objects)

    def _camera_stamp(self, folder: str, i: int) -> int:
        path = self.dir / f"{folder}_times.txt"
        if not path.is_file():
            return self._stamps[i]
        if folder not in self._camera_stamps:
            self._camera_stamps[folder] = self._read_times(path, len(self._scans))
        return self._camera_stamps[folder][i]

    def _camera_truth(self, folder: str, stem: str) -> CameraTruth | None:
        semantic_path = self.dir / f"{folder}_semantic" / f"{stem}.png"
        if not semantic_path.is_file():
            return None
        semantic = _io.read_image(semantic_path, color=False).astype(np.uint16)
        instance = _io.read_image(self.dir / f"{folder}_instance" / f"{stem}.png", color=False).astype(np.uint32)
        depth = _io.read_image(self.dir / f"{folder}_depth" / f"{stem}.png", color=False).astype(np.float32) / DEPTH_SCALE
        flow_path = self.dir / f"flow_{folder.split('_')[1]}" / f"{stem}.png"
        flow = decode_kitti_flow(_io.read_image(flow_path, color=False)[..., ::-1], flow_path) if flow_path.is_file() else None
        return CameraTruth(semantic, instance, depth, flow)
