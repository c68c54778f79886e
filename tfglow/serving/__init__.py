"""Export of a `GlowModel` as a TF Serving SavedModel (signatures: see `ExportModule`)."""

from tfglow.serving.module import SIGNATURE_NAMES, ExportModule
from tfglow.serving.saved_model import existing_versions, export_saved_model, next_version

__all__ = [
    "SIGNATURE_NAMES",
    "ExportModule",
    "existing_versions",
    "export_saved_model",
    "next_version",
]
