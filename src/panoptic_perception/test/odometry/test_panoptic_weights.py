"""PVO's panoptic-aware confidence boosts static pixels; the dynamic mask marks only moving things."""

import numpy as np
import pytest
import torch

from panoptic_perception.core.labels import load_class_table
from panoptic_perception.odometry import OdometryInputError, dynamic_mask, panoptic_confidence


def test_static_pixels_get_boosted_confidence_and_dynamic_pixels_keep_their_own():
    logits = torch.tensor([[[0.0, -2.0], [0.0, -2.0]]])  # (H=1, W=2, C=2)
    dynamic = torch.tensor([[False, True]])
    w = panoptic_confidence(logits, dynamic)
    torch.testing.assert_close(w[0, 0], torch.sigmoid(torch.tensor([10.0, 8.0])))
    torch.testing.assert_close(w[0, 1], torch.sigmoid(torch.tensor([0.0, -2.0])))
    assert float(w[0, 0].min()) > 0.999 and float(w[0, 1].max()) == pytest.approx(0.5)


def test_panoptic_confidence_broadcasts_over_edges_and_raises_on_a_mismatched_mask():
    logits = torch.zeros(3, 4, 5, 2)
    assert panoptic_confidence(logits, torch.zeros(4, 5)).shape == (3, 4, 5, 2)
    with pytest.raises(OdometryInputError, match="dynamic"):
        panoptic_confidence(logits, torch.zeros(5, 4))


def test_a_thing_is_dynamic_only_when_its_track_moves_and_stuff_never_is():
    table = load_class_table()
    car, road, person = table.id_of("car"), table.id_of("road"), table.id_of("person")
    class_ids = np.array([[car, car, road], [person, car, road]])
    instance_ids = np.array([[7, 9, 0], [3, 0, 5]])  # car 7 parked, car 9 driving, person 3 walking
    mask = dynamic_mask(class_ids, instance_ids, moving_track_ids={9, 3, 5}, thing_ids=table.thing_ids)
    # road with a (bogus) instance 5 in the moving set is still stuff; the untracked car pixel is dynamic.
    np.testing.assert_array_equal(mask, [[False, True, False], [True, True, False]])
    conservative_off = dynamic_mask(class_ids, instance_ids, [9, 3], table.thing_ids, untracked_things_dynamic=False)
    np.testing.assert_array_equal(conservative_off, [[False, True, False], [True, False, False]])


def test_dynamic_mask_raises_on_mismatched_shapes():
    with pytest.raises(OdometryInputError, match="instance_ids"):
        dynamic_mask(np.zeros((2, 2)), np.zeros((2, 3)), [], [1])
