import numpy as np
import pytest

from panoptic_perception.mapping import MappingInputError, MapSnapshot, render
from panoptic_perception.mapping import keys as K


def plane_snapshot(z: float, voxel: float = 0.2, cls: int = 11, inst: int = 0) -> MapSnapshot:
    xs = np.arange(-3.0, 3.0, voxel) + voxel / 2
    X, Y = np.meshgrid(xs, xs)
    pts = np.stack([X.ravel(), Y.ravel(), np.full(X.size, z + voxel / 2)], 1)
    keys = np.unique(K.voxel_keys(pts, voxel))
    n = keys.shape[0]
    return MapSnapshot(keys, K.centres(keys, voxel), np.full(n, cls, np.uint16), np.full(n, inst, np.uint32),
                       np.ones(n, np.float32))


def test_a_voxel_plane_renders_at_its_depth_and_class_where_it_is_in_view():
    K_ = np.array([[100.0, 0, 32], [0, 100.0, 24], [0, 0, 1]])
    snap = plane_snapshot(10.0)  # centres at z = 10.1 in a camera looking along +z
    view = render(snap, K_, 64, 48, np.eye(4), 0.2)
    # Centres span x in [-2.9, 2.9] m -> u in [3.3, 60.7]; splats are ceil(100 * 0.2 / 20.2) = 1 px wide each
    # side, so columns 2..61 are covered and 0, 1, 62, 63 are not; all rows are (|y| <= 2.9 m -> 24 +- 28.7 px)
    assert np.all(view.class_id[:, 2:62] == 11) and np.all(view.class_id[:, [0, 1, 62, 63]] == 0)
    np.testing.assert_allclose(view.depth[:, 2:62], 10.1, atol=1e-4)
    # Moved sideways by 5 m, the left part of the image sees nothing
    T = np.eye(4)
    T[0, 3] = 5.0
    view = render(snap, K_, 64, 48, T, 0.2)
    assert np.all(view.depth[:, :10] == 0) and np.all(view.class_id[:, :10] == 0)
    assert np.all(view.depth[:, -5:] > 10.0)


def test_the_nearer_of_two_overlapping_planes_wins_the_z_buffer():
    a, b = plane_snapshot(10.0, cls=11, inst=0), plane_snapshot(5.0, cls=1, inst=7)
    snap = MapSnapshot(*(np.concatenate([getattr(a, f), getattr(b, f)]) for f in
                         ("keys", "centres", "class_id", "instance_id", "logodds")))
    view = render(snap, np.array([[50.0, 0, 16], [0, 50.0, 16], [0, 0, 1]]), 32, 32, np.eye(4), 0.2)
    assert np.all(view.class_id == 1) and np.all(view.instance_id == 7)
    np.testing.assert_allclose(view.depth, 5.1, atol=1e-4)


def test_render_rejects_a_malformed_pose():
    with pytest.raises(MappingInputError, match="T_cam_odom 4x4"):
        render(plane_snapshot(1.0), np.eye(3), 8, 8, np.eye(3), 0.2)
