"""Ray casting with Embree (through embreex, the binding trimesh's ``ray_pyembree`` uses).

We call embreex directly rather than through ``trimesh.ray.ray_pyembree.RayMeshIntersector``
because its ``output=1`` query returns the hit distance and geometric normal with the
triangle id, which the trimesh wrapper recomputes per hit in Python.
"""

from __future__ import annotations

import numpy as np
from embreex import rtcore_scene
from embreex.mesh_construction import TriangleMesh


class RayScene:
    """An Embree BVH over one or more triangle meshes; triangle ids are global over the meshes."""

    def __init__(self, meshes: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self._scene = rtcore_scene.EmbreeScene()
        self._offsets = []
        offset = 0
        for vertices, faces in meshes:
            if len(faces) == 0:
                continue
            TriangleMesh(scene=self._scene, vertices=np.ascontiguousarray(vertices, dtype=np.float32),
                         indices=np.ascontiguousarray(faces, dtype=np.int32))
            self._offsets.append(offset)
            offset += len(faces)
        self._offsets_arr = np.array(self._offsets + [0], dtype=np.int64)
        self.num_triangles = offset

    def cast(self, origins: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """First hits of rays with unit ``directions``.

        Returns distance (N,) float64 (inf on a miss), global triangle id (N,) int64 (-1 on a
        miss) and the unnormalised geometric normal (N, 3) float64.
        """
        o = np.ascontiguousarray(np.broadcast_to(origins, directions.shape), dtype=np.float32)
        d = np.ascontiguousarray(directions, dtype=np.float32)
        if len(d) == 0 or self.num_triangles == 0:
            return np.full(len(d), np.inf), np.full(len(d), -1, np.int64), np.zeros((len(d), 3))
        res = self._scene.run(o, d, output=1)
        geom = np.asarray(res["geomID"], dtype=np.int64)
        hit = geom >= 0
        tri = np.where(hit, np.asarray(res["primID"], dtype=np.int64) + self._offsets_arr[geom], -1)
        dist = np.where(hit, np.asarray(res["tfar"], dtype=np.float64), np.inf)
        return dist, tri, np.asarray(res["Ng"], dtype=np.float64)

    def occluded(self, origins: np.ndarray, directions: np.ndarray, max_dist: float) -> np.ndarray:
        """Whether anything lies along each ray within ``max_dist`` (shadow rays)."""
        o = np.ascontiguousarray(origins, dtype=np.float32)
        d = np.ascontiguousarray(np.broadcast_to(directions, o.shape), dtype=np.float32)
        if len(o) == 0 or self.num_triangles == 0:
            return np.zeros(len(o), dtype=bool)
        res = self._scene.run(o, d, dists=np.full(len(o), max_dist, dtype=np.float32), query="OCCLUDED")
        return np.asarray(res) >= 0
