"""Drive the ego through a World and yield labelled sensor frames.

Timing: frame i has the sweep stamp ``EPOCH_NS + i / rate``. Agents are frozen during a sweep at
its middle, the instant the LiDAR faces forward; the cameras fire at that instant too (the
KITTI trigger), so their images carry ``stamp + half a period``. ``T_world_lidar`` is the LiDAR
pose at the sweep stamp; the world frame is the LiDAR frame at the first stamp.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import numpy as np

from panoptic_perception.core import CameraImage, CameraModel, SensorFrame, pack_label

from ..frame import LabeledFrame, ObjectState, Rig
from .camera import make_light, render
from .flow import forward_flow
from .lidar import scan
from .scene import World
from .scene_config import SceneConfig

EPOCH_NS = 1_700_000_000 * 10**9
FAULTS = ("camera_dropout", "frozen", "overexpose", "underexpose")
_EXPOSURE_FAULT = {"overexpose": 4.0, "underexpose": 0.15}


class Drive:
    """The ego drive of one (config, rig): poses in the world frame and the consumer's calibration."""

    def __init__(self, config: SceneConfig, rig: Rig, calibration_error_deg: float = 0.0) -> None:
        self.world = World(config)
        self.rig = rig
        self.period = 1.0 / rig.lidar.rate_hz
        self.T_world_map = np.linalg.inv(self.T_map_lidar(0.0))
        rng = np.random.default_rng([config.seed, 7])
        self.reported_cameras: dict[str, CameraModel] = {}
        for name, cam in rig.cameras.items():
            axis = rng.normal(size=3)
            R_err = _axis_angle(axis / np.linalg.norm(axis), np.radians(calibration_error_deg))
            T_err = np.eye(4)
            T_err[:3, :3] = R_err
            self.reported_cameras[name] = CameraModel(cam.name, cam.width, cam.height, cam.K.copy(),
                                                      T_err @ cam.T_cam_lidar, cam.D.copy())

    def T_map_lidar(self, t: np.ndarray | float) -> np.ndarray:
        return self.world.ego_pose(t) @ self.rig.T_base_lidar

    def T_map_lidar_after(self, t0: float, dt: np.ndarray) -> np.ndarray:
        return self.T_map_lidar(t0 + np.asarray(dt))

    def T_world_lidar(self, t: np.ndarray | float) -> np.ndarray:
        return self.T_world_map @ self.T_map_lidar(t)

    def T_map_cam(self, name: str, t: float) -> np.ndarray:
        return self.T_map_lidar(t) @ np.linalg.inv(self.rig.cameras[name].T_cam_lidar)

    def objects(self, t: float) -> list[ObjectState]:
        T, active, moving, vel = self.world.agent_states(t)
        R = self.T_world_map[:3, :3]
        yaw0 = np.arctan2(R[1, 0], R[0, 0])
        out = []
        for i, agent in enumerate(self.world.agents):
            if not active[i]:
                continue
            centre_map = T[i, :3, :3] @ agent.box_center + T[i, :3, 3]
            centre = self.T_world_map[:3, :3] @ centre_map + self.T_world_map[:3, 3]
            yaw = float(np.arctan2(T[i, 1, 0], T[i, 0, 0]) + yaw0)
            out.append(ObjectState(agent.instance_id, agent.semantic, centre, agent.size.copy(),
                                   float(np.arctan2(np.sin(yaw), np.cos(yaw))), R @ vel[i], bool(moving[i])))
        return out


def simulate(config: SceneConfig, rig: Rig, num_frames: int, *, calibration_error_deg: float = 0.0,
             faults: dict[str, float] | None = None) -> Iterator[LabeledFrame]:
    """Yield ``num_frames`` labelled frames; the same (config, rig, arguments) give byte-identical arrays."""
    if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 0:
        raise ValueError(f"num_frames must be a non-negative integer; got {num_frames!r}")
    if not 0.0 <= calibration_error_deg <= 45.0:
        raise ValueError(f"calibration_error_deg must be in [0, 45]; got {calibration_error_deg!r}")
    faults = _check_faults(faults)
    drive = Drive(config, rig, calibration_error_deg)
    end_x = config.ego_speed * (num_frames + 1) * drive.period
    if end_x > config.road_length:
        raise ValueError(f"{num_frames} frames at {config.ego_speed} m/s drive {end_x:.0f} m, past the end of the "
                         f"{config.road_length:.0f} m road; raise SceneConfig.road_length")
    return _frames(drive, num_frames, faults)


def _frames(drive: Drive, num_frames: int, faults: dict[str, float]) -> Iterator[LabeledFrame]:
    world, rig, cfg = drive.world, drive.rig, drive.world.config
    light = make_light(cfg.light, np.random.default_rng([cfg.seed, 3]))
    previous: dict[str, np.ndarray] = {}
    for i in range(num_frames):
        t0 = i * drive.period
        t_mid = t0 + 0.5 * drive.period
        stamp = EPOCH_NS + round(i * 1e9 * drive.period)
        rng = np.random.default_rng([cfg.seed, 11, i])
        snap = world.snapshot(t_mid)
        sweep = scan(snap.rays, rig.lidar, functools.partial(drive.T_map_lidar_after, t0), world.tri_reflectivity, rng)
        label = pack_label(world.tri_semantic[sweep.triangle], world.tri_instance[sweep.triangle])
        T_next, active_next, _, _ = world.agent_states(t_mid + drive.period)
        images, truths = {}, {}
        fault_draws = np.random.default_rng([cfg.seed, 13, i]).random((len(rig.cameras), len(FAULTS)))
        for k, (name, cam) in enumerate(rig.cameras.items()):
            hit = dict(zip(FAULTS, fault_draws[k] < np.array([faults[f] for f in FAULTS]), strict=True))
            gain = _EXPOSURE_FAULT["overexpose"] if hit["overexpose"] else 1.0
            gain *= _EXPOSURE_FAULT["underexpose"] if hit["underexpose"] else 1.0
            r = render(world, snap, cam, drive.T_map_cam(name, t_mid), light, world.ego_pose(t_mid), rng, gain)
            tri_agent = np.where(r.triangle >= 0, world.tri_agent[np.maximum(r.triangle, 0)], -1)
            r.truth.flow = forward_flow(cam, r.points, tri_agent, snap.T_map_agent, T_next, active_next,
                                        drive.T_map_cam(name, t_mid + drive.period))
            rgb = previous[name] if hit["frozen"] and name in previous else r.rgb
            previous[name] = rgb
            if hit["camera_dropout"]:
                continue
            images[name] = CameraImage(drive.reported_cameras[name], stamp + round(0.5e9 * drive.period), rgb)
            truths[name] = r.truth
        sensor = SensorFrame(stamp, sweep.points, images, sweep.point_time, index=i)
        yield LabeledFrame(sensor, label, drive.T_world_lidar(t0), truths, drive.objects(t_mid))


def _check_faults(faults: dict[str, float] | None) -> dict[str, float]:
    out = dict.fromkeys(FAULTS, 0.0)
    for key, p in (faults or {}).items():
        if key not in out:
            raise ValueError(f"unknown fault {key!r}; known: {', '.join(FAULTS)}")
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"fault probability {key!r} must be in [0, 1]; got {p!r}")
        out[key] = float(p)
    return out


def _axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues' rotation formula."""
    k = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k
