"""Training and fine-tuning 3D-PIUNet models on simulated sources."""

from ._calibrate import CalibrationConfig, calibrate_uncertainty
from ._config import TrainConfig, grid_for_forward
from ._finetune import finetune_config, finetune_model
from ._loop import log_summary, train_model

__all__ = [
    "CalibrationConfig",
    "calibrate_uncertainty",
    "TrainConfig",
    "finetune_config",
    "finetune_model",
    "grid_for_forward",
    "log_summary",
    "train_model",
]
