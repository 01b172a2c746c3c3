from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from labelling.models import Client
from labelling.services.library_import import (
    ImportReport,
    LibraryImportError,
    library_import,
    taxonomy_named,
)

# Lists longer than this are cut in the summary; -v 2 prints them whole.
SHOWN = 20


class Command(BaseCommand):
    help = (
        "Import an existing labelled library laid out as one sub-folder per label (the folder "
        "is a label's key or name, or the client's own name for it) as verified images."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="the library's folder: one sub-folder per label")
        parser.add_argument("--client", required=True, help="the client's slug")
        parser.add_argument(
            "--taxonomy",
            help="the taxonomy's name (default: the first of the client's sector, as training)",
        )
        parser.add_argument(
            "--create-labels",
            action="store_true",
            help="create labels for folders that name none (default: report them, skip them)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="read and check every file, store nothing"
        )

    def handle(self, *args, **options):
        client = Client.objects.select_related("sector").filter(slug=options["client"]).first()
        if client is None:
            known = ", ".join(Client.objects.values_list("slug", flat=True)) or "none yet"
            raise CommandError(f"No client with slug {options['client']!r}. Clients: {known}.")
        try:
            taxonomy = taxonomy_named(client, options["taxonomy"]) if options["taxonomy"] else None
            report = library_import(
                client=client,
                root=Path(options["path"]),
                taxonomy=taxonomy,
                create_labels=options["create_labels"],
                dry_run=options["dry_run"],
            )
        except LibraryImportError as exc:
            raise CommandError(str(exc)) from exc
        self._print(client, report, verbose=options["verbosity"] >= 2)

    def _print(self, client: Client, report: ImportReport, *, verbose: bool) -> None:
        out, style = self.stdout.write, self.style
        limit = None if verbose else SHOWN
        dry = report.dry_run
        out(
            f"{'Dry run: nothing is stored. ' if dry else ''}"
            f"{report.root} → {client.name}, taxonomy “{report.taxonomy.name}” "
            f"(v{report.taxonomy.version})."
        )
        for folder, key in report.folders.items():
            new = " (new label)" if folder in report.created_labels else ""
            out(f"  {folder}/ → {key}{new}")
        verb = "Would import" if dry else "Imported"
        total = report.imported_total
        summary = f"{verb} {total} verified image{'s' if total != 1 else ''}"
        if report.imported:
            counts = ", ".join(f"{key} {n}" for key, n in sorted(report.imported.items()))
            summary += f": {counts}"
        if report.batch is not None:
            summary += f" (batch “{report.batch}”, #{report.batch.pk})"
        out(style.SUCCESS(summary + "."))
        if report.added_labels:
            counts = ", ".join(f"{key} {n}" for key, n in sorted(report.added_labels.items()))
            verb = "Would give" if dry else "Gave"
            out(f"{verb} images found in several label folders those labels too: {counts}.")
        if report.created_labels:
            verb = "Would create" if dry else "Created"
            created = ", ".join(
                key if key == folder else f"{key} (from “{folder}”)"
                for folder, key in report.created_labels.items()
            )
            out(f"{verb} label(s) in {report.taxonomy.name}: {created}.")
        if report.duplicates:
            out(style.WARNING(f"Skipped {len(report.duplicates)} duplicate(s):"))
            self._list([f"{s.path}: {s.message}" for s in report.duplicates], limit)
        if report.refused:
            out(style.WARNING(f"Skipped {len(report.refused)} other file(s):"))
            self._list([f"{s.path}: {s.message}" for s in report.refused], limit)
        if report.unknown_labels:
            out(
                style.WARNING(
                    "Folders that name no label (nothing imported from them; "
                    "--create-labels creates them):"
                )
            )
            self._list([_files(f, n) for f, n in report.unknown_labels.items()], limit)
        if report.retired_labels:
            out(style.WARNING("Folders of retired labels (nothing imported from them):"))
            self._list([_files(f, n) for f, n in report.retired_labels.items()], limit)
        if report.empty_folders:
            empty = ", ".join(f"{folder}/" for folder in report.empty_folders)
            out(style.WARNING(f"Empty folders (nothing to import): {empty}."))
        for note in report.notes:
            out(style.WARNING(note))

    def _list(self, lines: list[str], limit: int | None) -> None:
        for line in lines[:limit]:
            self.stdout.write(f"  {line}")
        if limit is not None and len(lines) > limit:
            self.stdout.write(f"  … and {len(lines) - limit} more (-v 2 lists them all)")


def _files(folder: str, count: int) -> str:
    return f"{folder}: {count} file{'s' if count != 1 else ''}"
