from django.core.management.base import BaseCommand, CommandError

from training.models import ModelVersion
from training.selectors import active_version
from training.services.evaluation import model_evaluate

from ._sector import taxonomy_of_sector


class Command(BaseCommand):
    help = "Measure a model version (default: the sector's active one) on today's gold test images."

    def add_arguments(self, parser):
        parser.add_argument("--sector", help="sector slug (its active version)")
        parser.add_argument("--model-version", type=int, help="model version id")

    def handle(self, *args, sector, model_version, **options):
        version = model_version
        if version:
            model_version = ModelVersion.objects.filter(pk=version).first()
        elif sector:
            model_version = active_version(taxonomy_of_sector(sector))
        else:
            raise CommandError("Give --sector or --model-version.")
        if model_version is None:
            raise CommandError("No such model version (or the sector has no active model).")
        result = model_evaluate(model_version=model_version)
        low, high = result["top1_ci95"]
        self.stdout.write(
            f"{model_version}: top-1 {result['top1']:.3f} (95% CI {low:.3f}–{high:.3f}) "
            f"on {result['n']} gold test images."
        )
