"""Export of a `GlowModel` as a TF Serving SavedModel (signatures: see `ExportModule`)."""

from tfglow.export.module import SIGNATURE_NAMES, ExportModule
from tfglow.export.saved_model import existing_versions, export_saved_model, next_version

__all__ = ["SIGNATURE_NAMES", "ExportModule", "existing_versions", "export_saved_model",
           "next_version"]
