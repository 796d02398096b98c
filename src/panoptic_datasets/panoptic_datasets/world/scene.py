"""The world: static city + agents + the ego trajectory, as closed-form functions of time.

Everything here is in the map frame (ground at z = 0). ``snapshot(t)`` places the agents and
builds the Embree scene of that instant: static triangles first, then every agent's
triangles (agents that are not in the world at ``t`` are parked far below the ground).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .agents import Agent, make_agents
from .layout import Layout, build_layout
from .meshes import Soup
from .raycast import RayScene
from .scene_config import SceneConfig

_WIGGLE_AMPLITUDE = 0.3  # [m] lateral lane-keeping sway of the ego, so that it also turns a little
_WIGGLE_WAVELENGTH = 60.0  # [m]
_AWAY = np.array([0.0, 0.0, -1000.0])


def yaw_matrix(yaw: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations about +z."""
    c, s = np.cos(yaw), np.sin(yaw)
    R = np.zeros(np.shape(yaw) + (3, 3))
    R[..., 0, 0], R[..., 0, 1], R[..., 1, 0], R[..., 1, 1], R[..., 2, 2] = c, -s, s, c, 1.0
    return R


@dataclass
class Snapshot:
    """The world at one instant: the ray scene, per-triangle attributes, agent poses."""

    time: float
    rays: RayScene
    T_map_agent: np.ndarray  # (A, 4, 4)
    active: np.ndarray  # (A,) bool
    moving: np.ndarray  # (A,) bool
    velocity: np.ndarray  # (A, 3) [m/s]


class World:
    """The static and dynamic scene built from a SceneConfig; deterministic in ``config.seed``."""

    def __init__(self, config: SceneConfig) -> None:
        self.config = config
        self.layout: Layout = build_layout(config, np.random.default_rng([config.seed, 0]))
        self.ego_lane_y = -config.lane_width / 2
        self.agents: list[Agent] = make_agents(config, self.layout, np.random.default_rng([config.seed, 1]),
                                               lambda t: float(self.ego_xy(np.array(t))[0]))
        static = self.layout.soup
        dyn = Soup.concatenate([a.mesh for a in self.agents])
        self._dyn_local = dyn.vertices
        self._dyn_faces = dyn.faces
        self._vertex_agent = np.repeat(np.arange(len(self.agents)), [len(a.mesh.vertices) for a in self.agents])
        self.num_static_triangles = len(static.faces)
        both = Soup.concatenate([static, dyn])
        self.tri_semantic = both.semantic
        self.tri_instance = both.instance
        self.tri_color = both.color
        self.tri_reflectivity = both.reflectivity
        self.tri_agent = np.concatenate([np.full(len(static.faces), -1),
                                         np.repeat(np.arange(len(self.agents)), [len(a.mesh.faces) for a in self.agents])])
        self._static = static

    # Ego ---------------------------------------------------------------------------------------
    def ego_xy(self, t: np.ndarray) -> np.ndarray:
        x = self.config.ego_speed * np.asarray(t, dtype=np.float64)
        y = self.ego_lane_y + _WIGGLE_AMPLITUDE * np.sin(2 * np.pi * x / _WIGGLE_WAVELENGTH)
        return np.stack([x, y])

    def ego_pose(self, t: np.ndarray | float) -> np.ndarray:
        """T_map_base at time(s) t [s]: (..., 4, 4)."""
        t = np.asarray(t, dtype=np.float64)
        x, y = self.ego_xy(t)
        slope = _WIGGLE_AMPLITUDE * 2 * np.pi / _WIGGLE_WAVELENGTH * np.cos(2 * np.pi * x / _WIGGLE_WAVELENGTH)
        T = np.zeros(t.shape + (4, 4))
        T[..., :3, :3] = yaw_matrix(np.arctan(slope) if self.config.ego_speed > 0 else np.zeros_like(t))
        T[..., 0, 3], T[..., 1, 3], T[..., 3, 3] = x, y, 1.0
        return T

    # Agents ------------------------------------------------------------------------------------
    def agent_states(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """T_map_agent (A, 4, 4), active (A,), moving (A,), velocity (A, 3) at time t."""
        n = len(self.agents)
        T = np.tile(np.eye(4), (n, 1, 1))
        active, moving, vel = np.zeros(n, bool), np.zeros(n, bool), np.zeros((n, 3))
        for i, agent in enumerate(self.agents):
            pos, yaw, v, act, mov = agent.state(t)
            T[i, :3, :3] = yaw_matrix(np.array(yaw))
            T[i, :3, 3] = pos if act else _AWAY
            active[i], moving[i], vel[i] = act, mov, v
        return T, active, moving, vel

    def snapshot(self, t: float) -> Snapshot:
        T, active, moving, vel = self.agent_states(t)
        if len(self.agents):
            Tv = T[self._vertex_agent]
            verts = np.einsum("nij,nj->ni", Tv[:, :3, :3], self._dyn_local) + Tv[:, :3, 3]
        else:
            verts = np.zeros((0, 3))
        rays = RayScene([(self._static.vertices, self._static.faces), (verts, self._dyn_faces)])
        return Snapshot(t, rays, T, active, moving, vel)
