"""The library: a grid of thumbnails with filters, and one page per image.

Paging is LIMIT/OFFSET on indexed orderings with a cap (MAX_PAGE pages of PAGE_SIZE), and the
total is counted only up to COUNT_CAP, so no page costs more than a bounded scan at 100,000
images. "Newest" walks the (client, created_at) order; a label search joins ImageLabel on its
(label, probability) index and ranks by the stored probability.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.db.models import F, FilteredRelation, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_safe

from labelling.models import Client, Image, ImageLabel, ImageStatus, Label, Review
from labelling.selectors.duplicates import near_duplicates
from labelling.tenancy import CAN_UPLOAD, client_for_user
from labelling.views.correction import CorrectionForm, can_correct

PAGE_SIZE = 48
MAX_PAGE = 200  # OFFSET never passes 9,552 rows; beyond that, narrow the filters
COUNT_CAP = 10_000

SORTS = {
    "newest": "Newest first",
    "oldest": "Oldest first",
    "confident": "Most confident first",
    "unsure": "Least confident first",
}


class LibraryFilters(forms.Form):
    q = forms.CharField(required=False, max_length=100, label="Name contains")
    batch = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *ImageStatus.choices])
    label = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    # In percent, as every other page shows probabilities; cleaned to a fraction.
    min_probability = forms.FloatField(
        required=False,
        min_value=0,
        max_value=100,
        label="Minimum probability (%)",
        widget=forms.NumberInput(attrs={"min": "0", "max": "100", "step": "1"}),
        error_messages={
            "min_value": "The minimum probability is a percentage from 0 to 100.",
            "max_value": "The minimum probability is a percentage from 0 to 100.",
            "invalid": "Enter the minimum probability as a percentage from 0 to 100, e.g. 80.",
        },
    )
    uploader = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    uploaded_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    uploaded_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )
    sort = forms.ChoiceField(required=False, choices=list(SORTS.items()))
    page = forms.IntegerField(required=False, min_value=1)

    def __init__(self, *args, client: Client, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["batch"].choices = [("", "Any batch")] + [
            (b.pk, str(b)) for b in client.batches.order_by("-created_at")[:200]
        ]
        names = client.display_names()
        labels = Label.objects.filter(taxonomy__sector_id=client.sector_id).order_by("name")
        self.fields["label"].choices = [("", "Any label")] + [
            (label.pk, names.get(label.pk, label.name)) for label in labels
        ]
        people = get_user_model().objects.filter(memberships__client=client).order_by("username")
        self.fields["uploader"].choices = [("", "Anyone")] + [
            (user.pk, user.get_username()) for user in people
        ]

    def clean_min_probability(self):
        percent = self.cleaned_data.get("min_probability")
        return None if percent is None else percent / 100

    def clean_page(self):
        page = self.cleaned_data.get("page")
        if page is not None and page > MAX_PAGE:
            raise forms.ValidationError(
                f"Paging stops at page {MAX_PAGE}: narrow the filters to see more."
            )
        return page


def library_images(client: Client, filters: dict) -> QuerySet[Image]:
    """The client's images matching ``filters`` (LibraryFilters.cleaned_data), in the
    order asked for. Every query starts from the client."""
    images = Image.objects.for_client(client)
    if filters.get("q"):
        images = images.filter(original_name__icontains=filters["q"])
    if filters.get("batch"):
        images = images.filter(batch_id=filters["batch"])
    if filters.get("status"):
        images = images.filter(status=filters["status"])
    if filters.get("uploader"):
        images = images.filter(uploaded_by_id=filters["uploader"])
    if filters.get("uploaded_from"):
        images = images.filter(created_at__gte=_start_of(filters["uploaded_from"]))
    if filters.get("uploaded_to"):
        images = images.filter(created_at__lt=_start_of(filters["uploaded_to"] + timedelta(1)))

    min_probability = filters.get("min_probability")
    if filters.get("label"):
        # One row per image: (image, label) is unique.
        images = images.annotate(
            wanted=FilteredRelation(
                "image_labels", condition=Q(image_labels__label=filters["label"])
            )
        ).filter(wanted__isnull=False)
        images = images.annotate(confidence=F("wanted__probability"))
        if min_probability is not None:
            # A person's label has no probability and is certain: it passes any minimum.
            images = images.filter(
                Q(wanted__probability__gte=min_probability) | Q(wanted__probability__isnull=True)
            )
    elif min_probability is not None or filters.get("sort") in ("confident", "unsure"):
        best = ImageLabel.objects.filter(image=OuterRef("pk"), probability__isnull=False)
        best = best.order_by(F("probability").desc()).values("probability")[:1]
        images = images.annotate(confidence=Subquery(best))
        if min_probability is not None:
            images = images.filter(confidence__gte=min_probability)

    sort = filters.get("sort") or "newest"
    if sort == "oldest":
        return images.order_by("created_at", "id")
    if sort == "confident":
        # Labels set by a person (no probability) count as certain when searching a label.
        nulls = {"nulls_first": True} if filters.get("label") else {"nulls_last": True}
        return images.order_by(F("confidence").desc(**nulls), "-created_at", "-id")
    if sort == "unsure":
        return images.order_by(F("confidence").asc(nulls_last=True), "-created_at", "-id")
    return images.order_by("-created_at", "-id")


@login_required
def my_library(request: HttpRequest) -> HttpResponse:
    """/library/ → the current client's library."""
    if request.client is None:
        return redirect("home")
    # Its filters go along (/library/?label=3 stays label 3).
    url = reverse("library", args=[request.client.slug])
    query = request.GET.urlencode()
    return redirect(f"{url}?{query}" if query else url)


