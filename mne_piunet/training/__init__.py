"""Training and fine-tuning 3D-PIUNet models on simulated sources."""

from ._config import TrainConfig, grid_for_forward
from ._finetune import finetune_config, finetune_model
from ._loop import log_summary, train_model

__all__ = [
    "TrainConfig",
    "finetune_config",
    "finetune_model",
    "grid_for_forward",
    "log_summary",
    "train_model",
]
