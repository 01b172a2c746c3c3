from django.core.management.base import BaseCommand, CommandError

from training.models import ModelVersion
from training.services.versions import ActivationRefused, model_activate


class Command(BaseCommand):
    help = "Make a model version the active one of its taxonomy (id from the admin or API)."

    def add_arguments(self, parser):
        parser.add_argument("version", type=int, help="model version id")
        parser.add_argument("--force", action="store_true", help="even if it did worse")

    def handle(self, *args, version, force, **options):
        model_version = ModelVersion.objects.filter(pk=version).first()
        if model_version is None:
            raise CommandError(f"No model version with id {version}.")
        try:
            model_activate(model_version=model_version, force=force)
        except ActivationRefused as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{model_version} is now active.")
