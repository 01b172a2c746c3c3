"""Reads for the taxonomy editor: the label tree in order, with a client's names, counts
and a few example images beside each label."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, F, Window
from django.db.models.functions import RowNumber

from labelling.models import Client, ImageLabel, ImageStatus, Label, Taxonomy

EXAMPLES_PER_LABEL = 3


@dataclass
class TreeRow:
    label: Label
    depth: int
    path: str
    client_name: str = ""
    images: int = 0
    examples: list[int] = field(default_factory=list)
    children: int = 0


def taxonomy_tree(
    *, taxonomy: Taxonomy, client: Client | None = None, with_images: bool = False
) -> list[TreeRow]:
    """Every label of ``taxonomy`` (retired ones too), parents before their children and
    siblings by name. ``client``: its own names beside the labels; ``with_images``: how many
    of its images carry each label, and the ids of a few of its verified ones (a client's
    images are shown only to its members)."""
    labels = list(Label.objects.filter(taxonomy=taxonomy).order_by("name", "id"))
    by_parent: dict[int | None, list[Label]] = {}
    for label in labels:
        by_parent.setdefault(label.parent_id, []).append(label)
    names = client.display_names() if client is not None else {}
    counts, examples = ({}, {}) if not with_images or client is None else _images(client, labels)
    rows: list[TreeRow] = []

    def walk(parent_id, depth, prefix):
        for label in by_parent.get(parent_id, []):
            path = f"{prefix} › {label.name}" if prefix else label.name
            rows.append(
                TreeRow(
                    label=label,
                    depth=depth,
                    path=path,
                    client_name=names.get(label.pk, ""),
                    images=counts.get(label.pk, 0),
                    examples=examples.get(label.pk, []),
                    children=len(by_parent.get(label.pk, [])),
                )
            )
            walk(label.pk, depth + 1, path)

    walk(None, 0, "")
    return rows


def _images(client: Client, labels: list[Label]) -> tuple[dict[int, int], dict[int, list[int]]]:
    ids = [label.pk for label in labels]
    mine = ImageLabel.objects.filter(label_id__in=ids, image__client=client)
    counts = dict(mine.values("label_id").annotate(n=Count("id")).values_list("label_id", "n"))
    ranked = (
        mine.filter(image__status=ImageStatus.VERIFIED)
        .exclude(image__thumbnail="")
        .annotate(
            rank=Window(RowNumber(), partition_by=[F("label_id")], order_by=[F("image_id").desc()])
        )
        .filter(rank__lte=EXAMPLES_PER_LABEL)
        .values_list("label_id", "image_id")
    )
    examples: dict[int, list[int]] = {}
    for label_id, image_id in ranked:
        examples.setdefault(label_id, []).append(image_id)
    return counts, examples
