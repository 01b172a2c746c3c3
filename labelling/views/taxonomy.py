"""The taxonomy editor of a sector: the label tree with search, and per label its names,
description, example images and the operations (rename, move, merge, split, retire), the
client's own name beside it; import and export of the whole taxonomy.

Maintainers (site staff, or the sector's maintainer role) change the labels; a client's
admins change their client's names only (``tenancy.taxonomy_access``). Every operation
posts a form naming its label; bad input re-renders the page with the form's errors (400)
and changes nothing."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from labelling.models import Taxonomy
from labelling.selectors.taxonomy import taxonomy_tree
from labelling.services.taxonomy import (
    client_label_name_set,
    label_create,
    label_retire,
    label_update,
)
from labelling.services.taxonomy_restructure import label_merge, label_split
from labelling.services.taxonomy_transfer import (
    TaxonomyFileError,
    read_taxonomy_upload,
    taxonomy_export,
    taxonomy_import,
)
from labelling.taxonomy_forms import (
    ClientNameForm,
    LabelAddForm,
    LabelEditForm,
    LabelMergeForm,
    LabelRetireForm,
    LabelSplitForm,
    TaxonomyImportForm,
)
from labelling.tenancy import CAN_MANAGE_CLIENT, TaxonomyAccess, client_for_user, taxonomy_access


def _scope(request: HttpRequest, sector_slug: str):
    access = taxonomy_access(request.user, sector_slug)
    taxonomy = access.sector.taxonomies.order_by("created_at", "id").first()
    if taxonomy is None:
        raise Http404(f"The {access.sector.name} sector has no taxonomy yet.")
    wanted = request.POST.get("client") or request.GET.get("client")
    if not wanted and getattr(request, "client", None) is not None:
        wanted = request.client.slug
    clients = {c.slug: c for c in access.name_clients}
    client = clients.get(wanted) or (access.name_clients[0] if access.name_clients else None)
    return access, taxonomy, client


def _editor_url(sector_slug: str, client, label_id=None) -> str:
    query = {}
    if client is not None:
        query["client"] = client.slug
    if label_id:
        query["label"] = label_id
    url = reverse("taxonomy", args=[sector_slug])
    return f"{url}?{urlencode(query)}" if query else url


def _render(request, access: TaxonomyAccess, taxonomy: Taxonomy, client, *, status=200, **extra):
    rows = taxonomy_tree(
        taxonomy=taxonomy,
        client=client,
        with_images=client is not None and client.pk in access.member_of,
    )
    selected = extra.pop("selected", None) or request.GET.get("label")
    selected = next((r for r in rows if str(r.label.pk) == str(selected)), None)
    if selected is None:
        selected = next((r for r in rows if r.label.is_active), rows[0] if rows else None)
    context = {
        "sector": access.sector,
        "taxonomy": taxonomy,
        "access": access,
        "client": client,
        "rows": rows,
        "selected": selected,
        "active_labels": [r for r in rows if r.label.is_active],
        "add_form": LabelAddForm(taxonomy=taxonomy),
        "import_form": TaxonomyImportForm(),
        "errors": [],
        **extra,
    }
    return render(request, "labelling/taxonomy.html", context, status=status)


@login_required
@require_safe
def editor(request: HttpRequest, sector_slug: str) -> HttpResponse:
    access, taxonomy, client = _scope(request, sector_slug)
    return _render(request, access, taxonomy, client)


def _add(form, user):
    data = form.cleaned_data
    label = label_create(
        taxonomy=form.taxonomy,
        key=data["key"],
        name=data["name"],
        parent=data["parent"],
        description=data["description"],
        user=user,
    )
    return label, f"Added “{label.name}”."


def _edit(form, user):
    data = form.cleaned_data
    label = data["label"]
    fields = {f: data[f] for f in ("key", "name", "parent", "description")}
    label_update(label=label, data=fields, user=user)
    return label, f"Saved “{label.name}”."


def _merge(form, user):
    label, into = form.cleaned_data["label"], form.cleaned_data["into"]
    result = label_merge(label=label, into=into, user=user)
    return into, f"Merged “{label.name}” into “{into.name}” ({result['images']} images)."


def _split(form, user):
    label = form.cleaned_data["label"]
    result = label_split(label=label, into=form.cleaned_data["into"], user=user)
    names = ", ".join(f"“{m.name}”" for m in result["labels"])
    return result["labels"][0], (
        f"Split “{label.name}” into {names}: {result['back_to_review']} images went back to review."
    )


def _retire(form, user):
    label = label_retire(label=form.cleaned_data["label"], user=user)
    return label, f"Retired “{label.name}”: reviewers no longer see it; its history is kept."


OPERATIONS = {
    "add": (LabelAddForm, _add),
    "edit": (LabelEditForm, _edit),
    "merge": (LabelMergeForm, _merge),
    "split": (LabelSplitForm, _split),
    "retire": (LabelRetireForm, _retire),
}


def _problems(exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        return [m for messages_ in exc.message_dict.values() for m in messages_]
    return list(exc.messages)


def _form_problems(form) -> list[str]:
    return [
        (f"{form.fields[f].label or f.title()}: {m}" if f != "__all__" else m)
        for f, ms in form.errors.items()
        for m in ms
    ]


@login_required
@require_safe
def client_editor(request: HttpRequest, client_slug: str) -> HttpResponse:
    """A client's way in: its sector's editor, showing the client's names."""
    client, _membership = client_for_user(
        request.user, client_slug, roles=CAN_MANAGE_CLIENT, refusal="cannot edit label names"
    )
    return redirect(_editor_url(client.sector.slug, client))


