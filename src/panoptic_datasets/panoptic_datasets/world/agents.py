"""Things in the world: parked and moving vehicles, cyclists, pedestrians, each on a path.

An agent moves along a 3D polyline (map frame) with arc length ``s(t) = s0 + v (t - clip(t -
t_stop, 0, stop))``: constant speed with at most one stop. It exists while 0 <= s <= path
length (it appears at the path start and vanishes at the end: drives off, enters a building).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .layout import CURB_HEIGHT, PARKING_WIDTH, Layout
from .meshes import (
    BICYCLE,
    BICYCLIST,
    CAR,
    MOTORCYCLE,
    MOTORCYCLIST,
    OTHER_VEHICLE,
    PERSON,
    TRUCK,
    Soup,
    person_mesh,
    two_wheeler_mesh,
    vehicle_mesh,
)
from .scene_config import SceneConfig

SPREAD = 160.0  # [m] static things are spread over this much of the drive ahead of the start
_CAR_COLORS = np.array([[0.75, 0.75, 0.77], [0.08, 0.08, 0.1], [0.55, 0.05, 0.05], [0.1, 0.2, 0.5], [0.9, 0.9, 0.9],
                        [0.35, 0.37, 0.4], [0.15, 0.3, 0.2], [0.7, 0.55, 0.2]])


@dataclass
class Agent:
    instance_id: int
    semantic: int
    size: np.ndarray  # (3,) length, width, height [m]; replaced by the mesh's tight bounds
    path: np.ndarray  # (P, 3) polyline, map frame
    speed: float  # [m/s]
    s0: float  # arc length at t = 0 [m]
    mesh: Soup
    t_stop: float = np.inf
    stop: float = 0.0

    def __post_init__(self) -> None:
        lo, hi = self.mesh.vertices.min(axis=0), self.mesh.vertices.max(axis=0)
        self.size = hi - lo
        self.box_center = (lo + hi) / 2  # in the agent frame
        seg = np.diff(self.path, axis=0)
        self._seg_len = np.linalg.norm(seg, axis=1)
        self._cum = np.concatenate([[0.0], np.cumsum(self._seg_len)])
        self._dir = seg / np.maximum(self._seg_len, 1e-9)[:, None] if len(seg) else np.array([[1.0, 0.0, 0.0]])

    @property
    def length(self) -> float:
        return float(self._cum[-1])

    def state(self, t: float) -> tuple[np.ndarray, float, np.ndarray, bool, bool]:
        """(position on the ground (3,), yaw, velocity (3,), active, moving) at time t [s]."""
        paused = min(max(t - self.t_stop, 0.0), self.stop)
        s = self.s0 + self.speed * (t - paused)
        active = -1e-9 <= s <= self.length + 1e-9
        moving = self.speed > 0 and not 0 < t - self.t_stop < self.stop
        if len(self._seg_len) == 0:
            return self.path[0].copy(), 0.0, np.zeros(3), True, False
        k = int(np.clip(np.searchsorted(self._cum, s, side="right") - 1, 0, len(self._seg_len) - 1))
        d = self._dir[k]
        pos = self.path[k] + d * (np.clip(s, 0.0, self.length) - self._cum[k])
        yaw = float(np.arctan2(d[1], d[0]))
        return pos, yaw, d * self.speed if moving else np.zeros(3), active, moving


class AgentFactory:
    """Draws agents for a layout; instance ids are 1, 2, ... in creation order."""

    def __init__(self, config: SceneConfig, layout: Layout, rng: np.random.Generator, ego_x: Callable[[float], float]) -> None:
        self.cfg, self.lay, self.rng, self.ego_x = config, layout, rng, ego_x
        self.agents: list[Agent] = []
        self.horizon = 60.0 if config.ego_speed == 0 else min(60.0, config.road_length / config.ego_speed)
        self.spread = min(config.ego_speed * self.horizon, SPREAD)  # [m] of the drive that parked things line

    def _add(self, semantic: int, size: np.ndarray, path: np.ndarray, speed: float, s0: float, mesh: Soup,
             t_stop: float = np.inf, stop: float = 0.0) -> Agent:
        inst = len(self.agents) + 1
        mesh.instance[:] = inst
        agent = Agent(inst, semantic, np.asarray(size, float), np.asarray(path, float), speed, s0, mesh, t_stop, stop)
        self.agents.append(agent)
        return agent

    def _ego_time_at(self, x: float) -> float:
        return np.inf if self.cfg.ego_speed == 0 else (x - self.ego_x(0.0)) / self.cfg.ego_speed

    # Vehicles -------------------------------------------------------------------------------
    def _vehicle_kind(self) -> tuple[int, np.ndarray]:
        u, r = self.rng.random(), self.rng
        if u < 0.75:
            return CAR, np.array([r.uniform(3.9, 4.9), r.uniform(1.7, 1.95), r.uniform(1.4, 1.7)])
        if u < 0.83:
            return TRUCK, np.array([r.uniform(6.5, 9.0), 2.4, r.uniform(2.8, 3.6)])
        if u < 0.9:
            big = r.random() < 0.5
            return OTHER_VEHICLE, np.array([r.uniform(9, 12), 2.5, 3.0]) if big else np.array([5.2, 2.0, 2.3])
        return MOTORCYCLE, np.array([2.1, 0.8, 1.1])

    def _vehicle(self, kind: tuple[int, np.ndarray], moving: bool, path: np.ndarray, speed: float, s0: float,
                 **stop: float) -> Agent:
        semantic, size = kind
        color = _CAR_COLORS[self.rng.integers(len(_CAR_COLORS))] * self.rng.uniform(0.85, 1.1)
        if semantic == MOTORCYCLE:
            rider = moving
            semantic = MOTORCYCLIST if rider else MOTORCYCLE
            size = np.array([2.1, 0.8, 1.65 if rider else 1.1])
            mesh = two_wheeler_mesh(semantic, size, color, self._shirt() if rider else None)
        else:
            mesh = vehicle_mesh(semantic, size, color)
        return self._add(semantic, size, path, speed, s0, mesh, **stop)

    def vehicles(self, n_moving: int, n_parked: int) -> None:
        lay, r = self.lay, self.rng
        x0, x1 = lay.x_range
        lanes = [(-(k + 0.5) * lay.lane_width, 1.0, k) for k in range(lay.lanes)]
        lanes += [((k + 0.5) * lay.lane_width, -1.0, k + lay.lanes) for k in range(lay.lanes)]
        lane_speed = {k: r.uniform(7.0, 13.0) * self.cfg.speed_scale for _, _, k in lanes}
        if lane_speed[0] < self.cfg.ego_speed + 1.0:  # the ego lane holds only leaders faster than the ego
            lanes = lanes[1:]
        occupied: dict[int, list[tuple[float, float]]] = {k: [] for _, _, k in lanes}
        crossings = [xi for xi in lay.intersections if -30 < xi - self.ego_x(0.0) < self.cfg.ego_speed * self.horizon + 80]
        for _ in range(n_moving):
            kind = self._vehicle_kind()
            if crossings and r.random() < 0.25:
                self._cross_traffic(kind, float(r.choice(crossings)))
                continue
            y, direction, k = lanes[r.integers(len(lanes))]
            half = kind[1][0] / 2 + 3.0
            lo = self.ego_x(0.0) + (12.0 if k == 0 else -40.0)
            for _try in range(20):
                x = float(r.uniform(lo, self.ego_x(0.0) + 110.0))
                if all(abs(x - o) > half + h for o, h in occupied[k]):
                    break
            else:
                continue
            occupied[k].append((x, half))
            path = np.array([[x0, y, 0.0], [x1, y, 0.0]]) if direction > 0 else np.array([[x1, y, 0.0], [x0, y, 0.0]])
            s0 = x - x0 if direction > 0 else x1 - x
            self._vehicle(kind, lane_speed[k] > 0, path, float(lane_speed[k]), s0)
        self._parked(n_parked)

    def _cross_traffic(self, kind: tuple[int, np.ndarray], xi: float) -> None:
        """A vehicle on a side street that crosses the main road while the ego is elsewhere."""
        lay, r = self.lay, self.rng
        direction = 1.0 if r.random() < 0.5 else -1.0
        x = xi + direction * lay.lane_width / 2
        ext = lay.cross_extent
        path = np.array([[x, -direction * ext, 0.0], [x, direction * ext, 0.0]])
        v = float(r.uniform(6.0, 11.0) * self.cfg.speed_scale)
        t_ego = self._ego_time_at(xi)
        for _try in range(20):
            t_cross = float(r.uniform(-5.0, self.horizon))
            if abs(t_cross - t_ego) > 4.0:
                break
        s_cross = ext  # arc length at the main road centreline
        s0 = s_cross - v * t_cross if v > 0 else ext - lay.curb - 4.0  # a standing car waits at the stop line
        stop = {}
        if v > 0 and r.random() < 0.5:  # wait at the stop line first
            t_line = t_cross - (lay.curb + 3.0) / v
            stop = {"t_stop": t_line - 2.0, "stop": 2.0} if abs(t_cross - t_ego) > 6.0 else {}
        self._vehicle(kind, v > 0, path, v, s0, **stop)

    def _parked(self, n: int) -> None:
        lay, r = self.lay, self.rng
        taken: list[tuple[float, float, float]] = []
        for _ in range(n):
            kind = self._vehicle_kind()
            side = -1.0 if r.random() < 0.5 else 1.0
            for _try in range(30):
                x = float(r.uniform(self.ego_x(0.0) - 40.0, self.ego_x(0.0) + 40.0 + self.spread))
                half = kind[1][0] / 2 + 0.8
                if lay.in_intersection(np.array(x), margin=half + 4.5):
                    continue
                if all(s != side or abs(x - o) > half + h for o, h, s in taken):
                    break
            else:
                continue
            taken.append((x, half, side))
            y = side * (lay.road_half + PARKING_WIDTH / 2)
            heading = 1.0 if side < 0 else -1.0
            path = np.array([[x, y, 0.0], [x + heading, y, 0.0]])
            self._vehicle(kind, False, path, 0.0, 0.0)

    # Cyclists and parked two-wheelers ---------------------------------------------------------
    def _shirt(self) -> np.ndarray:
        return np.clip(self.rng.uniform(0.05, 0.95, 3) * self.rng.uniform(0.6, 1.0), 0, 1)

    def cyclists(self, n: int, n_parked: int) -> None:
        """``n`` riding bicyclists and ``n_parked`` parked bicycles / motorcycles on the sidewalks."""
        lay, r = self.lay, self.rng
        x0, x1 = lay.x_range
        for _ in range(n):
            direction = 1.0 if r.random() < 0.6 else -1.0
            y = -direction * (lay.road_half - 0.45)
            x = float(r.uniform(self.ego_x(0.0) - 20.0, self.ego_x(0.0) + 100.0))
            v = float(r.uniform(3.5, 6.5) * self.cfg.speed_scale)
            size = np.array([1.8, 0.6, 1.75])
            mesh = two_wheeler_mesh(BICYCLIST, size, self._shirt() * 0.8, self._shirt())
            path = np.array([[x0, y, 0.0], [x1, y, 0.0]]) if direction > 0 else np.array([[x1, y, 0.0], [x0, y, 0.0]])
            self._add(BICYCLIST, size, path, v, x - x0 if direction > 0 else x1 - x, mesh)
        for _ in range(n_parked):
            motor = r.random() < 0.3
            semantic = MOTORCYCLE if motor else BICYCLE
            size = np.array([2.1, 0.8, 1.1]) if motor else np.array([1.75, 0.6, 1.05])
            side = -1.0 if r.random() < 0.5 else 1.0
            x = float(r.uniform(self.ego_x(0.0) - 20.0, self.ego_x(0.0) + 40.0 + self.spread))
            if lay.in_intersection(np.array(x), margin=3.0):
                x += 2 * lay.cross_half + 6.0
            y = side * (lay.curb + lay.sidewalk_width - 1.0)
            mesh = two_wheeler_mesh(semantic, size, _CAR_COLORS[r.integers(len(_CAR_COLORS))], None)
            path = np.array([[x, y, CURB_HEIGHT], [x, y + 1.0, CURB_HEIGHT]])
            self._add(semantic, size, path, 0.0, 0.0, mesh)

    # Pedestrians -----------------------------------------------------------------------------
    def pedestrians(self, n_moving: int, n_static: int) -> None:
        lay, r = self.lay, self.rng
        ex = self.ego_x(0.0)
        reach = ex + self.spread
        cross_share = 0.7 if self.cfg.occlusion_heavy else 0.35
        for _ in range(n_moving):
            size = np.array([0.5, 0.6, r.uniform(1.55, 1.95)])
            speed = float(r.uniform(1.0, 1.7) * self.cfg.speed_scale)
            side = -1.0 if r.random() < 0.5 else 1.0
            walk_y = side * (lay.curb + lay.sidewalk_width * r.uniform(0.35, 0.75))
            if r.random() < cross_share:
                self._crossing(size, speed, side, walk_y, ex, reach)
                continue
            x = float(r.uniform(ex - 20.0, min(reach, ex + 120.0)))
            direction = 1.0 if r.random() < 0.5 else -1.0
            path = [[x - direction * 5.0, walk_y, CURB_HEIGHT], [x + direction * 60.0, walk_y, CURB_HEIGHT]]
            if r.random() < 0.35:  # turns into a building door and vanishes
                facade = side * (lay.curb + lay.sidewalk_width + 0.3)
                path = [path[0], [x + direction * 12.0, walk_y, CURB_HEIGHT], [x + direction * 12.0, facade, CURB_HEIGHT]]
            stop = {"t_stop": float(r.uniform(0, 20)), "stop": float(r.uniform(2, 8))} if r.random() < 0.4 else {}
            self._add(PERSON, size, np.array(path), speed, 0.0, person_mesh(size, self._shirt(), self._shirt() * 0.6),
                      **stop)
        for _ in range(n_static):
            size = np.array([0.5, 0.6, r.uniform(1.55, 1.95)])
            side = -1.0 if r.random() < 0.5 else 1.0
            x = float(r.uniform(ex - 20.0, min(reach, ex + 100.0)))
            y = side * (lay.curb + lay.sidewalk_width * r.uniform(0.3, 0.8))
            yaw = r.uniform(-np.pi, np.pi)
            path = np.array([[x, y, CURB_HEIGHT], [x + np.cos(yaw), y + np.sin(yaw), CURB_HEIGHT]])
            self._add(PERSON, size, path, 0.0, 0.0, person_mesh(size, self._shirt(), self._shirt() * 0.6))

    def _crossing(self, size: np.ndarray, speed: float, side: float, walk_y: float, ex: float, reach: float) -> None:
        """Walk along the sidewalk, cross the main road (at a crosswalk, or between parked cars), walk on."""
        lay, r = self.lay, self.rng
        heavy = self.cfg.occlusion_heavy
        near = [xi for xi in lay.intersections if ex - 10 < xi < reach + 40]
        if near and not (heavy and r.random() < 0.7):
            xc = float(r.choice(near)) - lay.cross_half - 3.0
        else:
            xc = float(r.uniform(ex + 10.0, ex + 60.0 + self.cfg.ego_speed * min(self.horizon, 10.0)))
        c = lay.curb
        lead = float(r.uniform(3.0, 12.0))
        path = np.array([[xc - lead, walk_y, CURB_HEIGHT], [xc, walk_y, CURB_HEIGHT], [xc, side * c, CURB_HEIGHT],
                         [xc, side * (c - 0.3), 0.0], [xc, -side * (c - 0.3), 0.0], [xc, -side * c, CURB_HEIGHT],
                         [xc, -walk_y, CURB_HEIGHT], [xc + 40.0, -walk_y, CURB_HEIGHT]])
        if speed <= 0:
            self._add(PERSON, size, path, 0.0, lead, person_mesh(size, self._shirt(), self._shirt() * 0.6))
            return
        s_lane = lead + abs(walk_y - side * c) + 0.3 + (c - 0.3) + lay.lane_width / 2  # arc length at the ego lane
        t_ego = self._ego_time_at(xc)
        wanted = t_ego - (r.uniform(1.5, 3.5) if heavy else r.uniform(-10.0, 10.0))
        if not np.isfinite(wanted):
            wanted = float(r.uniform(0, self.horizon))
        if abs(wanted - t_ego) < 1.5:
            wanted = t_ego - 1.5
        s0 = s_lane - speed * wanted
        self._add(PERSON, size, path, speed, s0, person_mesh(size, self._shirt(), self._shirt() * 0.6))


def make_agents(config: SceneConfig, layout: Layout, rng: np.random.Generator, ego_x: Callable[[float], float]) -> list[Agent]:
    """All things of a scene, ``dynamic_share`` of vehicles and pedestrians moving."""
    f = AgentFactory(config, layout, rng, ego_x)
    n_mv = int(round(config.dynamic_share * config.num_vehicles))
    n_mp = int(round(config.dynamic_share * config.num_pedestrians))
    n_parked = config.num_vehicles - n_mv + (6 if config.occlusion_heavy else 0)
    f.vehicles(n_mv, n_parked)
    n_mc = int(round(config.dynamic_share * config.num_cyclists))
    f.cyclists(n_mc, config.parked_bicycles + config.num_cyclists - n_mc)
    f.pedestrians(n_mp, config.num_pedestrians - n_mp)
    return f.agents
