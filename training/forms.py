"""Forms of the model pages: train, compare, activate, and the auto-accept target."""

from __future__ import annotations

from django import forms
from django.conf import settings

from training.models import ModelMode


def backbone_weights() -> dict[str, str | None]:
    """Each registered backbone → None when its pretrained weights are on this host, else
    one line on how to add them."""
    from training.backbones import available_backbones, get_spec  # the registry; no TensorFlow

    return {name: get_spec(name).missing_weights() for name in available_backbones()}


class TrainForm(forms.Form):
    """Offers only the backbones that can train here: one without weights would fail (a
    backbone never trains from scratch); the page says in one line how to add them."""

    mode = forms.ChoiceField(choices=ModelMode.choices, initial=ModelMode.HEAD)
    backbone = forms.ChoiceField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        weights = backbone_weights()
        self.fields["backbone"].choices = [(n, n) for n, hint in weights.items() if hint is None]
        self.fields["backbone"].initial = settings.DEFAULT_BACKBONE
        self.missing_backbones = {n: hint for n, hint in weights.items() if hint is not None}


class ActivateForm(forms.Form):
    force = forms.BooleanField(
        required=False, help_text="Activate even if it did worse on the gold test images."
    )


class TargetForm(forms.Form):
    target = forms.FloatField(
        min_value=50,
        max_value=100,
        label="Target precision (%)",
        help_text="50–100%: what the model's own tags must reach on held-out images.",
        widget=forms.NumberInput(attrs={"step": "0.5", "min": "50", "max": "100"}),
        error_messages={
            "min_value": "The target precision must be at least 50%%.",
            "max_value": "The target precision cannot be more than 100%%.",
            "invalid": "Enter the target precision as a percentage, e.g. 95.",
            "required": "Enter the target precision as a percentage, e.g. 95.",
        },
    )


class ConsentForm(forms.Form):
    trains_sector_model = forms.BooleanField(
        required=False, label="Our verified images train the sector's shared model"
    )


class RetrainingPolicyForm(forms.Form):
    enabled = forms.BooleanField(required=False, label="Retrain by itself")
    after_verified = forms.IntegerField(
        min_value=0,
        max_value=100_000,
        label="After this many newly verified images",
        help_text="0: never on a count.",
    )
    every_hours = forms.IntegerField(
        min_value=0,
        max_value=24 * 365,
        label="And every (hours)",
        help_text="When anything new was verified; 0: no schedule.",
    )
