"""KITTI raw (synced + rectified) layout::

    <date>/calib_cam_to_cam.txt   K/D/R/T/S per camera, R_rect_00 and P_rect_0k (rectified cam k in cam0)
    <date>/calib_velo_to_cam.txt  R, T: velodyne -> cam0
    <date>/calib_imu_to_velo.txt  R, T: IMU -> velodyne
    <date>/<date>_drive_NNNN_sync/velodyne_points/data/0000000000.bin (float32 x, y, z, reflectance)
                                  velodyne_points/timestamps{,_start,_end}.txt
                                  image_02/data/0000000000.png, image_02/timestamps.txt (image_03, ... next cameras)
                                  oxts/data/0000000000.txt (30 values), oxts/timestamps.txt, oxts/dataformat.txt

Timestamps are ``YYYY-MM-DD hh:mm:ss.nnnnnnnnn`` (UTC). Poses come from OXTS with the devkit's
Mercator conversion; the reader returns them relative to the first IMU pose (the devkit's
convention), so ``world`` is the first frame's IMU (base_link) frame. The format has no point
labels: frames read with ``point_label`` all 0. Our writer puts cam0 at the first camera
(R_rect_00 = I) and base_link at the IMU.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import numpy as np
from scipy.spatial.transform import Rotation

from panoptic_perception.core import CameraImage, CameraModel, SensorFrame

from ..frame import LabeledFrame
from . import _io
from .errors import ReaderError, WriterError
from .semantickitti import _LIDAR_TO_OPTICAL, calib_matrix, format_matrix, parse_calib, split_projection

EARTH_RADIUS = 6378137.0  # [m], the devkit's Mercator constant
ORIGIN_LAT, ORIGIN_LON, ORIGIN_ALT = 49.011212804408, 8.4228850417969, 112.83  # Karlsruhe, where KITTI drove
OXTS_FIELDS = (
    "lat lon alt roll pitch yaw vn ve vf vl vu ax ay az af al au wx wy wz wf wl wu "
    "pos_accuracy vel_accuracy navstat numsats posmode velmode orimode"
).split()
_CALIB_TIME = "calib_time: 01-Jan-2024 00:00:00"


def format_stamp(ns: int) -> str:
    seconds, frac = divmod(int(ns), 1_000_000_000)
    moment = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    return f"{moment:%Y-%m-%d %H:%M:%S}.{frac:09d}"


def parse_stamp(text: str, source: str) -> int:
    try:
        whole, _, frac = text.strip().partition(".")
        moment = dt.datetime.strptime(whole, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC)
        return int(moment.timestamp()) * 1_000_000_000 + int(frac.ljust(9, "0")[:9] or 0)
    except ValueError as err:
        raise ReaderError(f"{source}: not a KITTI timestamp: {text!r}") from err


def _mercator(lat: np.ndarray, lon: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    mx = scale * lon * np.pi * EARTH_RADIUS / 180.0
    my = scale * EARTH_RADIUS * np.log(np.tan((90.0 + lat) * np.pi / 360.0))
    return mx, my


def _write_rt(path: Path, T: np.ndarray, extra: str = "") -> None:
    path.write_text(f"{_CALIB_TIME}\nR: {format_matrix(T[:3, :3])}\nT: {format_matrix(T[:3, 3])}\n{extra}")


def _read_rt(path: Path) -> np.ndarray:
    calib = parse_calib(path)
    T = np.eye(4)
    T[:3, :3] = calib_matrix(calib, "R", (3, 3), path)
    T[:3, 3] = calib_matrix(calib, "T", (3, 1), path)[:, 0]
    return T


class KittiRawWriter:
    """Write LabeledFrames as one KITTI raw drive; a context manager."""

    def __init__(
        self, root: str | Path, date: str = "2011_09_26", drive: int = 1, *, T_base_lidar: np.ndarray | None = None
    ) -> None:
        self.date_dir = Path(root) / date
        self.dir = self.date_dir / f"{date}_drive_{drive:04d}_sync"
        if self.dir.exists():
            raise WriterError(f"{self.dir}: drive folder exists already")
        self.T_base_lidar = np.eye(4) if T_base_lidar is None else np.asarray(T_base_lidar, dtype=np.float64)
        self._frames: list[tuple[int, np.ndarray, np.ndarray | None]] = []  # stamp, T_world_imu, point_time
        self._camera_stamps: dict[str, list[int]] = {}
        self._count = 0

    def __enter__(self) -> KittiRawWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _write_calib(self, cameras: list[CameraModel]) -> None:
        self.date_dir.mkdir(parents=True, exist_ok=True)
        tr = cameras[0].T_cam_lidar if cameras else _LIDAR_TO_OPTICAL
        lines = [_CALIB_TIME, "corner_dist: 9.950000e-02"]
        for k, cam in enumerate([cameras[0], cameras[0], *cameras] if cameras else []):
            P = cam.K @ (cam.T_cam_lidar @ _io.invert(tr))[:3]
            T_cam_cam0 = cam.T_cam_lidar @ _io.invert(tr)
            lines += [
                f"S_{k:02d}: {cam.width:.6e} {cam.height:.6e}",
                f"K_{k:02d}: {format_matrix(cam.K)}",
                f"D_{k:02d}: {format_matrix(cam.D)}",
                f"R_{k:02d}: {format_matrix(T_cam_cam0[:3, :3])}",
                f"T_{k:02d}: {format_matrix(T_cam_cam0[:3, 3])}",
                f"S_rect_{k:02d}: {cam.width:.6e} {cam.height:.6e}",
                f"R_rect_{k:02d}: {format_matrix(np.eye(3))}",
                f"P_rect_{k:02d}: {format_matrix(P)}",
            ]
        (self.date_dir / "calib_cam_to_cam.txt").write_text("\n".join(lines) + "\n")
        _write_rt(
            self.date_dir / "calib_velo_to_cam.txt",
            tr,
            "delta_f: 0.000000e+00 0.000000e+00\ndelta_c: 0.000000e+00 0.000000e+00\n",
        )
        _write_rt(self.date_dir / "calib_imu_to_velo.txt", _io.invert(self.T_base_lidar))

    def write(self, frame: LabeledFrame) -> None:
        sensor = frame.sensor
        if self._count == 0:
            self._write_calib([image.camera for image in sensor.cameras.values()])
        name = f"{self._count:010d}"
        velodyne = self.dir / "velodyne_points" / "data"
        velodyne.mkdir(parents=True, exist_ok=True)
        sensor.points.astype("<f4").tofile(velodyne / f"{name}.bin")
        for k, image in enumerate(sensor.cameras.values()):
            _io.write_png(self.dir / f"image_{k + 2:02d}" / "data" / f"{name}.png", image.rgb)
            self._camera_stamps.setdefault(f"image_{k + 2:02d}", []).append(image.stamp_ns)
        self._frames.append((sensor.stamp_ns, frame.T_world_lidar @ _io.invert(self.T_base_lidar), sensor.point_time))
        self._count += 1

    def close(self) -> None:
        if not self._frames:
            return
        stamps = [s for s, _, _ in self._frames]
        velodyne = self.dir / "velodyne_points"
        (velodyne / "timestamps.txt").write_text("".join(format_stamp(s) + "\n" for s in stamps))
        if all(t is not None and len(t) for _, _, t in self._frames):
            for name, pick in (("start", np.min), ("end", np.max)):
                lines = [format_stamp(s + round(float(pick(t)) * 1e9)) + "\n" for s, _, t in self._frames]  # type: ignore[arg-type]
                (velodyne / f"timestamps_{name}.txt").write_text("".join(lines))
        for folder, camera_stamps in self._camera_stamps.items():
            (self.dir / folder / "timestamps.txt").write_text("".join(format_stamp(s) + "\n" for s in camera_stamps))
        self._write_oxts(stamps, np.stack([T for _, T, _ in self._frames]))

    def _write_oxts(self, stamps: list[int], poses: np.ndarray) -> None:
        oxts = self.dir / "oxts"
        (oxts / "data").mkdir(parents=True, exist_ok=True)
        (oxts / "timestamps.txt").write_text("".join(format_stamp(s) + "\n" for s in stamps))
        (oxts / "dataformat.txt").write_text("".join(f"{name}:\n" for name in OXTS_FIELDS))
        scale = np.cos(np.radians(ORIGIN_LAT))
        mx0, my0 = _mercator(np.array(ORIGIN_LAT), np.array(ORIGIN_LON), scale)
        xyz = poses[:, :3, 3] - poses[0, :3, 3]
        lat = np.degrees(2.0 * np.arctan(np.exp((my0 + xyz[:, 1]) / (scale * EARTH_RADIUS)))) - 90.0
        lon = np.degrees((mx0 + xyz[:, 0]) / (scale * EARTH_RADIUS))
        ypr = Rotation.from_matrix(poses[:, :3, :3]).as_euler("ZYX")  # R = Rz(yaw) Ry(pitch) Rx(roll)
        t = (np.asarray(stamps, dtype=np.float64) - stamps[0]) / 1e9
        velocity = np.gradient(xyz, t, axis=0) if len(t) > 1 else np.zeros_like(xyz)
        accel = np.gradient(velocity, t, axis=0) if len(t) > 1 else np.zeros_like(xyz)
        rotvec = np.zeros_like(xyz)
        if len(t) > 1:
            steps = Rotation.from_matrix(np.einsum("nji,njk->nik", poses[:-1, :3, :3], poses[1:, :3, :3])).as_rotvec()
            rotvec = np.vstack([steps, steps[-1:]]) / np.append(np.diff(t), np.diff(t)[-1])[:, None]
        for i, name in enumerate(f"{k:010d}" for k in range(len(stamps))):
            R = poses[i, :3, :3]
            v_body, a_body = R.T @ velocity[i], R.T @ accel[i]
            values = [
                lat[i],
                lon[i],
                ORIGIN_ALT + xyz[i, 2],
                ypr[i, 2],
                ypr[i, 1],
                ypr[i, 0],
                velocity[i, 1],
                velocity[i, 0],
                v_body[0],
                v_body[1],
                v_body[2],
                *a_body,
                *a_body,
                *rotvec[i],
                *rotvec[i],
            ]
            # Accuracies and GNSS status flags: 0, there is no real fix behind synthetic poses.
            text = " ".join(repr(float(v)) for v in values) + " 0 0 0 0 0 0 0"
            (oxts / "data" / f"{name}.txt").write_text(text + "\n")


class KittiRawReader:
    """Read one synced KITTI raw drive (pass the drive folder, or a date folder holding one drive)."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        if not (path / "velodyne_points").is_dir():
            drives = sorted(path.glob("*_drive_*_sync"))
            if len(drives) != 1:
                raise ReaderError(f"{path}: expected one *_drive_*_sync folder, found {len(drives)}")
            path = drives[0]
        self.dir = path
        self.date_dir = path.parent
        self.sequence = int(path.name.split("_drive_")[1][:4]) if "_drive_" in path.name else 0
        self._scans = sorted((path / "velodyne_points" / "data").glob("*.bin"))
        if not self._scans:
            raise ReaderError(f"{path / 'velodyne_points' / 'data'}: no scans (*.bin) found")
        tr = _read_rt(self.date_dir / "calib_velo_to_cam.txt")
        imu_path = self.date_dir / "calib_imu_to_velo.txt"
        self._T_base_lidar = _io.invert(_read_rt(imu_path)) if imu_path.is_file() else np.eye(4)
        cam_path = self.date_dir / "calib_cam_to_cam.txt"
        calib = parse_calib(cam_path)
        R_rect = np.eye(4)
        R_rect[:3, :3] = calib_matrix(calib, "R_rect_00", (3, 3), cam_path)
        self._stamps = self._read_stamps(path / "velodyne_points" / "timestamps.txt")
        self._cameras: dict[str, tuple[str, CameraModel, list[int]]] = {}
        k = 2
        while (path / f"image_{k:02d}").is_dir():
            folder = f"image_{k:02d}"
            K, T_rect_cam0 = split_projection(calib_matrix(calib, f"P_rect_{k:02d}", (3, 4), cam_path))
            size = calib_matrix(calib, f"S_rect_{k:02d}", (1, 2), cam_path)[0]
            D = calib[f"D_{k:02d}"] if f"D_{k:02d}" in calib else np.zeros(5)
            camera = CameraModel(folder, int(size[0]), int(size[1]), K, T_rect_cam0 @ R_rect @ tr, D)
            self._cameras[folder] = (folder, camera, self._read_stamps(path / folder / "timestamps.txt"))
            k += 1
        self._poses = self._read_poses(path / "oxts")

    def _read_stamps(self, path: Path) -> list[int]:
        if not path.is_file():
            raise ReaderError(f"{path}: file not found")
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        if len(lines) != len(self._scans):
            raise ReaderError(f"{path}: {len(lines)} timestamps for {len(self._scans)} scans")
        return [parse_stamp(line, f"{path}:{i + 1}") for i, line in enumerate(lines)]

    def _read_poses(self, oxts: Path) -> list[np.ndarray]:
        rows = []
        for scan in self._scans:
            path = oxts / "data" / f"{scan.stem}.txt"
            if not path.is_file():
                raise ReaderError(f"{path}: file not found")
            values = path.read_text().split()
            if len(values) != len(OXTS_FIELDS):
                raise ReaderError(f"{path}: {len(values)} values, expected {len(OXTS_FIELDS)}")
            rows.append([float(v) for v in values[:6]])
        lat, lon, alt, roll, pitch, yaw = np.array(rows).T
        mx, my = _mercator(lat, lon, np.cos(np.radians(lat[0])))
        poses = np.tile(np.eye(4), (len(rows), 1, 1))
        poses[:, :3, :3] = Rotation.from_euler("ZYX", np.column_stack([yaw, pitch, roll])).as_matrix()
        poses[:, :3, 3] = np.column_stack([mx, my, alt])
        first = _io.invert(poses[0])
        return [first @ T @ self._T_base_lidar for T in poses]

    @property
    def cameras(self) -> dict[str, CameraModel]:
        return {name: camera for name, (_, camera, _) in self._cameras.items()}

    @property
    def T_base_lidar(self) -> np.ndarray:
        return self._T_base_lidar

    @property
    def lidar_frame(self) -> str:
        return "velodyne"

    def __len__(self) -> int:
        return len(self._scans)

    def __iter__(self) -> Iterator[LabeledFrame]:
        for i, scan in enumerate(self._scans):
            points = _io.read_float32_bin(scan, 4)
            images = {
                name: CameraImage(camera, stamps[i], _io.read_image(self.dir / folder / "data" / f"{scan.stem}.png", color=True))
                for name, (folder, camera, stamps) in self._cameras.items()
            }
            sensor = SensorFrame(self._stamps[i], points, images, None, self.lidar_frame, self.sequence, i)
            yield LabeledFrame(sensor, np.zeros(len(points), dtype=np.uint32), self._poses[i])
