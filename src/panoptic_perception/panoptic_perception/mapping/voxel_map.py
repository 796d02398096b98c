"""The static layer: a hashed voxel map in the odometry frame with a local window and disk spill.

Storage is a sorted-array hash: ``keys`` (int64 packed cells, ascending) and aligned columns
``counts`` (M, C) uint16 class histogram, ``logodds`` float32 occupancy and ``instance`` uint32
map-instance id (0 = none). A frame is integrated with one ``np.unique`` plus one ``searchsorted``;
new cells are spliced in with ``np.insert`` (O(M + K), no re-sort).

Free space: each sweep is binned into a range image (0.5° azimuth x 0.25° elevation, nearest return);
a map voxel inside the sweep's field of view whose range is clearly shorter than the measured range of
its pixel was seen through and gets a miss. This removes traces of objects that moved before the
tracker flagged them. Margins keep grazing ground safe (see ``carve_margin``).

Window: 2D column blocks farther than ``window_radius`` from the sensor are written to
``block_<bx>_<by>.npz`` and dropped from memory; they are read back when the sensor returns.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from . import keys as K
from .config import MapConfig
from .errors import MappingInputError
from .storage import load_npz, save_npz

_COLUMNS = ("keys", "counts", "logodds", "instance")
_AZ_BIN = np.radians(0.5)
_EL_BIN = np.radians(0.25)
_N_EL = int(np.pi / _EL_BIN) + 1
_N_PIX = (int(2 * np.pi / _AZ_BIN) + 1) * _N_EL
_COUNT_CAP = 60000  # halve a histogram row before uint16 overflows


def _norms(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Lengths of (x, y, z) rows, column by column (as ``np.linalg.norm(axis=1)`` sums, without its copies)."""
    return np.sqrt(x * x + y * y + z * z)


