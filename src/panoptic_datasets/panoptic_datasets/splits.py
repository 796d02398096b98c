"""Standard synthetic splits: each sequence is one scene seed, and its number is that seed.

Sequence folders are named like SemanticKITTI's (``sequences/00``, ``sequences/1003``); the
seed ranges never overlap, so a sequence number alone says which split it belongs to.
"""

from __future__ import annotations

SPLITS: dict[str, range] = {
    "train": range(0, 1000),
    "val": range(1000, 1100),
    "test": range(2000, 2100),
}


def split_seed(split: str, index: int) -> int:
    """Scene seed (= sequence number) of the ``index``-th sequence of ``split``."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; splits: {', '.join(SPLITS)}")
    seeds = SPLITS[split]
    if not 0 <= index < len(seeds):
        raise ValueError(f"split {split!r} has sequences 0..{len(seeds) - 1}; got {index}")
    return seeds[index]


def split_of(seed: int) -> str | None:
    """The split a seed belongs to, or None outside the standard ranges."""
    return next((name for name, seeds in SPLITS.items() if seed in seeds), None)
