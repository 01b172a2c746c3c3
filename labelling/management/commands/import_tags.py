from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from labelling.management.commands.export_tags import client_or_error
from labelling.services.tag_import import TagImportError, tags_import_csv


class Command(BaseCommand):
    help = (
        "Put the tags of a CSV (as export_tags writes it: image_id or sha256, label, and "
        "optionally probability and source) onto a client's images. A bad row refuses the "
        "whole file, and nothing is written."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="the CSV file")
        parser.add_argument("--client", required=True, help="the client's slug")

    def handle(self, *args, **options):
        client = client_or_error(options["client"])
        try:
            text = Path(options["path"]).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {options['path']}: {exc}") from exc
        try:
            result = tags_import_csv(client=client, text=text)
        except TagImportError as exc:
            raise CommandError("Nothing imported. " + "\n".join(exc.problems)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Added {result.created} tag(s) to {client.name}; "
                f"{result.unchanged} were already there."
            )
        )
