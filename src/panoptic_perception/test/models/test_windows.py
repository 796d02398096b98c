import pytest
import torch
import torch.nn.functional as F

from panoptic_perception.models.windows import sliding_windows


@pytest.mark.parametrize("kernel", [1, 3, 5])
def test_sliding_windows_equal_unfold_in_slot_order(kernel):
    x = torch.randn(2, 3, 7, 11)
    pad = kernel // 2
    expected = F.unfold(x, kernel, padding=pad).view(2, 3, kernel * kernel, 7 * 11)
    got = sliding_windows(F.pad(x, (pad, pad, pad, pad)), kernel)
    assert got.shape == (2, 3, kernel * kernel, 7, 11)
    assert torch.equal(got.reshape(2, 3, kernel * kernel, 7 * 11), expected)
