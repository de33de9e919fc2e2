"""stylegan-tf datasets: the dataset tool (writer), the ``tf.data`` reader, real-image processing.

``open_dataset`` and ``ImageDataset`` come from :mod:`datasets.reader` and ``create_dataset``
from :mod:`datasets.dataset_tool`. They are imported on first use, so that importing
``datasets`` (for instance in the dataset tool's worker processes) does not import TensorFlow.

Example::

    import datasets
    datasets.create_dataset("builtin:mnist", "data/mnist32", 32)
    ds = datasets.open_dataset("data/mnist32")
    images, labels = next(iter(ds.make_dataset(32, batch_size=16)))
"""

import importlib

__all__ = ["open_dataset", "ImageDataset", "create_dataset", "DatasetError", "UsageError"]

_LAZY = {
    "open_dataset": "datasets.reader",
    "ImageDataset": "datasets.reader",
    "create_dataset": "datasets.dataset_tool",
    "DatasetError": "datasets.errors",
    "UsageError": "datasets.errors",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'datasets' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
