"""The API tokens page: a signed-in user makes, names, reviews and revokes their own tokens.
A new token's key is shown on the page that answers its creation, and never again."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from labelling.models import ApiToken
from labelling.services.tokens import token_create, token_revoke

LIFETIMES = (7, 30, 90, 365)


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100)
    expires_in_days = forms.TypedChoiceField(coerce=int, choices=())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        days = sorted({d for d in LIFETIMES if d <= settings.API_TOKEN_MAX_DAYS})
        self.fields["expires_in_days"].choices = [(d, f"{d} days") for d in days]
        self.fields["expires_in_days"].initial = settings.API_TOKEN_DAYS


@login_required
def tokens(request: HttpRequest) -> HttpResponse:
    new_key = None
    status = 200
    if request.method == "POST":
        form = TokenForm(request.POST)
        if form.is_valid():
            try:
                made = token_create(
                    user=request.user,
                    name=form.cleaned_data["name"],
                    expires_in_days=form.cleaned_data["expires_in_days"],
                )
            except ValidationError as exc:
                form.add_error(None, exc)
                status = 400
            else:
                new_key = made.key
                status = 201
                form = TokenForm()
        else:
            status = 400
    else:
        form = TokenForm()
    context = {
        "form": form,
        "new_key": new_key,
        "tokens": ApiToken.objects.filter(user=request.user),
    }
    return render(request, "labelling/tokens.html", context, status=status)


@login_required
@require_POST
def revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        token = token_revoke(user=request.user, token_id=token_id)
    except ApiToken.DoesNotExist as exc:
        raise Http404("No such token.") from exc
    messages.success(request, f"Token “{token.name}” is revoked.")
    return redirect("tokens")
