from django.core.management.base import CommandError

from labelling.models import Sector, Taxonomy


def taxonomy_of_sector(slug: str) -> Taxonomy:
    sector = Sector.objects.filter(slug=slug).first()
    if sector is None:
        known = ", ".join(Sector.objects.values_list("slug", flat=True)) or "none yet"
        raise CommandError(f"No sector {slug!r}. Known sectors: {known}.")
    taxonomy = sector.taxonomies.order_by("created_at", "id").first()
    if taxonomy is None:
        raise CommandError(f"Sector {slug!r} has no taxonomy yet.")
    return taxonomy
