"""Offline training, evaluation and export of the panoptic perception models."""

__version__ = "0.1.0"
