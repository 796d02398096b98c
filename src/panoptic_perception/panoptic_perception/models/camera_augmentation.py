"""Camera corruptions that train the instability head (``F_aug`` in the UP-Fuse instability loss)."""

from __future__ import annotations

import torch

CORRUPTIONS = ("photometric", "dropout", "histogram")


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def photometric_shift(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Brightness, contrast, gamma, per-channel gain and Gaussian noise."""
    out = image.clamp(0, 1) ** _uniform(generator, 0.5, 2.0)
    mean = out.mean(dim=(-2, -1), keepdim=True)
    out = (out - mean) * _uniform(generator, 0.5, 1.5) + mean + _uniform(generator, -0.3, 0.3)
    gain = 0.8 + 0.4 * torch.rand(out.shape[-3], 1, 1, generator=generator)
    noise = torch.randn(out.shape, generator=generator) * 0.03
    return (out * gain.to(out) + noise.to(out)).clamp(0, 1)


def sensor_dropout(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Half the time a black frame, otherwise 1-4 black rectangles (each up to a third of a side)."""
    if float(torch.rand((), generator=generator)) < 0.5:
        return torch.zeros_like(image)
    out = image.clone()
    h, w = image.shape[-2:]
    for _ in range(int(torch.randint(1, 5, (), generator=generator))):
        bh = int(torch.randint(1, max(h // 3, 1) + 1, (), generator=generator))
        bw = int(torch.randint(1, max(w // 3, 1) + 1, (), generator=generator))
        y0 = int(torch.randint(0, h - bh + 1, (), generator=generator))
        x0 = int(torch.randint(0, w - bw + 1, (), generator=generator))
        out[..., y0 : y0 + bh, x0 : x0 + bw] = 0
    return out


def match_histogram(image: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Per-channel histogram matching of ``image`` (C, H, W) to ``reference`` (C, H', W')."""
    c = image.shape[0]
    src = image.reshape(c, -1)
    ref_sorted, _ = torch.sort(reference.reshape(c, -1).to(image), dim=1)
    ranks = torch.argsort(torch.argsort(src, dim=1), dim=1).to(image.dtype)
    quantile = ranks / max(src.shape[1] - 1, 1)
    index = torch.round(quantile * (ref_sorted.shape[1] - 1)).long()
    return torch.gather(ref_sorted, 1, index).view_as(image)


def augment_camera(
    image: torch.Tensor, generator: torch.Generator, reference: torch.Tensor | None = None
) -> tuple[torch.Tensor, str]:
    """Corrupt a (3, H, W) image in [0, 1]: half the time unchanged ("none"), otherwise one of
    photometric shift, sensor dropout, or histogram matching to ``reference`` (when given)."""
    if image.ndim != 3:
        raise ValueError(f"augment_camera expects a (C, H, W) image, got shape {tuple(image.shape)}")
    if float(torch.rand((), generator=generator)) < 0.5:
        return image, "none"
    kinds = CORRUPTIONS if reference is not None else CORRUPTIONS[:2]
    kind = kinds[int(torch.randint(0, len(kinds), (), generator=generator))]
    if kind == "photometric":
        return photometric_shift(image, generator), kind
    if kind == "dropout":
        return sensor_dropout(image, generator), kind
    assert reference is not None
    return match_histogram(image, reference), kind
