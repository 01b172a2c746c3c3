"""Production static files: the pages' ES modules import the hashed names of each other."""

import json
import re

import pytest
from django.core.management import call_command
from django.test import override_settings

IMPORT = re.compile(r"""(?:import|export)\b[^;'"]*?\bfrom\s*["']([^"']+)["']""")


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    # One collectstatic for the module: the tests only read what it wrote.
    tmp_path = tmp_path_factory.mktemp("static")
    storages = {
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
        "staticfiles": {"BACKEND": "taxonomy_site.storage.StaticFilesStorage"},
    }
    with override_settings(STATIC_ROOT=tmp_path, STORAGES=storages, DEBUG=False):
        call_command("collectstatic", interactive=False, verbosity=0)
    manifest = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
    return tmp_path, manifest


def test_it_rewrites_module_imports_to_hashed_files(collected):
    root, manifest = collected
    hashed = root / manifest["js/review.js"]
    imports = IMPORT.findall(hashed.read_text())
    assert imports, "review.js imports its parts"
    for name in imports:
        assert re.search(r"\.[0-9a-f]{12}\.js$", name), name
    assert any(name.startswith("./review/context.") for name in imports)


@pytest.mark.parametrize(
    "entry", ["js/review.js", "js/upload.js", "js/models.js", "js/suspects.js", "js/map.js"]
)
def test_every_module_a_page_loads_exists_under_its_hashed_name(collected, entry):
    root, manifest = collected
    seen, todo = set(), [root / manifest[entry]]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        assert path.is_file(), path
        for name in IMPORT.findall(path.read_text()):
            if name.startswith(("./", "../")):  # a bare name is the page's import map's
                todo.append((path.parent / name).resolve())
    assert len(seen) > 1, "the page loads the shared request helper"


def test_the_map_modules_bare_imports_keep_their_names(collected):
    """The map's npm library imports "regl" and "pub-sub-es" by name (the page's import map
    resolves them): collectstatic must leave those names, and hash the files they map to."""
    root, manifest = collected
    library = (root / manifest["regl-scatterplot/regl-scatterplot.esm.js"]).read_text()
    assert set(IMPORT.findall(library)) >= {"regl", "pub-sub-es"}
    page = (root / manifest["js/map.js"]).read_text()
    assert "regl-scatterplot" in IMPORT.findall(page)
    for target in ("pub-sub-es/index.js", "regl/regl.min.js", "js/map/regl-global.js"):
        assert (root / manifest[target]).is_file(), target
