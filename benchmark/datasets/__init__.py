"""Datasets: records, the registry, native-layout adapters and the built-in ``synth`` set."""
from .base import (RECORD_COLUMNS, DatasetError, DatasetInfo, DatasetWarning, get_dataset_info, list_datasets,
                   load_dataset, make_records, register_dataset, validate_records)

__all__ = ["RECORD_COLUMNS", "DatasetError", "DatasetInfo", "DatasetWarning", "get_dataset_info", "list_datasets",
           "load_dataset", "make_records", "register_dataset", "validate_records"]
