"""Training: schedules, losses, callbacks and the config-driven trainer (``tfqnn.training.trainer``)."""
from tfqnn.training.callbacks import EpochCheckpoint, LearningRateLogger, StopOnNaN, make_callback, register_callback
from tfqnn.training.losses import SparseCrossEntropy
from tfqnn.training.schedules import EpochSchedule

__all__ = [
    "EpochCheckpoint",
    "EpochSchedule",
    "LearningRateLogger",
    "SparseCrossEntropy",
    "StopOnNaN",
    "make_callback",
    "register_callback",
]
