from django.core.management.base import BaseCommand, CommandError

from training.services.versions import ActivationRefused, model_rollback

from ._sector import taxonomy_of_sector


class Command(BaseCommand):
    help = "Move a sector's active model back to the version that served before it."

    def add_arguments(self, parser):
        parser.add_argument("--sector", required=True, help="sector slug")

    def handle(self, *args, sector, **options):
        taxonomy = taxonomy_of_sector(sector)
        try:
            activation = model_rollback(taxonomy=taxonomy)
        except ActivationRefused as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{activation.model_version} is active again.")
