"""Model weights and testing data."""

from ._testing import testing_data_path

__all__ = ["testing_data_path"]