@login_required
@require_safe
def library(request: HttpRequest, client_slug: str) -> HttpResponse:
    client, membership = client_for_user(request.user, client_slug)
    form = LibraryFilters(request.GET or None, client=client)
    filters: dict = {}
    if form.is_bound:
        form.is_valid()  # a wrong filter is shown as such; the valid ones still apply
        filters = form.cleaned_data
    page = filters.get("page") or 1
    images = library_images(client, filters)
    offset = (page - 1) * PAGE_SIZE
    rows = list(
        images.select_related("batch")
        .prefetch_related(
            Prefetch(
                "image_labels",
                queryset=ImageLabel.objects.select_related("label").order_by(
                    F("probability").desc(nulls_first=True)
                ),
            )
        )
        .defer("failure_reason")[offset : offset + PAGE_SIZE + 1]
    )
    has_next = len(rows) > PAGE_SIZE and page < MAX_PAGE
    rows = rows[:PAGE_SIZE]
    total = images.order_by()[: COUNT_CAP + 1].count()
    names = client.display_names()
    cards = [_card(image, names, client_slug) for image in rows]
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "client": client,
        "form": form,
        "cards": cards,
        "page": page,
        "has_previous": page > 1,
        "has_next": has_next,
        "at_cap": len(rows) == PAGE_SIZE and page == MAX_PAGE,
        "total": min(total, COUNT_CAP),
        "total_capped": total > COUNT_CAP,
        "query": query.urlencode(),
        "can_upload": membership.role in CAN_UPLOAD,
        "sorts": SORTS,
    }
    return render(request, "labelling/library.html", context)


@login_required
@require_safe
def image_detail(request: HttpRequest, client_slug: str, image_id: int) -> HttpResponse:
    client, membership = client_for_user(request.user, client_slug)
    image = get_object_or_404(
        Image.objects.for_client(client).select_related("batch", "uploaded_by"), pk=image_id
    )
    names = client.display_names()
    labels_by_id = {
        label.pk: names.get(label.pk, label.name)
        for label in Label.objects.filter(taxonomy__sector_id=client.sector_id)
    }
    current = [
        {
            "name": labels_by_id.get(il.label_id, il.label.name),
            "source": il.get_source_display(),
            "probability": il.probability,
        }
        for il in image.image_labels.select_related("label").order_by(
            F("probability").desc(nulls_first=True)
        )
    ]
    predictions = [
        {
            "version": str(p.model_version),
            "created_at": p.created_at,
            "ranked": [
                {
                    "name": labels_by_id.get(entry.get("label"), f"label {entry.get('label')}"),
                    "probability": entry.get("probability"),
                }
                for entry in (p.ranked or [])[:5]
            ],
        }
        for p in image.predictions.select_related("model_version", "model_version__taxonomy")
    ]
    reviews = [
        {
            "reviewer": r.reviewer.get_username() if r.reviewer else "(deleted user)",
            "decision": r.get_decision_display(),
            "labels": [labels_by_id.get(label.pk, label.name) for label in r.labels.all()],
            "created_at": r.created_at,
            "undone_at": r.undone_at,
            "corrected_auto_tag": r.corrected_auto_tag,
        }
        for r in Review.objects.filter(image=image)
        .select_related("reviewer")
        .prefetch_related("labels")
        .order_by("-created_at")
    ]
    context = {
        "client": client,
        "membership": membership,
        "image": image,
        "current_labels": current,
        "predictions": predictions,
        "reviews": reviews,
        "file_url": reverse("image-file", args=[client.slug, image.pk]),
        "thumbnail_url": reverse("image-thumbnail", args=[client.slug, image.pk])
        if image.thumbnail
        else "",
        "library_url": reverse("library", args=[client.slug]),
        "correction_form": CorrectionForm(
            client=client,
            initial={"labels": [il.label_id for il in image.image_labels.all()]},
        )
        if can_correct(membership.role, image)
        else None,
        "looks_like": [
            {"id": pk, "bits": bits, "url": reverse("image-detail", args=[client.slug, pk])}
            for pk, bits in near_duplicates(image)
        ],
    }
    return render(request, "labelling/image_detail.html", context)


def _card(image: Image, names: dict[int, str], client_slug: str) -> dict:
    labels = list(image.image_labels.all())
    top = labels[0] if labels else None
    return {
        "image": image,
        "url": reverse("image-detail", args=[client_slug, image.pk]),
        "thumbnail_url": reverse("image-thumbnail", args=[client_slug, image.pk])
        if image.thumbnail
        else "",
        "label": names.get(top.label_id, top.label.name) if top else "",
        "probability": top.probability if top else None,
        "confidence": getattr(image, "confidence", None),
    }


def _start_of(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))
