"""Pretrained model weights and the offline sample data."""

from ._fetch import cached_models, fetch_model, model_names
from ._sample import SampleHead, load_sample_head
from ._testing import testing_data_path

__all__ = [
    "SampleHead",
    "cached_models",
    "fetch_model",
    "load_sample_head",
    "model_names",
    "testing_data_path",
]
