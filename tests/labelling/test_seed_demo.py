"""``manage.py seed_demo``: the demo a fresh installation starts with."""

import re
from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command

from labelling.models import (
    Client,
    ClientLabelName,
    Label,
    Membership,
    Role,
    Sector,
    Taxonomy,
    TaxonomyKind,
)
from tests import factories

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def seed(*args) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def printed_passwords(output: str) -> dict[str, str]:
    return dict(re.findall(r"^  (admin|librarian|reviewer) +(\S+)$", output, re.MULTILINE))


def counts() -> dict[str, int]:
    models = [Sector, Taxonomy, Label, Client, ClientLabelName, User, Membership]
    return {model.__name__: model.objects.count() for model in models}


def test_it_creates_the_demo():
    output = seed()

    taxonomy = Taxonomy.objects.get(sector__name="Universities", name="Campus photos")
    assert taxonomy.kind == TaxonomyKind.MULTI_CLASS
    assert set(taxonomy.labels.values_list("key", flat=True)) == {
        "smiling",
        "not_smiling",
        "bag",
        "shoe",
    }
    client = Client.objects.get(name="Demo University")
    assert client.sector == taxonomy.sector
    names = {label.key: name for label, name in _client_names(client)}
    assert names["smiling"] == "Happy students"
    assert set(names) == {"smiling", "not_smiling", "bag", "shoe"}
    admin = User.objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser
    roles = dict(client.memberships.values_list("user__username", "role"))
    assert roles == {"admin": Role.ADMIN, "librarian": Role.LIBRARIAN, "reviewer": Role.REVIEWER}
    assert "Demo University" in output


def test_it_prints_passwords_that_work():
    passwords = printed_passwords(seed())

    assert set(passwords) == {"admin", "librarian", "reviewer"}
    assert len(set(passwords.values())) == 3
    for username, password in passwords.items():
        assert authenticate(username=username, password=password) is not None
        assert len(password) >= 12


def test_running_it_again_changes_nothing_and_prints_no_password():
    seed()
    before = counts()
    version = Taxonomy.objects.get(name="Campus photos").version

    output = seed()

    assert counts() == before
    assert Taxonomy.objects.get(name="Campus photos").version == version
    assert printed_passwords(output) == {}
    assert "already there" in output


def test_reset_passwords_prints_new_ones_and_the_old_ones_stop_working():
    old = printed_passwords(seed())

    new = printed_passwords(seed("--reset-passwords"))

    assert set(new) == {"admin", "librarian", "reviewer"}
    for username in new:
        assert new[username] != old[username]
        assert authenticate(username=username, password=new[username]) is not None
        assert authenticate(username=username, password=old[username]) is None


def test_it_keeps_what_people_changed_since():
    seed()
    client = Client.objects.get(slug="demo-university")
    ClientLabelName.objects.filter(client=client, label__key="smiling").update(name="Joyful")

    seed()

    assert ClientLabelName.objects.get(client=client, label__key="smiling").name == "Joyful"


def test_an_existing_user_keeps_its_password_and_joins_the_demo():
    factories.UserFactory(username="librarian")

    passwords = printed_passwords(seed())

    assert "librarian" not in passwords
    assert authenticate(username="librarian", password="correct horse battery") is not None
    assert Membership.objects.get(user__username="librarian").role == Role.LIBRARIAN


def _client_names(client):
    for row in ClientLabelName.objects.filter(client=client).select_related("label"):
        yield row.label, row.name
