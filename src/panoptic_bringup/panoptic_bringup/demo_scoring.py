"""What the demo scores beyond ``panoptic-eval bag``: the recorded trajectory against the truth and the map's PQ.

The map is scored as in ``panoptic_perception.mapping.evaluate`` (Panoptic Lifting protocol): every
sweep's points are placed with the pose the mapping node used, the saved map's labels are looked up
for them, and PQ is computed over all sweeps' points as one frame, so an object must keep one map id
over the whole drive to count. Points of moving objects are left out (they are not in the static map).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

ODOMETRY_TOPIC = "/perception/odometry"


def recorded_poses(recording: Path) -> dict[int, np.ndarray]:
    """``T_odom_base`` of every recorded ``perception/odometry`` message, by sweep stamp."""
    from panoptic_datasets.formats.bag import read_messages
    from panoptic_perception.ros.conversions import stamp_to_ns, transform_to_matrix

    return {stamp_to_ns(msg.header.stamp): transform_to_matrix(msg)
            for _, _, msg in read_messages(recording, [ODOMETRY_TOPIC])}


def trajectories(bag: Path, poses: dict[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(estimate, truth): ``T_odom_base`` and the true ``T_world_base`` of the sweeps that have a pose, (N, 4, 4)."""
    from panoptic_datasets.formats.bag import BagReader

    reader = BagReader(bag)
    T_lidar_base = np.linalg.inv(reader.T_base_lidar)
    est, truth = [], []
    for frame in reader:
        if frame.sensor.stamp_ns in poses:
            est.append(poses[frame.sensor.stamp_ns])
            truth.append(frame.T_world_lidar @ T_lidar_base)
    if not est:
        raise ValueError(f"no recorded pose matches a sweep of {bag}")
    return np.stack(est), np.stack(truth)


def odom_frame_error(estimate: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """Position error in the odometry's own frame, without alignment: ``odom`` is base_link at the first sweep, so
    the truth is taken relative to its first pose. Unlike the aligned ATE it sees a constant rotation of the whole
    trajectory (a wrong mounting yaw, a wrong start), which grows with the distance driven."""
    from panoptic_perception.metrics import ate

    return ate(estimate, np.linalg.inv(truth[0]) @ truth, alignment="none").as_dict()


def plot_trajectory(estimate: np.ndarray, truth: np.ndarray, ate_m: float, path: Path, title: str) -> None:
    """Bird's eye: the estimate SE(3)-aligned to the truth (as the ATE aligns it), and the position error per sweep."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from panoptic_perception.metrics.odometry import umeyama

    rot, trans, _ = umeyama(estimate[:, :3, 3], truth[:, :3, 3], with_scale=False)
    aligned = estimate[:, :3, 3] @ rot.T + trans
    fig, (top, bottom) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [2, 1]})
    top.plot(truth[:, 0, 3], truth[:, 1, 3], "k-", lw=4, alpha=0.35, label="ground truth")
    top.plot(aligned[:, 0], aligned[:, 1], "C0.-", ms=4, label=f"perception/odometry (ATE {ate_m:.3f} m)")
    top.plot(*truth[0, :2, 3], "ks", label="start")
    top.set_aspect("equal", adjustable="datalim")
    top.set_xlabel("x [m]")
    top.set_ylabel("y [m]")
    top.set_title(title)
    top.legend(fontsize=8)
    bottom.plot(np.linalg.norm(aligned - truth[:, :3, 3], axis=1), "C0.-", ms=4)
    bottom.set_xlabel("sweep")
    bottom.set_ylabel("aligned position error [m]")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def map_panoptic_quality(bag: Path, map_dir: Path, poses: dict[int, np.ndarray] | None) -> dict[str, Any]:
    """Map PQ of the saved map in ``map_dir``; sweeps placed with ``poses`` (``T_odom_base`` by stamp, the
    odometry's) or, with ``None``, with the truth (the player's ``odom -> base_link`` is the world pose)."""
    from panoptic_datasets.formats.bag import BagReader
    from panoptic_perception.mapping import PanopticMap
    from panoptic_perception.mapping.evaluate import map_panoptic_quality as score_map
    from panoptic_perception.mapping.evaluate import scored_points

    panoptic_map = PanopticMap.load(map_dir.name, root_dir=map_dir.parent)
    config = panoptic_map.config
    reader = BagReader(bag)
    scored = [scored_points(frame, frame.T_world_lidar if poses is None else poses[frame.sensor.stamp_ns] @ reader.T_base_lidar,
                            config.window_radius)
              for frame in reader if poses is None or frame.sensor.stamp_ns in poses]
    if not scored:
        raise ValueError(f"no sweep of {bag} has a pose to place it in the map")
    points, gt_sem, gt_inst = (np.concatenate(parts) for parts in zip(*scored, strict=True))
    pq = score_map(panoptic_map.snapshot(), config.voxel_size, points, gt_sem, gt_inst)
    panoptic_map.close()
    return {"pq": pq.pq, "pq_things": pq.pq_things, "pq_stuff": pq.pq_stuff, "miou": pq.miou, "sweeps": len(scored),
            "poses": "ground truth" if poses is None else "odometry"}
