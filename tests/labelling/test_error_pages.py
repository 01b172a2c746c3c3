"""Missing and forbidden pages keep the menu and offer a way back."""

from django.core.exceptions import PermissionDenied
from django.test import RequestFactory
from django.views.defaults import permission_denied


def test_a_missing_page_has_the_menu_and_a_way_home(world, client):
    client.force_login(world.owner)
    response = client.get("/clients/nobody/library/")
    assert response.status_code == 404
    html = response.content.decode()
    assert 'class="topbar"' in html or "mainnav" in html
    assert "Back to your home page" in html and 'href="/"' in html


def test_a_forbidden_page_says_why_and_has_a_way_home(world):
    request = RequestFactory().get("/somewhere/")
    request.user = world.reviewer
    request.client = world.client_a
    response = permission_denied(request, PermissionDenied("Only admins can train."))
    assert response.status_code == 403
    html = response.content.decode()
    assert "Only admins can train." in html and "Back to your home page" in html
