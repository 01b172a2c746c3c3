"""Each version's stored answers on the gold test images, for comparisons without a model.
Versions made before are given theirs by the next evaluation (or training) in a worker."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("training", "0005_embedding_kinds"),
    ]

    operations = [
        migrations.AddField(
            model_name="modelversion",
            name="gold_answers",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
