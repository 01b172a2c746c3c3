"""Embeddings of more than one kind per backbone: stored rows are keyed by backbone and
kind (the existing rows, all pooled, keep their key: the bare backbone name), and each model
version records which kind its head reads (every existing version: pooled)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("training", "0004_run_heartbeat"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="imageembedding", name="embedding_unique"),
        migrations.RenameField(model_name="imageembedding", old_name="backbone", new_name="key"),
        migrations.AlterField(
            model_name="imageembedding", name="key", field=models.CharField(max_length=64)
        ),
        migrations.AddConstraint(
            model_name="imageembedding",
            constraint=models.UniqueConstraint(fields=("image", "key"), name="embedding_unique"),
        ),
        migrations.AddField(
            model_name="modelversion",
            name="embedding",
            field=models.CharField(default="pooled", max_length=20),
        ),
    ]
