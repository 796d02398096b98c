"""``PanopticMap``: static voxel layer + dynamic layer + merged instances, with save / load."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core import ClassTable, PanopticCloud, load_class_table
from . import keys as K
from .config import MapConfig
from .dynamic_layer import DynamicLayer
from .errors import MapFileError, MappingInputError
from .export import make_records, write_instances, write_json, write_pcd, write_ply
from .instances import InstanceRegistry, MapInstance, extract_segments
from .merging import InstanceMerger
from .storage import confine_path, load_npz, save_npz
from .voxel_map import VoxelMap, occupied_columns

FORMAT_VERSION = 1


@dataclass
class MapSnapshot:
    """Occupied voxels (log-odds > 0) with their labels, sorted by key."""

    keys: np.ndarray
    centres: np.ndarray  # (M, 3) [m] odom frame
    class_id: np.ndarray  # (M,) uint16
    instance_id: np.ndarray  # (M,) uint32, 0 on stuff
    logodds: np.ndarray

    def lookup(self, points: np.ndarray, voxel_size: float) -> tuple[np.ndarray, np.ndarray]:
        """Class and instance of the voxel holding each point; 0 where the map has none."""
        k = K.voxel_keys(points, voxel_size)
        pos = np.searchsorted(self.keys, k)
        ok = pos < self.keys.shape[0]
        ok[ok] = self.keys[pos[ok]] == k[ok]
        cls = np.zeros(points.shape[0], np.uint16)
        inst = np.zeros(points.shape[0], np.uint32)
        cls[ok], inst[ok] = self.class_id[pos[ok]], self.instance_id[pos[ok]]
        return cls, inst


@dataclass
class FrameUpdate:
    instance_of_segment: dict[int, int]  # per-frame instance id -> map instance id
    num_static_points: int
    num_dynamic_points: int
    num_hypotheses: int


def moving_track_ids(moving: Mapping[int, bool] | Iterable[Any] | None) -> np.ndarray:
    """Track ids flagged moving, from {track_id: moving} or tracker outputs (``.track_id``, ``.moving``)."""
    if moving is None:
        return np.zeros(0, np.int64)
    if isinstance(moving, Mapping):
        return np.array(sorted(int(t) for t, m in moving.items() if m), np.int64)
    return np.array(sorted(int(t.track_id) for t in moving if t.moving), np.int64)


class PanopticMap:
    def __init__(self, config: MapConfig | None = None, class_table: ClassTable | None = None) -> None:
        self.config = config or MapConfig()
        self.class_table = class_table or load_class_table()
        if self.class_table.num_classes != self.config.num_classes:
            raise MappingInputError(f"MapConfig.num_classes={self.config.num_classes} but the class table has "
                                    f"{self.class_table.num_classes} classes")
        self.is_thing = self.class_table.is_thing_lut()
        self.reset()

    def reset(self) -> None:
        if getattr(self, "voxels", None) is not None:
            self.voxels.close()
        self.voxels = VoxelMap(self.config)
        self.registry = InstanceRegistry(self.config.num_classes)
        self.merger = InstanceMerger(self.config)
        self.dynamic = DynamicLayer(self.config.voxel_size, self.config.dynamic_ttl_s)
        self.frames = 0

    def close(self) -> None:
        self.voxels.close()

    @property
    def nbytes(self) -> int:
        inst = sum(i.keys.nbytes + i.class_votes.nbytes for i in self.registry.instances.values())
        return self.voxels.nbytes + inst + self.dynamic.nbytes

    def integrate(self, cloud: PanopticCloud, T_odom_lidar: np.ndarray,
                  moving: Mapping[int, bool] | Iterable[Any] | None = None) -> FrameUpdate:
        """Fuse one panoptic sweep taken at pose ``T_odom_lidar``; ``moving`` flags tracks (by track id)."""
        cfg = self.config
        T = np.asarray(T_odom_lidar, np.float64)
        if T.shape != (4, 4) or not np.all(np.isfinite(T)):
            raise MappingInputError(f"T_odom_lidar must be a finite 4x4 matrix; got shape {T.shape}")
        n = cloud.points.shape[0]
        for name in ("class_id", "instance_id", "score"):
            if np.asarray(getattr(cloud, name)).shape != (n,):
                raise MappingInputError(f"PanopticCloud.{name} must have shape ({n},)")
        if cloud.track_id is not None and np.asarray(cloud.track_id).shape != (n,):
            raise MappingInputError(f"PanopticCloud.track_id must have shape ({n},)")
        # Into the odom frame; points beyond the window are not integrated (they could hit spilled blocks)
        xyz = cloud.points[:, :3].astype(np.float64)
        r = np.linalg.norm(xyz, axis=1)
        ok = np.isfinite(r) & (r <= cfg.window_radius)
        pts = xyz[ok] @ T[:3, :3].T + T[:3, 3]
        origin = T[:3, 3]
        cls = np.asarray(cloud.class_id)[ok].astype(np.int64)
        inst = np.asarray(cloud.instance_id)[ok].astype(np.int64)
        score = np.asarray(cloud.score, np.float64)[ok]
        track = np.zeros(pts.shape[0], np.int64) if cloud.track_id is None else np.asarray(cloud.track_id)[ok]
        dyn = np.isin(track, moving_track_ids(moving)) & (track > 0)
        # Dynamic layer
        self.dynamic.update(pts[dyn], cls[dyn], track[dyn], cloud.stamp_ns)
        # Instances: per-frame segments -> map instances
        st = ~dyn
        pts_s, cls_s, inst_s = pts[st], cls[st], inst[st]
        self.voxels.maintain_window(origin, self.registry.alias)
        segments = extract_segments(pts_s, cls_s, inst_s, score[st], self.is_thing, cfg.voxel_size,
                                    cfg.min_segment_points)
        res = self.merger.step(segments, self.registry, cloud.stamp_ns, self.frames)
        if res.merged:
            self.voxels.relabel_instances(res.merged)
        map_inst = np.zeros(pts_s.shape[0], np.uint32)
        for seg, iid in zip(segments, res.instance_of_segment, strict=True):
            map_inst[seg.point_index] = iid
        # Static layer
        self.voxels.integrate(pts_s, cls_s, map_inst, origin)
        self.frames += 1
        return FrameUpdate({s.frame_instance: i for s, i in zip(segments, res.instance_of_segment, strict=True)},
                           int(st.sum()), int(dyn.sum()), res.num_hypotheses)

    # ---- queries ---------------------------------------------------------------------------------
    def snapshot(self, include_spilled: bool = True) -> MapSnapshot:
        occ = self.voxels.occupied(self.registry.alias) if include_spilled else occupied_columns(self.voxels.cols)
        cls = occ["class_id"]
        inst = np.where(self.is_thing[cls], occ["instance"], 0).astype(np.uint32)  # instances only on things
        return MapSnapshot(occ["keys"], K.centres(occ["keys"], self.config.voxel_size), cls, inst, occ["logodds"])

    def instances(self) -> list[dict[str, Any]]:
        names = self.class_table.names
        return [i.summary(self.config.voxel_size, names) for _, i in sorted(self.registry.instances.items())]

    # ---- persistence -----------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the whole map (window and spilled blocks) under ``root_dir/directory``; returns the directory.

        Files: ``voxels.npz`` + ``instances.npz`` (state), ``map.json`` (config, counters),
        ``instances.json`` (MapInstance list), ``map.ply`` / ``map.pcd`` (labelled voxel centres).
        """
        out = confine_path(self.config.root_dir, directory)
        out.mkdir(parents=True, exist_ok=True)
        cols = self.voxels.all_columns(self.registry.alias)
        save_npz(out / "voxels.npz", cols)
        insts = [i for _, i in sorted(self.registry.instances.items())]
        keys = [i.keys for i in insts]
        conflicts = [(i.instance_id, c) for i in insts for c in sorted(i.conflicts)]
        save_npz(out / "instances.npz", {
            "instance_id": np.array([i.instance_id for i in insts], np.int64),
            "class_votes": np.array([i.class_votes for i in insts], np.float64).reshape(-1, self.config.num_classes),
            "key_offsets": np.cumsum([0] + [k.shape[0] for k in keys]).astype(np.int64),
            "keys": np.concatenate(keys) if keys else np.zeros(0, np.int64),
            "num_observations": np.array([i.num_observations for i in insts], np.int64),
            "score_sum": np.array([i.score_sum for i in insts], np.float64),
            "seen_ns": np.array([[i.first_seen_ns, i.last_seen_ns] for i in insts], np.int64).reshape(-1, 2),
            "conflicts": np.array(conflicts, np.int64).reshape(-1, 2),
            "alias": np.array(sorted(self.registry.alias.items()), np.int64).reshape(-1, 2),
        })
        config = {k: v for k, v in self.config.as_dict().items() if k not in ("root_dir", "spill_dir")}
        write_json(out / "map.json", {"format_version": FORMAT_VERSION, "frame_id": "odom", "config": config,
                                      "next_instance_id": self.registry.next_id, "frames": self.frames,
                                      "class_table": self.class_table.dataset})
        write_instances(out / "instances.json", self.instances())
        snap = self.snapshot()
        records = make_records(snap.centres, snap.class_id, snap.instance_id, self.class_table.colors())
        write_ply(out / "map.ply", records)
        write_pcd(out / "map.pcd", records)
        return out

    @classmethod
    def load(cls, directory: str | os.PathLike[str], root_dir: str | os.PathLike[str] = ".",
             spill_dir: str | None = None, class_table: ClassTable | None = None) -> PanopticMap:
        """Read a map written by :meth:`save` from ``root_dir/directory``; mapping resumes from it."""
        src = confine_path(root_dir, directory)
        meta_path = src / "map.json"
        try:
            meta = json.loads(meta_path.read_text())
            if meta["format_version"] != FORMAT_VERSION:
                raise MapFileError(f"{meta_path}: format_version {meta['format_version']}, expected {FORMAT_VERSION}")
            config = MapConfig.from_dict({**meta["config"], "root_dir": str(root_dir), "spill_dir": spill_dir})
            next_id, frames = int(meta["next_instance_id"]), int(meta["frames"])
        except (OSError, json.JSONDecodeError, KeyError, TypeError, MappingInputError) as err:
            raise MapFileError(f"{meta_path}: cannot read map metadata: {err}") from err
        m = cls(config, class_table)
        cols = load_npz(src / "voxels.npz", ("keys", "counts", "logodds", "instance"))
        if cols["counts"].ndim != 2 or cols["counts"].shape != (cols["keys"].shape[0], config.num_classes):
            raise MapFileError(f"{src / 'voxels.npz'}: counts must be ({cols['keys'].shape[0]}, {config.num_classes})")
        m.voxels.cols = {"keys": cols["keys"].astype(np.int64), "counts": cols["counts"].astype(np.uint16),
                         "logodds": cols["logodds"].astype(np.float32), "instance": cols["instance"].astype(np.uint32)}
        st = load_npz(src / "instances.npz", ("instance_id", "class_votes", "key_offsets", "keys", "num_observations",
                                               "score_sum", "seen_ns", "conflicts", "alias"))
        off = st["key_offsets"]
        for j, iid in enumerate(st["instance_id"].tolist()):
            m.registry.instances[iid] = MapInstance(
                iid, st["class_votes"][j].copy(), st["keys"][off[j]:off[j + 1]].copy(), int(st["num_observations"][j]),
                float(st["score_sum"][j]), int(st["seen_ns"][j, 0]), int(st["seen_ns"][j, 1]))
        for a, b in st["conflicts"].tolist():
            m.registry.instances[a].conflicts.add(b)
        m.registry.alias = {int(a): int(b) for a, b in st["alias"].tolist()}
        m.registry.next_id, m.frames = next_id, frames
        return m
