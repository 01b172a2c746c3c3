"""Images that fit no label of the taxonomy, gathered for the client's admins and the
sector's maintainers: grouped by their stored embeddings, each group offered as a new
label ("create label NAME from these"), the label added through the taxonomy editor's
service and the kept images labelled through the review services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from labelling.models import Client, Image
from labelling.selectors.no_label import no_label_image_ids
from labelling.services.new_labels import label_create_from_images
from labelling.services.review import ReviewConflict
from labelling.taxonomy_forms import LabelFromImagesForm
from labelling.tenancy import new_label_access
from training.services.new_label_candidates import no_label_candidates

# Thumbnails per group on the page; a larger group shows its first ones and its count.
SHOWN_PER_GROUP = 48


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def new_label_candidates(request: HttpRequest, client_slug: str) -> HttpResponse:
    client, can_create = new_label_access(request.user, client_slug)
    form = None
    if request.method == "POST":
        if not can_create:
            raise PermissionDenied("Only the sector's maintainers add labels to its taxonomy.")
        form = LabelFromImagesForm(
            request.POST,
            taxonomy=client.taxonomy,
            image_ids=no_label_image_ids(client),
            auto_id=f"g{request.POST.get('group', '')}-%s",
        )
        if form.is_valid():
            try:
                label, reviews = _create(client, request.user, form.cleaned_data)
            except (ValidationError, ReviewConflict) as exc:
                form.add_error(None, _words(exc))
            else:
                messages.success(
                    request, f"Added “{label.name}” and gave it to {len(reviews)} image(s)."
                )
                return redirect("new-label-candidates", client.slug)
    return _render(request, client, can_create, form)


def _create(client: Client, user, data: dict):
    return label_create_from_images(
        client=client,
        user=user,
        key=data["key"],
        name=data["name"],
        parent=data["parent"],
        description=data["description"],
        image_ids=data["images"],
    )


def _words(exc) -> list[str] | str:
    if isinstance(exc, ReviewConflict):
        return exc.message
    if hasattr(exc, "message_dict"):
        return [m for messages_ in exc.message_dict.values() for m in messages_]
    return exc.messages


def _render(request, client: Client, can_create: bool, failed_form) -> HttpResponse:
    candidates = no_label_candidates(client=client)
    wanted = {pk for group in candidates.groups for pk in group[:SHOWN_PER_GROUP]}
    wanted |= set(candidates.without_embedding[:SHOWN_PER_GROUP])
    wanted |= set(candidates.not_grouped_yet[:SHOWN_PER_GROUP])
    images = Image.objects.for_client(client).filter(pk__in=wanted).in_bulk()
    slug = client.slug

    def tiles(ids):
        return [
            {
                "id": pk,
                "name": images[pk].original_name or f"Image {pk}",
                "thumbnail": reverse("image-thumbnail", args=[slug, pk])
                if images[pk].thumbnail
                else None,
                "page": reverse("image-detail", args=[slug, pk]),
            }
            for pk in ids[:SHOWN_PER_GROUP]
            if pk in images
        ]

    failed_group = request.POST.get("group") if failed_form is not None else None
    groups = [
        {
            "number": n,
            "size": len(ids),
            "tiles": tiles(ids),
            "hidden": max(0, len(ids) - SHOWN_PER_GROUP),
            "form": failed_form
            if str(n) == failed_group
            else LabelFromImagesForm(taxonomy=client.taxonomy, image_ids=ids, auto_id=f"g{n}-%s"),
        }
        for n, ids in enumerate(candidates.groups, start=1)
    ]
    context = {
        "client": client,
        "can_create": can_create,
        "candidates": candidates,
        "groups": groups,
        "without_embedding": tiles(candidates.without_embedding),
        "not_grouped_yet": tiles(candidates.not_grouped_yet),
        "form_errors": failed_form.errors if failed_form is not None else None,
    }
    status = 400 if failed_form is not None else 200
    return render(request, "labelling/new_labels.html", context, status=status)
