"""Classical depth completion (IP-Basic, Ku et al. 2018) in torch, plus sparse depth rendering.

Runs inside the model (no OpenCV): dilation is (separable) max-pooling, erosion is max-pooling
of the negated image, the median is a sort over an unfolded window with empties sorted last
(not ``nanmedian``, which ONNX has no operator for).
As in IP-Basic, depth is inverted (``d_inv = max_depth - d``) so that max-pooling prefers near
surfaces and empty pixels (0) never win. IP-Basic's "extend to top of image" step is left out on purpose: camera pixels
above the LiDAR's reach (sky) should stay unmapped, not inherit the top row's depth.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .windows import sliding_windows

EMPTY = 0.1  # an inverted depth below this counts as empty [m]


def dilate(x: torch.Tensor, kernel: int) -> torch.Tensor:
    """Grey-scale dilation with a full square kernel (odd size), as two separable 1-D max-pools."""
    pad = kernel // 2
    x = F.max_pool2d(x, (1, kernel), stride=1, padding=(0, pad))
    return F.max_pool2d(x, (kernel, 1), stride=1, padding=(pad, 0))


def erode(x: torch.Tensor, kernel: int) -> torch.Tensor:
    return -dilate(-x, kernel)


def dilate_cross(x: torch.Tensor) -> torch.Tensor:
    """Dilation with the 3x3 cross; twice gives IP-Basic's 5x5 diamond (Minkowski sum)."""
    horizontal = F.max_pool2d(x, (1, 3), stride=1, padding=(0, 1))
    vertical = F.max_pool2d(x, (3, 1), stride=1, padding=(1, 0))
    return torch.maximum(horizontal, vertical)


def masked_median(x: torch.Tensor, valid: torch.Tensor, kernel: int) -> torch.Tensor:
    """Median (the lower one for even counts) over the valid pixels of each kernel x kernel window;
    x where none is valid."""
    b, c, h, w = x.shape
    pad = kernel // 2
    values = sliding_windows(F.pad(x, (pad, pad, pad, pad)), kernel).view(b, c, kernel * kernel, h * w)
    ok = sliding_windows(F.pad(valid.to(x.dtype), (pad, pad, pad, pad)), kernel).view(b, -1, kernel * kernel, h * w) > 0.5
    values = torch.where(ok, values, torch.full_like(values, float("inf")))
    count = ok.sum(2, keepdim=True)  # (B, 1, 1, H*W) valid pixels per window
    # The lower median is at most the ceil(k*k / 2)-th smallest, so a partial sort does, along the last axis
    # (about 1.6x faster in ONNX Runtime than a full sort along the window axis).
    ordered = torch.topk(values.transpose(2, 3), (kernel * kernel + 1) // 2, dim=3, largest=False).values
    lower_median = torch.div((count - 1).clamp_min(0), 2, rounding_mode="floor").view(b, 1, h * w, 1)
    median = ordered.gather(3, lower_median.expand(b, c, h * w, 1)).view(b, c, h, w)
    return torch.where(count.view(b, -1, h, w) > 0, median, x)


def gaussian_kernel(size: int, sigma: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    offsets = torch.arange(size, device=device, dtype=dtype) - size // 2
    g = torch.exp(-(offsets**2) / (2 * sigma**2))
    g2 = g[:, None] * g[None, :]
    return (g2 / g2.sum()).view(1, 1, size, size)


def complete_depth(sparse: torch.Tensor, max_depth: float = 100.0) -> torch.Tensor:
    """Densify a (B, 1, H, W) sparse depth image [m] (0 = no measurement); returns 0 where unfilled.

    IP-Basic's order of operations, with one change: every step only writes pixels that are
    still empty, and the blurs only touch filled-in pixels, so measured depths pass through
    unchanged (IP-Basic dilates measured pixels too, which biases them towards the nearest
    neighbour by up to two pixels' worth of depth gradient).
    """
    measured = sparse > EMPTY
    inv = torch.where(measured, max_depth - sparse.clamp(max=max_depth - 2 * EMPTY), torch.zeros_like(sparse))

    def fill(current: torch.Tensor, candidate: torch.Tensor) -> torch.Tensor:
        return torch.where(current < EMPTY, candidate, current)

    # 1. Dilate with the 5x5 diamond kernel.
    inv = fill(inv, dilate_cross(dilate_cross(inv)))
    # 2. Close small gaps with a 5x5 full kernel.
    closed = erode(dilate(inv, 5), 5)
    inv = fill(inv, torch.where(closed > EMPTY, closed, torch.zeros_like(closed)))
    # 3. Fill remaining small holes with a 7x7 dilation, then larger ones with 15x15.
    for size in (7, 15):
        inv = fill(inv, dilate(inv, size))
    # 4. Median blur (5x5) then Gaussian blur (5x5) of the filled-in pixels, over filled pixels.
    filled = inv > EMPTY
    smooth = filled & ~measured
    inv = torch.where(smooth, masked_median(inv, filled, 5), inv)
    kernel = gaussian_kernel(5, 1.0, inv.device, inv.dtype)
    weight = F.conv2d(filled.to(inv.dtype), kernel, padding=2)
    blurred = F.conv2d(inv * filled, kernel, padding=2) / weight.clamp_min(1e-6)
    inv = torch.where(smooth, blurred, inv)
    return torch.where(filled, max_depth - inv, torch.zeros_like(inv))


def render_sparse_depth(uv: torch.Tensor, depth: torch.Tensor, valid: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Sparse depth image (B, 1, H, W) from projected points; nearest depth wins each pixel.

    ``uv`` (B, N, 2) continuous pixel coordinates (pixel centres at integers), ``depth`` (B, N),
    ``valid`` (B, N) bool for points in front of the camera.
    """
    b, n = depth.shape
    col = torch.round(uv[..., 0]).long()
    row = torch.round(uv[..., 1]).long()
    inside = valid & (col >= 0) & (col < width) & (row >= 0) & (row < height) & (depth > EMPTY)
    dump = height * width
    flat = torch.where(inside, row * width + col, torch.full_like(col, dump))
    flat = flat + torch.arange(b, device=uv.device)[:, None] * (dump + 1)
    image = torch.full((b * (dump + 1),), float("inf"), dtype=depth.dtype, device=depth.device)
    image = image.scatter_reduce(0, flat.reshape(-1), depth.reshape(-1), reduce="amin", include_self=True)
    image = image.view(b, dump + 1)[:, :dump]
    image = torch.where(torch.isinf(image), torch.zeros_like(image), image)
    return image.view(b, 1, height, width)
