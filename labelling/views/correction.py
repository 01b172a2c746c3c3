"""Correct this tag: the image page's form for a person to set an image's labels outside the
review queue, through the same service the API's corrections use (``image_correct``)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from labelling.models import Client, Image, ImageStatus, Label
from labelling.models.reviews import ReviewDecision
from labelling.services.review import Decision, ReviewConflict, image_correct
from labelling.tenancy import CAN_CORRECT, CAN_REVIEW, client_for_user

# What a correction is for: tags already given. An image waiting in the queue is the
# reviewers' (they decide it there); one still being processed has nothing to correct yet.
CORRECTABLE = (
    ImageStatus.AUTO_TAGGED,
    ImageStatus.VERIFIED,
    ImageStatus.REJECTED,
    ImageStatus.NO_LABEL,
)


def label_choices(client: Client) -> list[tuple[int, str]]:
    """The taxonomy's labels a person may choose, by the client's names."""
    taxonomy = client.taxonomy
    if taxonomy is None:
        return []
    names = client.display_names()
    labels = Label.objects.filter(taxonomy=taxonomy, is_active=True).order_by("name")
    return sorted(
        ((label.pk, names.get(label.pk, label.name)) for label in labels),
        key=lambda c: c[1].lower(),
    )


class _OneOfList(forms.RadioSelect):
    """Radio buttons for a multiple-choice field (one label per image in a multi-class
    taxonomy): the posted values are read as a list, so that sending two is refused in
    words rather than silently keeping one."""

    def value_from_datadict(self, data, files, name):
        return data.getlist(name) if hasattr(data, "getlist") else data.get(name)


class CorrectionForm(forms.Form):
    labels = forms.TypedMultipleChoiceField(
        coerce=int,
        label="Correct labels",
        error_messages={"required": "Choose the label this image should carry."},
    )

    def __init__(self, *args, client: Client, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["labels"]
        field.choices = label_choices(client)
        multi = client.taxonomy is not None and client.taxonomy.is_multi_label
        field.widget = forms.CheckboxSelectMultiple() if multi else _OneOfList()
        field.widget.choices = field.choices
        self.multi_label = multi

    def clean_labels(self):
        chosen = self.cleaned_data["labels"]
        if not self.multi_label and len(chosen) != 1:
            raise ValidationError("Choose exactly one label: this taxonomy gives one per image.")
        return chosen


def can_correct(role: str | None, image: Image) -> bool:
    if role not in CAN_CORRECT:
        return False
    if image.status == ImageStatus.NEEDS_REVIEW:
        return role in CAN_REVIEW
    return image.status in CORRECTABLE


@login_required
@require_POST
def image_correct_view(request: HttpRequest, client_slug: str, image_id: int) -> HttpResponse:
    client, membership = client_for_user(
        request.user, client_slug, roles=CAN_CORRECT, refusal="cannot correct tags"
    )
    image = get_object_or_404(Image.objects.for_client(client), pk=image_id)
    if not can_correct(membership.role, image):
        if image.status == ImageStatus.NEEDS_REVIEW:
            raise PermissionDenied(
                "This image is waiting in the review queue; only reviewers decide it."
            )
        raise PermissionDenied(
            f"This image is {image.get_status_display().lower()}: it has no tag to correct yet."
        )
    back = redirect("image-detail", client_slug=client.slug, image_id=image.pk)
    form = CorrectionForm(request.POST, client=client)
    if not form.is_valid():
        messages.error(
            request, "The tag was not corrected: " + " ".join(form.errors.get("labels", []))
        )
        return back
    decision = Decision(
        image=image.pk, decision=ReviewDecision.CORRECT, labels=tuple(form.cleaned_data["labels"])
    )
    try:
        image_correct(client=client, user=request.user, decision=decision)
    except (ReviewConflict, ValidationError) as exc:
        text = exc.message if isinstance(exc, ReviewConflict) else " ".join(exc.messages)
        messages.error(request, f"The tag was not corrected: {text}")
        return back
    chosen = dict(form.fields["labels"].choices)
    names = ", ".join(chosen[pk] for pk in form.cleaned_data["labels"])
    messages.success(request, f"Corrected: this image is now tagged {names} (by you).")
    return back
