"""Labels as a client's people see them: the client's own names, paths and waiting counts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import OuterRef, Subquery

from labelling.models import Client, ClientLabelName, Label
from labelling.selectors.queue import waiting_per_label


@dataclass(frozen=True)
class LabelChoice:
    id: int
    key: str
    name: str  # the client's name for it, else the label's
    path: str  # its ancestors' names and its own, "People › Smiling"
    is_active: bool


@dataclass(frozen=True)
class LabelsWaiting:
    """The client's labels with the images waiting in one queue under each."""

    choices: list[LabelChoice]  # every label, retired ones too, sorted by path
    waiting: dict[int | None, int]  # label id (None: not predicted) → images waiting

    @property
    def total(self) -> int:
        return sum(self.waiting.values())

    @property
    def not_predicted(self) -> int:
        return self.waiting.get(None, 0)

    def shown(self) -> list[tuple[LabelChoice, int]]:
        """The labels worth listing: the active ones, and retired ones that still have
        images waiting under them (an old prediction names them)."""
        return [
            (choice, self.waiting.get(choice.id, 0))
            for choice in self.choices
            if choice.is_active or self.waiting.get(choice.id)
        ]


def label_names(client: Client, label_ids: Iterable[int]) -> dict[int, str]:
    """label id → the client's name for it, else the label's, for the labels named."""
    own = ClientLabelName.objects.filter(client=client, label=OuterRef("pk")).values("name")
    rows = (
        Label.objects.filter(pk__in=set(label_ids))
        .annotate(own=Subquery(own[:1]))
        .values_list("pk", "name", "own")
    )
    return {pk: own or name for pk, name, own in rows}


def label_choices(client: Client) -> list[LabelChoice]:
    """Every label of the client's taxonomy (retired ones too: old predictions name them),
    named as the client names them, sorted by path."""
    taxonomy = client.taxonomy
    if taxonomy is None:
        return []
    names = client.display_names()
    labels = {
        label.pk: label
        for label in Label.objects.filter(taxonomy=taxonomy).only(
            "pk", "key", "name", "parent_id", "is_active"
        )
    }

    def named(pk: int) -> str:
        return names.get(pk, labels[pk].name)

    def path(pk: int) -> str:
        chain, seen, node = [], set(), labels.get(pk)
        while node is not None and node.pk not in seen:
            seen.add(node.pk)
            chain.append(named(node.pk))
            node = labels.get(node.parent_id) if node.parent_id else None
        return " › ".join(reversed(chain))

    choices = [
        LabelChoice(pk, label.key, named(pk), path(pk), label.is_active)
        for pk, label in labels.items()
    ]
    return sorted(choices, key=lambda choice: choice.path.lower())


def labels_waiting(
    client: Client,
    *,
    status: str,
    batch: int | None = None,
    choices: list[LabelChoice] | None = None,
) -> LabelsWaiting:
    """The client's labels and how many images wait under each in the queue of ``status``
    (and ``batch``): what the review page and the review API list. ``choices``: the
    client's label_choices(), where the caller has read them already."""
    return LabelsWaiting(
        choices=label_choices(client) if choices is None else choices,
        waiting=waiting_per_label(client, status=status, batch=batch),
    )
