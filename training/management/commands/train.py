from django.core.management.base import BaseCommand, CommandError

from training.models import ModelMode, RunStatus
from training.services.training import TrainingAlreadyRunning, training_execute, training_request

from ._sector import taxonomy_of_sector


class Command(BaseCommand):
    help = "Train a new model version of a sector's taxonomy from its verified images."

    def add_arguments(self, parser):
        parser.add_argument("--sector", required=True, help="sector slug")
        parser.add_argument("--mode", choices=ModelMode.values, default=ModelMode.HEAD)
        parser.add_argument("--backbone", default=None, help="default: TAXONOMY_DEFAULT_BACKBONE")
        parser.add_argument(
            "--queue",
            action="store_true",
            help="hand the run to the training workers instead of running it here",
        )

    def handle(self, *args, sector, mode, backbone, queue, **options):
        taxonomy = taxonomy_of_sector(sector)
        try:
            run = training_request(taxonomy=taxonomy, mode=mode, backbone=backbone)
        except (TrainingAlreadyRunning, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        if queue:
            self.stdout.write(f"Queued training run {run.pk} ({run.mode}, {run.backbone}).")
            return
        run = training_execute(run_id=run.pk)
        if run is None:
            raise CommandError("A worker took the run first; watch it in the admin.")
        if run.status != RunStatus.SUCCEEDED:
            raise CommandError(f"Training failed: {run.message}")
        version = run.model_version
        top1 = version.metrics.get("top1_accuracy")
        figure = (
            f"top-1 {top1['value']:.3f} (95% CI {top1['ci95_low']:.3f}–{top1['ci95_high']:.3f}) "
            f"on {top1['n']} gold test images"
            if top1
            else "see the version's metrics"
        )
        self.stdout.write(
            f"Trained v{version.number} of {taxonomy.name} on {version.n_train} images: "
            f"{figure}. {run.message}"
        )
