"""Sectors own taxonomies of labels; models are trained per taxonomy."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F


class Sector(models.Model):
    """An industry (universities, retail, charities) whose clients share one taxonomy."""

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    description = models.TextField(blank=True)
    # Who edits the sector's taxonomy and trains, promotes and rolls back its model,
    # besides site staff. Client admins are not maintainers by being admins.
    maintainers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="maintained_sectors"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def is_maintained_by(self, user) -> bool:
        if not user.is_authenticated:
            return False
        return user.is_staff or self.maintainers.filter(pk=user.pk).exists()


class TaxonomyKind(models.TextChoices):
    MULTI_CLASS = "multi_class", "One label per image (softmax)"
    MULTI_LABEL = "multi_label", "Several labels per image (sigmoid)"


class TaxonomyQuerySet(models.QuerySet):
    def for_user(self, user):
        if user.is_staff:
            return self
        return self.filter(sector__clients__memberships__user=user).distinct()


class Taxonomy(models.Model):
    """A sector's label set. ``version`` goes up whenever its labels change, so that a
    model can say which version it learned."""

    sector = models.ForeignKey(Sector, on_delete=models.CASCADE, related_name="taxonomies")
    name = models.CharField(max_length=120)
    kind = models.CharField(
        max_length=20, choices=TaxonomyKind.choices, default=TaxonomyKind.MULTI_CLASS
    )
    version = models.PositiveIntegerField(default=1)
    # Auto-accept: per-class thresholds are chosen so that what the model tags on its own
    # reaches this precision on held-out images; the rest goes to people.
    auto_accept_target = models.FloatField(
        default=0.95,
        validators=[MinValueValidator(0.5), MaxValueValidator(1.0)],
        help_text="Precision the model's own tags must reach (0.5–1.0).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TaxonomyQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "taxonomies"
        ordering = ["sector__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["sector", "name"], name="taxonomy_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.sector.name}: {self.name} (v{self.version})"

    @property
    def is_multi_label(self) -> bool:
        return self.kind == TaxonomyKind.MULTI_LABEL

    def bump_version(self) -> None:
        """Record that the label set changed; done in the database to survive races."""
        Taxonomy.objects.filter(pk=self.pk).update(version=F("version") + 1)
        self.refresh_from_db(fields=["version", "updated_at"])


class LabelQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)


class Label(models.Model):
    """One node of a taxonomy. ``key`` is the stable machine name (``smiling``); the
    display name may change, and clients may call it something else (ClientLabelName)."""

    taxonomy = models.ForeignKey(Taxonomy, on_delete=models.CASCADE, related_name="labels")
    key = models.SlugField(max_length=80)
    name = models.CharField(max_length=120)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    description = models.TextField(blank=True)
    # Labels are retired, never deleted: predictions and reviews point at them.
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = LabelQuerySet.as_manager()

    class Meta:
        ordering = ["taxonomy_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["taxonomy", "key"], name="label_unique_key"),
            models.CheckConstraint(
                condition=~models.Q(parent=models.F("id")), name="label_not_own_parent"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def retire(self) -> None:
        """Take the label out of use (reviews and predictions keep pointing at it)."""
        self.is_active = False
        self.save(update_fields=["is_active"])

    def clean(self) -> None:
        if self.parent_id is None:
            return
        if self.parent.taxonomy_id != self.taxonomy_id:
            raise ValidationError({"parent": "The parent must be in the same taxonomy."})
        node = self.parent
        while node is not None:
            if node.pk == self.pk:
                raise ValidationError({"parent": "A label cannot be its own ancestor."})
            node = node.parent

    def path(self) -> list["Label"]:
        """Ancestors from the root down to this label."""
        chain = []
        node: Label | None = self
        while node is not None:
            chain.append(node)
            node = node.parent
        return list(reversed(chain))
