"""A tree of static rigid transforms (what /tf_static carries), looked up between any two frames."""

from __future__ import annotations

from collections import deque

import numpy as np


class TransformLookupError(LookupError):
    """No chain of transforms connects the two frames."""


class TransformTree:
    """Frames joined by 4x4 transforms; ``add(parent, child, T_parent_child)`` maps child points into parent."""

    def __init__(self) -> None:
        self._edges: dict[str, dict[str, np.ndarray]] = {}

    def add(self, parent: str, child: str, T_parent_child: np.ndarray) -> None:
        T = np.asarray(T_parent_child, dtype=np.float64).reshape(4, 4)
        R = T[:3, :3]
        if not np.allclose(R @ R.T, np.eye(3), atol=1e-6) or not np.allclose(T[3], [0, 0, 0, 1]):
            raise ValueError(f"transform {parent} -> {child} is not rigid")
        self._edges.setdefault(parent, {})[child] = T
        self._edges.setdefault(child, {})[parent] = _inverse(T)

    def lookup(self, target: str, source: str) -> np.ndarray:
        """T_target_source: maps points in ``source`` into ``target``."""
        if target == source:
            return np.eye(4)
        previous: dict[str, str] = {source: source}
        queue = deque([source])
        while queue:  # breadth first from the source; rig trees are a handful of frames
            frame = queue.popleft()
            for neighbour in self._edges.get(frame, {}):
                if neighbour not in previous:
                    previous[neighbour] = frame
                    queue.append(neighbour)
        if target not in previous:
            raise TransformLookupError(f"no transform chain from {source!r} to {target!r}; frames: {sorted(self._edges)}")
        T = np.eye(4)
        frame = target
        while frame != source:  # T_target_source = T_target_a @ T_a_b @ ... @ T_z_source
            parent = previous[frame]
            T = T @ self._edges[frame][parent]
            frame = parent
        return T

    def __contains__(self, frame: str) -> bool:
        return frame in self._edges


def _inverse(T: np.ndarray) -> np.ndarray:
    inv = np.eye(4)
    inv[:3, :3] = T[:3, :3].T
    inv[:3, 3] = -T[:3, :3].T @ T[:3, 3]
    return inv
