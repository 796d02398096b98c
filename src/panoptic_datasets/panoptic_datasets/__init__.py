"""Synthetic ground-truth driving world, sensor simulation, dataset formats and a bag player."""

__version__ = "0.1.0"
