from django.core.management.base import BaseCommand

from labelling.services.duplicates import image_hashes_backfill


class Command(BaseCommand):
    help = (
        "Compute the perceptual hash (near-duplicate detection) of images stored before "
        "ingest computed it; new images get theirs at ingest."
    )

    def handle(self, *args, **options):
        hashed, unreadable = image_hashes_backfill()
        note = f"; {unreadable} thumbnail(s) could not be read" if unreadable else ""
        self.stdout.write(self.style.SUCCESS(f"Hashed {hashed} image(s){note}."))
