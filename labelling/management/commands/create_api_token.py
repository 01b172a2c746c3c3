from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from labelling.services.tokens import token_create


class Command(BaseCommand):
    help = (
        "Make an API token for a user and print its key (shown once: only a digest is kept). "
        "Users make their own on the API tokens page."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="Made with create_api_token")
        parser.add_argument("--days", type=int, help="days until it expires (default: settings)")

    def handle(self, *args, **options):
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user named “{options['username']}”.")
        try:
            made = token_create(user=user, name=options["name"], expires_in_days=options["days"])
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stderr.write(
            f"Token “{made.token.name}” for {user.username}, expires "
            f"{made.token.expires_at:%Y-%m-%d}:"
        )
        self.stdout.write(made.key)
