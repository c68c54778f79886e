"""tfglow: Glow-family normalizing flows (NICE, RealNVP, Glow) as TensorFlow Probability bijectors.

Public API: `GlowConfig` (the architecture), `Glow` (the flow as one `tfb.Bijector`, z→x),
`GlowModel` (a `tf_keras.Model` that trains it on pixels), the layers in `tfglow.bijectors`, and
the datasets in `tfglow.data`, what a trained model's latent space is for (sampling at a
temperature, interpolation, manipulation, compression, OOD scores) in `tfglow.latent`, and PNG
grids in `tfglow.images`. Names load on first use (PEP 562), so that command-line tools which
need no TensorFlow (`python -m tfglow.data.prepare_offline`) start at once.
"""

import importlib
from typing import TYPE_CHECKING

_MODULE_OF = {
    "Glow": "tfglow.glow",
    "GlowConfig": "tfglow.config",
    "GlowModel": "tfglow.model",
    "bijectors": "tfglow.bijectors",
    "data": "tfglow.data",
    "images": "tfglow.images",
    "latent": "tfglow.latent",
    "export_saved_model": "tfglow.export.saved_model",
}
__all__ = sorted(_MODULE_OF)

if TYPE_CHECKING:
    from tfglow import bijectors, data, images, latent
    from tfglow.config import GlowConfig
    from tfglow.export.saved_model import export_saved_model
    from tfglow.glow import Glow
    from tfglow.model import GlowModel


def __getattr__(name):
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'tfglow' has no attribute {name!r}")
    module = importlib.import_module(_MODULE_OF[name])
    return module if module.__name__ == f"tfglow.{name}" else getattr(module, name)
