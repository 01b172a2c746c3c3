"""Static files storage for production (DEBUG off)."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    """Hashed, compressed static files whose ES module imports name the hashed files.

    Django rewrites ``import ... from "./x.js"`` only when told to; without it a page's
    modules would import names that the long-cache headers never let change.
    """

    support_js_module_import_aggregation = True