def _range_pixels(x: np.ndarray, y: np.ndarray, z: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Range-image pixel (azimuth bin * _N_EL + elevation bin) of directions (x, y, z) of length r."""
    az = np.floor((np.arctan2(y, x) + np.pi) / _AZ_BIN).astype(np.int64)
    el = np.floor((np.arcsin(np.clip(z / r, -1, 1)) + np.pi / 2) / _EL_BIN).astype(np.int64)
    return az * _N_EL + el


def empty_columns(num_classes: int) -> dict[str, np.ndarray]:
    return {"keys": np.zeros(0, np.int64), "counts": np.zeros((0, num_classes), np.uint16),
            "logodds": np.zeros(0, np.float32), "instance": np.zeros(0, np.uint32)}


class VoxelMap:
    """Static layer of the panoptic map (stuff and parked things)."""

    def __init__(self, config: MapConfig) -> None:
        self.config = config
        self.cols = empty_columns(config.num_classes)
        self._own_spill = config.spill_dir is None
        self.spill_dir = Path(tempfile.mkdtemp(prefix="panoptic_map_spill_") if self._own_spill else config.spill_dir)
        self.spill_dir.mkdir(parents=True, exist_ok=True)
        self.spilled: set[int] = set()  # block ids on disk, not in memory
        # Occupied voxels of each spilled block (keys, class, raw instance, log-odds), kept so that a snapshot of
        # the whole map, published every second, reads no files: a fraction of the block's columns.
        self._spilled_occupied: dict[int, dict[str, np.ndarray]] = {}
        self._last_block: tuple[int, int] | None = None
        self._range_image = np.full(_N_PIX, np.inf)  # free-space carving's scratch: nearest return per pixel

    def __len__(self) -> int:
        return int(self.cols["keys"].shape[0])

    def close(self) -> None:
        if self._own_spill:
            shutil.rmtree(self.spill_dir, ignore_errors=True)

    def __del__(self) -> None:
        self.close()

    @property
    def nbytes(self) -> int:
        cached = sum(int(a.nbytes) for part in self._spilled_occupied.values() for a in part.values())
        return sum(int(a.nbytes) for a in self.cols.values()) + cached

    # ---- integration -------------------------------------------------------------------------
    def integrate(self, points: np.ndarray, class_id: np.ndarray, instance: np.ndarray, origin: np.ndarray) -> None:
        """Add (N, 3) odom-frame points with their class and map-instance ids, seen from ``origin``."""
        cfg = self.config
        n = points.shape[0]
        if class_id.shape != (n,) or instance.shape != (n,):
            raise MappingInputError(f"class_id/instance must be ({n},); got {class_id.shape}, {instance.shape}")
        if n and int(class_id.max()) >= cfg.num_classes:
            raise MappingInputError(f"class_id {int(class_id.max())} outside 0..{cfg.num_classes - 1}")
        if cfg.carve and len(self):
            self._carve(points, origin)
        if n == 0:
            return
        # Voxelize
        uniq, inv = np.unique(K.voxel_keys(points, cfg.voxel_size), return_inverse=True)
        hist = np.bincount(inv * cfg.num_classes + class_id.astype(np.int64),
                           minlength=uniq.shape[0] * cfg.num_classes).reshape(-1, cfg.num_classes)
        inst = np.zeros(uniq.shape[0], np.uint32)
        np.maximum.at(inst, inv, instance.astype(np.uint32))
        # Update existing cells
        keys = self.cols["keys"]
        pos = np.searchsorted(keys, uniq)
        found = pos < keys.shape[0]
        found[found] = keys[pos[found]] == uniq[found]
        p = pos[found]
        counts = self.cols["counts"][p].astype(np.int64) + hist[found]
        over = counts.max(axis=1) > _COUNT_CAP
        counts[over] //= 2
        self.cols["counts"][p] = counts.astype(np.uint16)
        self.cols["logodds"][p] = np.minimum(self.cols["logodds"][p] + cfg.logodds_hit, cfg.logodds_max)
        has = inst[found] > 0
        self.cols["instance"][p[has]] = inst[found][has]
        # Insert new cells
        new = ~found
        if new.any():
            add_counts = np.minimum(hist[new], _COUNT_CAP).astype(np.uint16)
            add = {"keys": uniq[new], "counts": add_counts,
                   "logodds": np.full(int(new.sum()), cfg.logodds_hit, np.float32), "instance": inst[new]}
            at = pos[new]
            for c in _COLUMNS:
                self.cols[c] = np.insert(self.cols[c], at, add[c], axis=0)

    def _carve(self, points: np.ndarray, origin: np.ndarray) -> None:
        cfg = self.config
        if points.shape[0] == 0:
            return
        d = points - origin
        r = _norms(d[:, 0], d[:, 1], d[:, 2])
        ok = r > 1e-3
        d, r = d[ok], r[ok]
        pix = _range_pixels(d[:, 0], d[:, 1], d[:, 2], r)
        # Nearest return per pixel, in a dense range image kept between sweeps (only its touched pixels are reset)
        nearest = self._range_image
        np.minimum.at(nearest, pix, r)
        try:
            # Map voxels within reach
            x, y, z = K.centre_columns(self.cols["keys"], cfg.voxel_size)
            dx, dy, dz = x - origin[0], y - origin[1], z - origin[2]
            rv = _norms(dx, dy, dz)
            near = np.flatnonzero((rv > 1e-3) & (rv < r.max()))
            if near.size == 0:
                return
            rv = rv[near]
            measured = nearest[_range_pixels(dx[near], dy[near], dz[near], rv)]
            seen_through = np.isfinite(measured)
            seen_through[seen_through] = rv[seen_through] < (measured[seen_through] * (1.0 - cfg.carve_margin)
                                                             - 2 * cfg.voxel_size)
        finally:
            nearest[pix] = np.inf
        idx = near[seen_through]
        if idx.size == 0:
            return
        lo = np.maximum(self.cols["logodds"][idx] + cfg.logodds_miss, cfg.logodds_min)
        self.cols["logodds"][idx] = lo
        dead = idx[lo <= cfg.logodds_min]
        if dead.size:
            keep = np.ones(len(self), bool)
            keep[dead] = False
            self._select(keep)

    # ---- queries -----------------------------------------------------------------------------
    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Row index of each key in memory, -1 where absent."""
        k = self.cols["keys"]
        pos = np.searchsorted(k, keys)
        ok = pos < k.shape[0]
        ok[ok] = k[pos[ok]] == keys[ok]
        return np.where(ok, pos, -1)

    def relabel_instances(self, mapping: dict[int, int]) -> None:
        """Rewrite instance ids in memory (merged instances); spilled blocks are rewritten on load."""
        relabel_column(self.cols["instance"], mapping)

    def _select(self, keep: np.ndarray) -> None:
        for c in _COLUMNS:
            self.cols[c] = self.cols[c][keep]

    # ---- window and spill --------------------------------------------------------------------
    def block_path(self, block_id: int) -> Path:
        bx, by = K.block_coords(block_id)
        return self.spill_dir / f"block_{bx}_{by}.npz"

    def maintain_window(self, origin: np.ndarray, instance_alias: dict[int, int] | None = None) -> None:
        """Spill blocks that left the window, reload spilled blocks that re-entered it."""
        cfg = self.config
        bsize = cfg.voxels_per_block * cfg.voxel_size
        here = (int(np.floor(origin[0] / bsize)), int(np.floor(origin[1] / bsize)))
        if here == self._last_block:
            return
        self._last_block = here
        here_centre = (np.array(here) + 0.5) * bsize

        # Keep every block that a disk of window_radius around ANY origin in the current block touches,
        # so points within window_radius never land in a spilled block until the next block change.
        def inside(bx: int, by: int) -> bool:
            centre = (np.array([bx, by]) + 0.5) * bsize
            return bool(np.hypot(*(centre - here_centre)) <= cfg.window_radius + bsize * np.sqrt(2))

        back = [b for b in self.spilled if inside(*K.block_coords(b))]
        if back:
            self.load_blocks(back, instance_alias or {})
        if len(self):
            bid = K.block_ids(self.cols["keys"], cfg.voxels_per_block)
            ids = np.unique(bid)
            far = [int(b) for b in ids if not inside(*K.block_coords(int(b)))]
            if far:
                self.spill_blocks(bid, far)

    def spill_blocks(self, bid: np.ndarray, blocks: list[int]) -> None:
        for b in blocks:
            rows = bid == b
            block = {c: self.cols[c][rows] for c in _COLUMNS}
            save_npz(self.block_path(b), block)
            self.spilled.add(b)
            self._spilled_occupied[b] = occupied_columns(block)
        self._select(~np.isin(bid, np.asarray(blocks, np.int64)))

    def load_blocks(self, blocks: list[int], instance_alias: dict[int, int]) -> None:
        parts = [self.cols]
        for b in blocks:
            path = self.block_path(b)
            part = load_npz(path, _COLUMNS)
            relabel_column(part["instance"], instance_alias)
            parts.append(part)
            path.unlink()
            self.spilled.discard(b)
            self._spilled_occupied.pop(b, None)
        self.cols = merge_columns(parts)

    def all_columns(self, instance_alias: dict[int, int] | None = None) -> dict[str, np.ndarray]:
        """Memory plus spilled blocks (read, not loaded), sorted by key."""
        parts = [self.cols]
        for b in sorted(self.spilled):
            part = load_npz(self.block_path(b), _COLUMNS)
            relabel_column(part["instance"], instance_alias or {})
            parts.append(part)
        return merge_columns(parts)

    def occupied(self, instance_alias: dict[int, int] | None = None) -> dict[str, np.ndarray]:
        """Occupied voxels (log-odds > 0) of memory and spilled blocks, sorted by key: ``keys``, ``class_id``
        (histogram argmax), ``instance`` (merged ids resolved through ``instance_alias``), ``logodds``."""
        parts = [occupied_columns(self.cols)]
        for b in sorted(self.spilled):
            part = dict(self._spilled_occupied[b])
            part["instance"] = part["instance"].copy()
            relabel_column(part["instance"], instance_alias or {})
            parts.append(part)
        return merge_columns(parts)


def occupied_columns(cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    occ = cols["logodds"] > 0
    return {"keys": cols["keys"][occ], "class_id": np.argmax(cols["counts"][occ], axis=1).astype(np.uint16),
            "instance": cols["instance"][occ], "logodds": cols["logodds"][occ]}


def merge_columns(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Concatenate disjoint column sets (with the same columns) and sort by key."""
    out = {c: np.concatenate([p[c] for p in parts], axis=0) for c in parts[0]}
    order = np.argsort(out["keys"], kind="stable")
    return {c: v[order] for c, v in out.items()}


def relabel_column(instance: np.ndarray, mapping: dict[int, int]) -> None:
    if not mapping or instance.size == 0:
        return
    src = np.fromiter(mapping.keys(), np.int64, len(mapping))
    dst = np.fromiter(mapping.values(), np.int64, len(mapping))
    order = np.argsort(src)
    src, dst = src[order], dst[order]
    j = np.searchsorted(src, instance)
    hit = j < src.shape[0]
    hit[hit] = src[j[hit]] == instance[hit]
    instance[hit] = dst[j[hit]].astype(np.uint32)
