"""A picture of a labelled frame: camera image with projected labelled points, and a bird's-eye view."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from panoptic_perception.core import load_class_table

from ..frame import LabeledFrame


def render_overview(frame: LabeledFrame, path: str | Path, camera: str | None = None, bev_range: float = 40.0) -> None:
    """Save a PNG: the camera image with labelled points coloured by class on top, the sweep from above below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = load_class_table()
    colors = table.colors().astype(np.float64) / 255.0
    is_thing = table.is_thing_lut()
    semantic = (frame.point_label & 0xFFFF).astype(np.int64)
    xyz = frame.sensor.xyz.astype(np.float64)
    names = list(frame.sensor.cameras)
    if camera is None and names:
        camera = "front" if "front" in names else names[0]
    if camera is not None and camera not in frame.sensor.cameras:
        raise ValueError(f"frame has no camera {camera!r}; cameras: {', '.join(names) or 'none'}")
    fig = plt.figure(figsize=(12.4, 8.4), dpi=100)
    if camera is not None:
        image = frame.sensor.cameras[camera]
        ax = fig.add_axes((0.0, 0.56, 1.0, 0.44))
        ax.imshow((image.rgb * 0.6).astype(np.uint8))  # dimmed so the class colours of the points stand out
        uv, depth, inside = image.camera.project(xyz)
        keep = inside & (semantic > 0)
        thing = is_thing[semantic]
        for sel, size in ((keep & ~thing, 2.5), (keep & thing, 6.0)):
            ax.scatter(uv[sel, 0], uv[sel, 1], s=size, c=colors[semantic[sel]], linewidths=0, alpha=0.85)
        ax.set_xlim(0, image.camera.width)
        ax.set_ylim(image.camera.height, 0)
        ax.axis("off")
    ax = fig.add_axes((0.02, 0.01, 0.96, 0.54))
    ax.set_facecolor("black")
    near = (xyz[:, 0] > -0.6 * bev_range) & (xyz[:, 0] < 1.4 * bev_range) & (np.abs(xyz[:, 1]) < 0.5 * bev_range)
    for sel, size in ((near & ~is_thing[semantic], 0.5), (near & is_thing[semantic], 3.0)):
        ax.scatter(xyz[sel, 0], xyz[sel, 1], s=size, c=colors[semantic[sel]], linewidths=0)
    ax.set_xlim(-0.6 * bev_range, 1.4 * bev_range)
    ax.set_ylim(-0.5 * bev_range, 0.5 * bev_range)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.set_facecolor("black")
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    # A 256-colour palette keeps the PNG small (a few hundred KB) at no visible cost.
    Image.fromarray(rgb).quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(path, optimize=True)
