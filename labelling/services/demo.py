"""The demo a fresh installation starts with (``manage.py seed_demo``, run by ``make run``).

The method's own example: a university's campus photos, tagged with one of four classes
(smiling, not smiling, bag, shoe). Seeding again changes nothing that exists: labels a person
renamed keep their names, and passwords are made (and shown) only for users it creates, or
when asked to reset them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import transaction

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
from labelling.services.taxonomy import client_label_name_create, label_create

SECTOR = {"slug": "universities", "name": "Universities"}
TAXONOMY_NAME = "Campus photos"
CLIENT = {"slug": "demo-university", "name": "Demo University"}
# key, name, description, the demo client's own name for it
LABELS = [
    ("smiling", "Smiling", "People smiling at the camera.", "Happy students"),
    ("not_smiling", "Not smiling", "People, none of them smiling.", "Serious faces"),
    ("bag", "Bag", "A bag is the subject: backpack, handbag, tote.", "Bags"),
    ("shoe", "Shoe", "A shoe or pair of shoes is the subject.", "Footwear"),
]
# username → role in the demo client; "admin" is also the site's superuser.
USERS = {"admin": Role.ADMIN, "librarian": Role.LIBRARIAN, "reviewer": Role.REVIEWER}
SUPERUSER = "admin"


@dataclass
class DemoSeed:
    sector: Sector
    taxonomy: Taxonomy
    client: Client
    created: list[str] = field(default_factory=list)  # what this run created, in words
    passwords: dict[str, str] = field(default_factory=dict)  # username → new password


def demo_seed(*, reset_passwords: bool = False) -> DemoSeed:
    with transaction.atomic():
        sector, made = Sector.objects.get_or_create(
            slug=SECTOR["slug"],
            defaults={
                "name": SECTOR["name"],
                "description": "Universities and colleges: campus, student life, events.",
            },
        )
        created = [f"sector {sector.name}"] if made else []
        taxonomy, made = Taxonomy.objects.get_or_create(
            sector=sector, name=TAXONOMY_NAME, defaults={"kind": TaxonomyKind.MULTI_CLASS}
        )
        if made:
            created.append(f"taxonomy {taxonomy.name}")
        client, made = Client.objects.get_or_create(
            slug=CLIENT["slug"], defaults={"name": CLIENT["name"], "sector": sector}
        )
        if made:
            created.append(f"client {client.name}")
        seed = DemoSeed(sector=sector, taxonomy=taxonomy, client=client, created=created)
        _seed_labels(seed)
        _seed_users(seed, reset_passwords=reset_passwords)
    return seed


def _seed_labels(seed: DemoSeed) -> None:
    existing = {label.key: label for label in Label.objects.filter(taxonomy=seed.taxonomy)}
    named = set(
        ClientLabelName.objects.filter(client=seed.client).values_list("label_id", flat=True)
    )
    for key, name, description, client_name in LABELS:
        label = existing.get(key)
        if label is None:
            label = label_create(
                taxonomy=seed.taxonomy, key=key, name=name, description=description
            )
            seed.created.append(f"label {key}")
        if label.pk not in named:
            client_label_name_create(client=seed.client, label=label, name=client_name)
            seed.created.append(f"{seed.client.name}'s name “{client_name}” for {key}")
    seed.taxonomy.refresh_from_db(fields=["version"])


def _seed_users(seed: DemoSeed, *, reset_passwords: bool) -> None:
    User = get_user_model()
    for username, role in USERS.items():
        user = User.objects.filter(username=username).first()
        if user is None:
            password = _new_password()
            if username == SUPERUSER:
                user = User.objects.create_superuser(username=username, email="", password=password)
            else:
                user = User.objects.create_user(username=username, password=password)
            seed.passwords[username] = password
            seed.created.append(f"user {username}")
        elif reset_passwords:
            password = _new_password()
            user.set_password(password)
            user.save(update_fields=["password"])
            seed.passwords[username] = password
        _, made = Membership.objects.get_or_create(
            user=user, client=seed.client, defaults={"role": role}
        )
        if made:
            seed.created.append(f"{username} as {role.label.lower()} of {seed.client.name}")


def _new_password() -> str:
    return secrets.token_urlsafe(12)
