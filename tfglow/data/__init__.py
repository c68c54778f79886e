"""Data for tfglow: offline MNIST / Fashion-MNIST as stock TFDS datasets, and one uint8 image
pipeline.

```python
from tfglow import data
train = data.load_images("mnist", "train", batch_size=64, pad_to=32, seed=0)  # [64, 32, 32, 1]
test_images, test_labels = data.load_numpy("mnist", "test", with_labels=True)
```

Public names are imported on first use, so `python -m tfglow.data.prepare_offline` does not pay for
importing TensorFlow when there is nothing to prepare.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_MODULE_OF = {
    "DatasetNotPreparedError": "pipeline",
    "get_builder": "pipeline",
    "load_images": "pipeline",
    "load_numpy": "pipeline",
    "output_image_shape": "pipeline",
    "LocalDownloadManager": "offline",
    "prepare_from_idx_files": "offline",
    "prepare_offline_dataset": "offline",
    "OFFLINE_DATASETS": "sources",
    "SourceUnavailableError": "sources",
    "find_idx_files": "sources",
}

__all__ = sorted(_MODULE_OF)

if TYPE_CHECKING:
    from tfglow.data.offline import (
        LocalDownloadManager,
        prepare_from_idx_files,
        prepare_offline_dataset,
    )
    from tfglow.data.pipeline import (
        DatasetNotPreparedError,
        get_builder,
        load_images,
        load_numpy,
        output_image_shape,
    )
    from tfglow.data.sources import OFFLINE_DATASETS, SourceUnavailableError, find_idx_files


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'tfglow.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"tfglow.data.{_MODULE_OF[name]}"), name)
