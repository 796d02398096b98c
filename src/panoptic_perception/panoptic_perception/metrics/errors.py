"""Typed errors of the metrics package."""


class MetricsInputError(ValueError):
    """Arrays handed to an evaluator have the wrong shape, dtype or value range."""


class EvalDataError(RuntimeError):
    """Prediction or ground-truth files are missing, malformed or do not correspond."""
