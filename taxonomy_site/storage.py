"""Static files storage for production (DEBUG off)."""

import re

from whitenoise.storage import CompressedManifestStaticFilesStorage

# An ES module import of a bare name ("regl"), which the page's import map resolves, not a
# path: there is no file of that name beside the module to hash.
BARE_IMPORT = re.compile(r"""^\s*(?:import|export)\b""")
# npm builds served as they are published: their imports are bare names, and their doc
# comments hold import('./types') examples that name no file.
AS_PUBLISHED = ("regl-scatterplot/", "regl/", "pub-sub-es/")


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    """Hashed, compressed static files whose ES module imports name the hashed files.

    Django rewrites ``import ... from "./x.js"`` only when told to; without it a page's
    modules would import names that the long-cache headers never let change. Imports of bare
    names, and the npm builds in AS_PUBLISHED, are left as they are.
    """

    support_js_module_import_aggregation = True

    def url_converter(self, name, hashed_files, template=None):
        convert = super().url_converter(name, hashed_files, template)

        def converter(matchobj):
            if name.replace("\\", "/").startswith(AS_PUBLISHED):
                return matchobj.group("matched")
            url = matchobj.group("url")
            if BARE_IMPORT.match(matchobj.group("matched")) and not url.startswith(
                ("./", "../", "/")
            ):
                return matchobj.group("matched")
            return convert(matchobj)

        return converter
