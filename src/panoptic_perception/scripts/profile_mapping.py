"""CPU time of the mapping node's work per sweep: ``PanopticMap.integrate`` and the map message.

Replays a recorded drive (a bag or dataset folder) ROS-free: each sweep's true classes and instances, its true
pose, the truth's moving objects as the moving tracks, the node's map configuration. Prints the CPU time of
``integrate`` per sweep (median, p90, max), of one map snapshot + message (what the node publishes once a
second), the map's size, and a digest of the final map, so that a faster version can be checked to build the
same map. ``--cprofile`` adds the functions that cost most. Used for the mapping rows of docs/benchmarks.md.

    python src/panoptic_perception/scripts/profile_mapping.py out/bench/drive/bags/2000 --frames 100
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import pstats
import time
from pathlib import Path

import numpy as np


def map_digest(panoptic_map: object) -> str:
    """sha256 over the voxel columns and the instances' keys: equal digests, equal maps."""
    digest = hashlib.sha256()
    cols = panoptic_map.voxels.all_columns(panoptic_map.registry.alias)
    for name in sorted(cols):
        digest.update(np.ascontiguousarray(cols[name]).tobytes())
    for iid, inst in sorted(panoptic_map.registry.instances.items()):
        digest.update(np.int64(iid).tobytes() + np.ascontiguousarray(inst.keys).tobytes())
    return digest.hexdigest()[:16]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="bag or dataset folder (e.g. out/bench/drive/bags/2000)")
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--cprofile", action="store_true", help="also print the functions that cost most")
    args = parser.parse_args(argv)

    from panoptic_datasets.sources import open_dataset
    from panoptic_perception.core.frame import PanopticCloud
    from panoptic_perception.core.labels import load_class_table
    from panoptic_perception.mapping import MapConfig, PanopticMap
    from panoptic_perception.mapping.export import make_records
    from panoptic_perception.ros.outputs import map_cloud_msg

    source = open_dataset(args.source)
    sweeps = []
    for frame in source:
        if len(sweeps) == args.frames:
            break
        label = frame.point_label
        moving = {o.instance_id: o.moving for o in frame.objects}
        instance = (label >> 16).astype(np.uint32)
        cloud = PanopticCloud(frame.sensor.stamp_ns, frame.sensor.points, (label & 0xFFFF).astype(np.uint16), instance,
                              np.ones(label.shape, np.float32), np.zeros(label.shape, np.float32), instance)
        sweeps.append((cloud, frame.T_world_lidar, moving))
    table = load_class_table()
    panoptic_map = PanopticMap(MapConfig(voxel_size=0.2, window_radius=80.0))
    profiler = cProfile.Profile() if args.cprofile else None
    integrate_ms = []
    for cloud, pose, moving in sweeps:
        start = time.process_time()
        if profiler:
            profiler.enable()
        panoptic_map.integrate(cloud, pose, moving)
        if profiler:
            profiler.disable()
        integrate_ms.append((time.process_time() - start) * 1e3)
    start = time.process_time()
    snap = panoptic_map.snapshot()
    map_cloud_msg(make_records(snap.centres, snap.class_id, snap.instance_id, table.colors()), 0, "odom")
    publish_ms = (time.process_time() - start) * 1e3

    ms = np.array(integrate_ms)
    print(f"{len(sweeps)} sweeps of {args.source}")
    print(f"integrate [ms CPU]: median {np.median(ms):.1f}, p90 {np.percentile(ms, 90):.1f}, max {ms.max():.1f}, "
          f"mean {ms.mean():.1f}")
    print(f"map snapshot + message [ms CPU]: {publish_ms:.1f}")
    print(f"map: {len(panoptic_map.voxels)} voxels in the window, {len(panoptic_map.instances())} instances, "
          f"digest {map_digest(panoptic_map)}")
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
