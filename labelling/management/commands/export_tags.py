from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from labelling.models import Client
from labelling.services.tag_export import FORMATS, TagExportError, tags_export


def client_or_error(slug: str) -> Client:
    client = Client.objects.select_related("sector").filter(slug=slug).first()
    if client is None:
        known = ", ".join(Client.objects.values_list("slug", flat=True)) or "none yet"
        raise CommandError(f"No client with slug {slug!r}. Clients: {known}.")
    return client


class Command(BaseCommand):
    help = (
        "Export a client's tags (image, label, probability, machine or human, model version) "
        "as CSV, JSON, or XMP sidecars (into a folder, or a zip when --out ends in .zip)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--client", required=True, help="the client's slug")
        parser.add_argument("--format", required=True, choices=FORMATS)
        parser.add_argument(
            "--out", required=True, help="the file to write (xmp: a folder, or a .zip file)"
        )

    def handle(self, *args, **options):
        client = client_or_error(options["client"])
        out = Path(options["out"])
        try:
            count = tags_export(client=client, format=options["format"], out=out)
        except TagExportError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Wrote {count} tag(s) of {client.name} to {out}."))
