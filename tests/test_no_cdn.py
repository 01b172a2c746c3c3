"""Every front-end asset is served by the app: the API docs page and every template name no
other host, and the docs page's own scripts and styles load from the app."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# A URL in src/href/url() that leaves the site: "http://", "https://" or protocol-relative "//".
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["'](?:https?:)?//|url\(\s*["']?(?:https?:)?//""")


@pytest.mark.django_db
def test_the_api_docs_page_loads_its_scripts_from_the_app(client):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert not EXTERNAL.search(html), EXTERNAL.search(html)
    assert "cdn." not in html and "unpkg" not in html
    assets = re.findall(r"""(?:src|href)=["'](/static/[^"']+)["']""", html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets), assets
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


def test_no_template_links_to_another_host():
    offenders = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in sorted((ROOT / "templates").rglob("*.html"))
        for match in EXTERNAL.finditer(path.read_text())
    ]
    assert offenders == []


def test_no_static_file_of_the_app_loads_from_another_host():
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "static").rglob("*"))
        if path.suffix in {".js", ".css", ".html"}
        and re.search(
            r"""import\s*\(?\s*["'](?:https?:)?//|@import\s+url\(["']?https?:""", path.read_text()
        )
    ]
    assert offenders == []
