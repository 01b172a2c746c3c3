"""The taxonomy editor's forms: each names the label it acts on in its body, so an unknown
or foreign label id is a form error (400), like any other bad input."""

from __future__ import annotations

from django import forms

from labelling.models import Label, Taxonomy
from labelling.services.taxonomy_restructure import NewLabel

UNKNOWN = {"invalid_choice": "There is no label %(value)s in this taxonomy."}


class LabelField(forms.ModelChoiceField):
    def __init__(self, **kwargs):
        super().__init__(queryset=Label.objects.none(), error_messages=UNKNOWN, **kwargs)


class _TaxonomyForm(forms.Form):
    """Every label field chooses among this taxonomy's labels."""

    active_only: tuple[str, ...] = ()

    def __init__(self, *args, taxonomy: Taxonomy, **kwargs):
        super().__init__(*args, **kwargs)
        self.taxonomy = taxonomy
        labels = Label.objects.filter(taxonomy=taxonomy)
        for name, field in self.fields.items():
            if isinstance(field, LabelField):
                field.queryset = labels.active() if name in self.active_only else labels


class LabelAddForm(_TaxonomyForm):
    key = forms.SlugField(max_length=80, help_text="Stable machine name: letters, digits, - _")
    name = forms.CharField(max_length=120)
    parent = LabelField(required=False, empty_label="(top level)")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    active_only = ("parent",)


class LabelEditForm(_TaxonomyForm):
    label = LabelField(widget=forms.HiddenInput)
    key = forms.SlugField(max_length=80)
    name = forms.CharField(max_length=120)
    parent = LabelField(required=False, empty_label="(top level)")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    active_only = ("parent",)


class LabelMergeForm(_TaxonomyForm):
    label = LabelField(widget=forms.HiddenInput)
    into = LabelField(label="Merge into")
    active_only = ("into",)


class LabelRetireForm(_TaxonomyForm):
    label = LabelField(widget=forms.HiddenInput)


class LabelSplitForm(_TaxonomyForm):
    label = LabelField(widget=forms.HiddenInput)
    into = forms.CharField(
        label="Split into",
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "library, Library\nlab, Laboratory"}
        ),
        help_text="One new label a line: key, name",
    )

    def clean_into(self) -> list[NewLabel]:
        new, problems = [], []
        for n, line in enumerate(self.cleaned_data["into"].splitlines(), start=1):
            if not line.strip():
                continue
            key, sep, name = line.partition(",")
            key, name = key.strip(), name.strip()
            if not sep or not key or not name:
                problems.append(f"Line {n}: write “key, name”.")
                continue
            new.append(NewLabel(key=key, name=name))
        if problems:
            raise forms.ValidationError(problems)
        return new


class ClientNameForm(_TaxonomyForm):
    label = LabelField(widget=forms.HiddenInput)
    name = forms.CharField(max_length=120, required=False, label="Your name")


class TaxonomyImportForm(forms.Form):
    file = forms.FileField(label="JSON or CSV file", required=False)


class LabelFromImagesForm(LabelAddForm):
    """The candidates page's "create label NAME from these": the label's fields (the key
    made from the name when left empty) and the images, among those that fit no label,
    that get it."""

    key = forms.SlugField(
        max_length=80, required=False, help_text="Left empty: made from the name."
    )
    images = forms.TypedMultipleChoiceField(
        coerce=int,
        error_messages={
            "required": "Choose at least one image for the new label.",
            "invalid_choice": "Image %(value)s no longer fits no label: reload the page.",
        },
    )

    def __init__(self, *args, image_ids, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["images"].choices = [(pk, pk) for pk in image_ids]

    def clean(self):
        data = super().clean()
        if not data.get("key") and data.get("name"):
            from django.utils.text import slugify

            data["key"] = slugify(data["name"])[:80]
            if not data["key"]:
                self.add_error("key", "Give a key: the name has no letters or digits to make one.")
        return data
