"""The world's parts: meshes inside their boxes, agents that come and go, LiDAR intensity, the preview."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from panoptic_datasets.world import SceneConfig, World
from panoptic_datasets.world.meshes import BICYCLIST, CAR, PERSON, ROAD, SIGN
from panoptic_datasets.world.preview import render_overview
from panoptic_perception.core import unpack_label


def test_every_agent_mesh_fits_its_box_and_things_have_plausible_sizes():
    world = World(SceneConfig(seed=4, num_vehicles=30, num_pedestrians=20, num_cyclists=5))
    for agent in world.agents:
        local = agent.mesh.vertices - agent.box_center
        assert np.all(np.abs(local) <= agent.size / 2 + 1e-9)
        assert np.all(agent.mesh.instance == agent.instance_id)
        assert np.all(agent.mesh.semantic == agent.semantic)  # a rider and its bike are one bicyclist
    sizes = {c: [a.size for a in world.agents if a.semantic == c] for c in (CAR, PERSON, BICYCLIST)}
    assert all(3.5 < s[0] < 5.5 and 1.3 < s[2] < 1.9 for s in sizes[CAR])
    assert all(1.4 < s[2] < 2.1 and s[0] < 1.0 for s in sizes[PERSON])
    assert all(1.5 < s[0] < 2.2 and 1.5 < s[2] < 2.2 for s in sizes[BICYCLIST])
    assert len({a.instance_id for a in world.agents}) == len(world.agents)


def test_some_agents_leave_the_world_and_others_enter_it_during_a_drive():
    world = World(SceneConfig(seed=8, num_vehicles=30, num_pedestrians=30, dynamic_share=1.0))
    presence = np.array([world.agent_states(t)[1] for t in np.arange(0.0, 40.0, 0.5)])
    assert np.any(presence[0] & ~presence[-1])  # gone: drove off or walked into a building
    assert np.any(~presence[0] & presence[-1])  # arrived: e.g. cross traffic coming into the world


def test_lidar_intensity_is_bounded_and_retroreflective_signs_outshine_the_road(busy_frames):
    semantic = np.concatenate([unpack_label(f.point_label)[0] for f in busy_frames])
    intensity = np.concatenate([f.sensor.intensity for f in busy_frames])
    assert intensity.min() >= 0.0 and intensity.max() <= 1.0
    assert np.any(semantic == SIGN), "the busy scene's frames show traffic signs"
    assert intensity[semantic == SIGN].mean() > 3 * intensity[semantic == ROAD].mean()


def test_render_overview_writes_a_small_png_of_image_and_birds_eye_view(busy_frames, tmp_path):
    path = tmp_path / "overview.png"
    render_overview(busy_frames[0], path)
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size == (1240, 840)
        top = np.asarray(im.convert("RGB"))[:300]
    assert path.stat().st_size < 600_000
    assert top.std() > 10  # the camera image is there, not a blank panel
    with pytest.raises(ValueError, match="no camera 'left'"):
        render_overview(busy_frames[0], path, camera="left")
