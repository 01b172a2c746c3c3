from django.apps import AppConfig


class LabellingConfig(AppConfig):
    name = "labelling"
    verbose_name = "Labelling"

    def ready(self) -> None:
        from taxonomy_site.celery import ensure_broker_folders

        ensure_broker_folders()
