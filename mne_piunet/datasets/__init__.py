"""Pretrained model weights and testing data."""

from ._fetch import cached_models, fetch_model, model_names
from ._testing import testing_data_path

__all__ = ["cached_models", "fetch_model", "model_names", "testing_data_path"]
