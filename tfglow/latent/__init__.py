"""What people do with a trained flow's exact latent space (Glow §5, RealNVP appendix D).

Each function takes a `tfglow.GlowModel` and uint8 images, and returns uint8 images (numpy) or
scores:

* `sample_at_temperatures`: eps ~ N(0, T²·I) for a row of temperatures (Glow Fig. 8);
  `sample_classes`: per-class samples of a class-conditional model (Glow `ycond`).
* `interpolate`: linear or spherical paths between two real images, endpoints exact (Glow Fig. 5).
* `attribute_directions`, `manipulate`: mean-latent differences of an attribute, and moving an image
  along one (Glow Fig. 6).
* `compress`: keep the top levels, resample the finer ones (RealNVP appendix D).
* `score_bits_per_dim`, `auroc`, `compare_datasets`: likelihood scores for out-of-distribution
checks.
* `split_levels`, `join_levels`: the flat latent cut into its levels (finest first) and back.

```python
from tfglow import latent
grid = latent.sample_at_temperatures(model, [0.0, 0.5, 1.0], num_samples=8, seed=0)
path = latent.interpolate(model, images[:4], images[4:8], num_steps=9, method="spherical")
z = latent.encode_dataset(model, train_images)
direction = latent.attribute_directions(z, train_labels == 3)
thicker = latent.manipulate(model, test_images[:4], direction, amounts=[-1, 0, 1])
print(latent.compare_datasets(model, mnist_test, fashion_test).summary())
```
"""

from tfglow.latent.compression import compress
from tfglow.latent.interpolation import interpolate, interpolation_fractions, interpolation_weights
from tfglow.latent.manipulation import (
    attribute_directions,
    class_attributes,
    encode_dataset,
    manipulate,
)
from tfglow.latent.per_level import (
    join_levels,
    kept_fraction,
    level_sizes,
    split_levels,
    top_levels_mask,
)
from tfglow.latent.sampling import (
    TEMPERATURES,
    sample_at_temperatures,
    sample_classes,
    standard_normal,
)
from tfglow.latent.scoring import (
    ScoreComparison,
    auroc,
    average_ranks,
    compare_datasets,
    score_bits_per_dim,
)

__all__ = [
    "TEMPERATURES",
    "ScoreComparison",
    "attribute_directions",
    "auroc",
    "average_ranks",
    "class_attributes",
    "compare_datasets",
    "compress",
    "encode_dataset",
    "interpolate",
    "interpolation_fractions",
    "interpolation_weights",
    "join_levels",
    "kept_fraction",
    "level_sizes",
    "manipulate",
    "sample_at_temperatures",
    "sample_classes",
    "score_bits_per_dim",
    "split_levels",
    "standard_normal",
    "top_levels_mask",
]
