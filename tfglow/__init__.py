"""tfglow: Glow-family normalizing flows (NICE, RealNVP, Glow) as TensorFlow Probability bijectors.

Public API: `GlowConfig` (the architecture) and its `LatentLayout` (which slice of the latent is
which level), `Glow` (the flow as one `tfb.Bijector`, z→x), `GlowModel` (a `tf_keras.Model` that
trains it on pixels) and `tfglow.keras.GlowModel` (the same as a Keras 3 model), the layers in
`tfglow.bijectors`, the input rules in `tfglow.checks`, the datasets in `tfglow.data`, the
training recipe and resumable runs in `tfglow.recipe`, SavedModel export in `tfglow.serving`, what
a trained model's latent space is for (sampling at a temperature, interpolation, manipulation,
compression, OOD scores) in `tfglow.latent`, and PNG grids in `tfglow.images`. Names load on first
use (PEP 562), so that command-line tools which need no TensorFlow
(`python -m tfglow.data.prepare_offline`) start at once.
"""

import importlib
from typing import TYPE_CHECKING

_MODULE_OF = {
    "ClassifierHead": "tfglow.classifier_head",
    "Glow": "tfglow.glow",
    "GlowConfig": "tfglow.config",
    "GlowModel": "tfglow.model",
    "LatentLayout": "tfglow.latent_layout",
    "bijectors": "tfglow.bijectors",
    "checks": "tfglow.checks",
    "data": "tfglow.data",
    "export_saved_model": "tfglow.serving.saved_model",
    "images": "tfglow.images",
    "keras": "tfglow.keras",
    "latent": "tfglow.latent",
    "pixels": "tfglow.pixels",
    "recipe": "tfglow.recipe",
    "serving": "tfglow.serving",
}
__all__ = sorted(_MODULE_OF)

if TYPE_CHECKING:
    from tfglow import bijectors, checks, data, images, keras, latent, pixels, recipe, serving
    from tfglow.classifier_head import ClassifierHead
    from tfglow.config import GlowConfig
    from tfglow.glow import Glow
    from tfglow.latent_layout import LatentLayout
    from tfglow.model import GlowModel
    from tfglow.serving.saved_model import export_saved_model


def __getattr__(name):
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'tfglow' has no attribute {name!r}")
    module = importlib.import_module(_MODULE_OF[name])
    return module if module.__name__ == f"tfglow.{name}" else getattr(module, name)
