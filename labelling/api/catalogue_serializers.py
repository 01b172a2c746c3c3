"""Serializers of the catalogue: sectors, taxonomies, labels, clients, client label names."""

from rest_framework import serializers

from labelling.api.input import DbIntegerField
from labelling.models import Client, ClientLabelName, Label, Role, Sector, Taxonomy


class SectorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Sector
        fields = ["id", "name", "slug", "description", "created_at"]
        read_only_fields = ["created_at"]


class TaxonomySerializer(serializers.ModelSerializer):
    class Meta:
        model = Taxonomy
        fields = ["id", "sector", "name", "kind", "version", "created_at", "updated_at"]
        read_only_fields = ["version", "created_at", "updated_at"]

    def validate_sector(self, sector: Sector) -> Sector:
        if self.instance is not None and sector.pk != self.instance.sector_id:
            raise serializers.ValidationError(
                "A taxonomy cannot move to another sector: its clients' names and its "
                "models point at its labels."
            )
        return sector


class TaxonomyFilterSerializer(serializers.Serializer):
    sector = DbIntegerField(
        required=False, min_value=1, help_text="Only the taxonomies of this sector (id)."
    )


class LabelSerializer(serializers.ModelSerializer):
    class Meta:
        model = Label
        fields = ["id", "taxonomy", "key", "name", "parent", "description", "is_active"]
        read_only_fields = fields


class LabelCreateSerializer(serializers.Serializer):
    taxonomy = serializers.PrimaryKeyRelatedField(queryset=Taxonomy.objects.all())
    key = serializers.SlugField(max_length=80)
    name = serializers.CharField(max_length=120)
    parent = serializers.PrimaryKeyRelatedField(
        queryset=Label.objects.all(), required=False, allow_null=True, default=None
    )
    description = serializers.CharField(required=False, allow_blank=True, default="")


class LabelUpdateSerializer(serializers.Serializer):
    """Fields left out are left as they are; the taxonomy of a label never changes."""

    key = serializers.SlugField(max_length=80)
    name = serializers.CharField(max_length=120)
    parent = serializers.PrimaryKeyRelatedField(
        queryset=Label.objects.all(), required=False, allow_null=True
    )
    description = serializers.CharField(required=False, allow_blank=True)


class LabelFilterSerializer(serializers.Serializer):
    taxonomy = DbIntegerField(
        required=False, min_value=1, help_text="Only the labels of this taxonomy (id)."
    )
    active = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="true: only labels in use; false: only retired ones.",
    )


class ClientSectorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Sector
        fields = ["id", "name", "slug"]


class ClientSerializer(serializers.ModelSerializer):
    sector = ClientSectorSerializer(read_only=True)
    role = serializers.ChoiceField(
        choices=Role.choices, read_only=True, help_text="Your role in this client."
    )

    class Meta:
        model = Client
        fields = ["id", "slug", "name", "sector", "role", "created_at"]
        read_only_fields = fields


class ClientLabelNameSerializer(serializers.ModelSerializer):
    label = serializers.PrimaryKeyRelatedField(
        queryset=Label.objects.select_related("taxonomy"),
        help_text="A label of the client's sector taxonomy; it cannot change afterwards.",
    )
    label_key = serializers.CharField(source="label.key", read_only=True)
    label_name = serializers.CharField(
        source="label.name", read_only=True, help_text="The taxonomy's own name for the label."
    )

    class Meta:
        model = ClientLabelName
        fields = ["id", "label", "label_key", "label_name", "name"]

    def validate_label(self, label: Label) -> Label:
        if self.instance is not None and label.pk != self.instance.label_id:
            raise serializers.ValidationError(
                "The label of a name cannot change: delete this name and name the other label."
            )
        return label