@login_required
@require_POST
def change(request: HttpRequest, sector_slug: str, operation: str) -> HttpResponse:
    access, taxonomy, client = _scope(request, sector_slug)
    if operation not in OPERATIONS:
        raise Http404("No such operation.")
    if not access.can_edit:
        raise PermissionDenied(
            f"Only the {access.sector.name} sector's maintainers change its taxonomy; "
            "you can change your client's names for its labels."
        )
    form_class, apply = OPERATIONS[operation]
    form = form_class(request.POST, taxonomy=taxonomy)
    problems = []
    if form.is_valid():
        try:
            label, done = apply(form, request.user)
        except ValidationError as exc:
            problems = _problems(exc)
        else:
            messages.success(request, done)
            return redirect(_editor_url(sector_slug, client, label.pk))
    else:
        problems = _form_problems(form)
    return _render(
        request,
        access,
        taxonomy,
        client,
        status=400,
        errors=problems,
        selected=request.POST.get("label"),
        **({"add_form": form} if operation == "add" else {}),
    )


@login_required
@require_POST
def set_client_name(request: HttpRequest, sector_slug: str) -> HttpResponse:
    access, taxonomy, client = _scope(request, sector_slug)
    if client is None or request.POST.get("client") != client.slug:
        raise PermissionDenied("You can change only your own client's names for labels.")
    form = ClientNameForm(request.POST, taxonomy=taxonomy)
    if not form.is_valid():
        return _render(
            request,
            access,
            taxonomy,
            client,
            status=400,
            errors=_form_problems(form),
            selected=request.POST.get("label"),
        )
    label = form.cleaned_data["label"]
    try:
        outcome = client_label_name_set(
            client=client, label=label, name=form.cleaned_data["name"], user=request.user
        )
    except ValidationError as exc:
        return _render(
            request, access, taxonomy, client, status=400, errors=_problems(exc), selected=label.pk
        )
    said = {
        "set": f"{client.name} now calls “{label.name}” “{form.cleaned_data['name'].strip()}”.",
        "changed": f"{client.name} now calls “{label.name}” “{form.cleaned_data['name'].strip()}”.",
        "removed": f"{client.name} uses the sector's name “{label.name}” again.",
        "unchanged": "Nothing changed.",
    }
    messages.success(request, said[outcome])
    return redirect(_editor_url(sector_slug, client, label.pk))


@login_required
@require_http_methods(["POST"])
def import_file(request: HttpRequest, sector_slug: str) -> HttpResponse:
    access, taxonomy, client = _scope(request, sector_slug)
    if not access.can_edit:
        raise PermissionDenied(
            f"Only the {access.sector.name} sector's maintainers import a taxonomy."
        )
    try:
        format, text = read_taxonomy_upload(request.FILES.get("file"))
        result = taxonomy_import(taxonomy=taxonomy, format=format, text=text, user=request.user)
    except TaxonomyFileError as exc:
        return _render(
            request,
            access,
            taxonomy,
            client,
            status=400,
            errors=["Nothing was imported:", *exc.problems],
        )
    if result.added or result.changed:
        messages.success(
            request,
            f"Imported: {len(result.added)} added, {len(result.changed)} changed, "
            f"{result.unchanged} unchanged; the taxonomy is now v{result.version}.",
        )
    else:
        messages.info(request, "The file matches the taxonomy: nothing changed.")
    return redirect(_editor_url(sector_slug, client))


@login_required
@require_safe
def export_file(request: HttpRequest, sector_slug: str, file_format: str) -> HttpResponse:
    _access, taxonomy, _client = _scope(request, sector_slug)
    try:
        name, content_type, data = taxonomy_export(taxonomy=taxonomy, format=file_format)
    except TaxonomyFileError as exc:
        raise Http404(str(exc)) from exc
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
