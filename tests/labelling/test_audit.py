"""The audit log: the services that change a sector's taxonomy, model or policy, or a
client's tags, record who did it; the audit page shows each client's admins their client's
events and their sector's, never another client's, and names no other client's people."""

import pytest
from django.test import Client as BrowserClient
from django.urls import reverse

from labelling.models import AuditAction, AuditEvent
from labelling.services import audit
from labelling.services.tag_import import tags_import_csv
from tests import factories

pytestmark = pytest.mark.django_db


def as_user(user) -> BrowserClient:
    browser = BrowserClient()
    browser.force_login(user)
    return browser


def test_record_refuses_an_unknown_action_or_an_event_about_nothing(world):
    with pytest.raises(ValueError, match="unknown audit action"):
        audit.record(world.owner, "label_exploded", sector=world.sector, summary="x")
    with pytest.raises(ValueError, match="concerns a sector or a client"):
        audit.record(world.owner, AuditAction.TAXONOMY_EDITED, summary="x")
    assert not AuditEvent.objects.exists()


def test_an_event_about_a_client_concerns_its_sector_too(world):
    event = audit.record(
        world.owner, AuditAction.CLIENT_LABEL_NAME_SET, client=world.client_a, summary="named"
    )
    assert event.sector_id == world.sector.pk and event.client_id == world.client_a.pk


def test_a_tag_import_is_recorded_for_the_client(world):
    image = factories.ImageFactory(client=world.client_a)
    tags_import_csv(
        client=world.client_a, text=f"image_id,label\n{image.pk},smiling\n", user=world.librarian
    )
    event = AuditEvent.objects.get()
    assert event.action == AuditAction.TAGS_IMPORTED and event.client == world.client_a
    assert event.actor == world.librarian and event.detail == {"created": 1, "unchanged": 0}


# --- The page -------------------------------------------------------------------------------


@pytest.fixture
def events(world):
    return {
        "sector": audit.record(
            world.outsider, AuditAction.TRAINING_STARTED, sector=world.sector, summary="sector run"
        ),
        "mine": audit.record(
            world.owner, AuditAction.CLIENT_LABEL_NAME_SET, client=world.client_a, summary="A names"
        ),
        "theirs": audit.record(
            world.outsider,
            AuditAction.CLIENT_LABEL_NAME_SET,
            client=world.client_b,
            summary="B names",
        ),
    }


def test_the_owner_sees_their_client_and_sector_newest_first_but_not_another_client(world, events):
    response = as_user(world.owner).get(reverse("audit", args=["alpha"]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "A names" in html and "sector run" in html and "B names" not in html
    assert html.index("A names") < html.index("sector run")  # newest first
    # Charlie is client B's admin: client A's people do not learn his name.
    assert "charlie" not in html and "another client&#x27;s admin" in html


def test_a_maintainer_is_named_by_role_and_sees_every_name(world, events):
    mona = factories.UserFactory(username="mona")
    world.sector.maintainers.add(mona)
    audit.record(mona, AuditAction.LABEL_ADDED, sector=world.sector, summary="lawn added")
    html = as_user(world.owner).get(reverse("audit", args=["alpha"])).content.decode()
    assert "a sector maintainer" in html and ">mona<" not in html
    factories.MembershipFactory(user=mona, client=world.client_a, role="admin")
    world.sector.maintainers.add(world.owner)
    html = as_user(world.owner).get(reverse("audit", args=["alpha"])).content.decode()
    assert ">mona<" in html and ">charlie<" in html


def test_the_outsider_sees_only_their_own_client_and_the_sector(world, events):
    html = as_user(world.outsider).get(reverse("audit", args=["beta"])).content.decode()
    assert "B names" in html and "sector run" in html and "A names" not in html


def test_other_roles_get_403_and_non_members_404(world, events):
    assert as_user(world.librarian).get(reverse("audit", args=["alpha"])).status_code == 403
    assert as_user(world.outsider).get(reverse("audit", args=["alpha"])).status_code == 404
    assert BrowserClient().get(reverse("audit", args=["alpha"])).status_code == 302


def test_site_staff_see_every_event_and_every_name(world, events):
    staff = factories.UserFactory(username="stella", is_staff=True)
    html = as_user(staff).get(reverse("audit", args=["alpha"])).content.decode()
    assert "A names" in html and "B names" in html and "charlie" in html


def test_the_page_filters_by_action_and_pages(world, events):
    for n in range(55):
        audit.record(None, AuditAction.LABEL_ADDED, sector=world.sector, summary=f"added {n}")
    browser = as_user(world.owner)
    html = browser.get(reverse("audit", args=["alpha"]), {"action": "label_added"}).content.decode()
    assert "added 54" in html and "A names" not in html and "Page 1 of 2" in html
    assert "the system" in html
    second = browser.get(
        reverse("audit", args=["alpha"]), {"action": "label_added", "page": 2}
    ).content.decode()
    assert "added 0" in second and "added 54" not in second
    # An unknown action is no filter, not an error.
    assert browser.get(reverse("audit", args=["alpha"]), {"action": "nope"}).status_code == 200


def test_the_admin_nav_links_the_audit_page(world):
    html = as_user(world.owner).get(reverse("home")).content.decode()
    assert reverse("audit", args=["alpha"]) in html
