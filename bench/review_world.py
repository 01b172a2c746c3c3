"""The review benchmark's world: a client with images waiting for review, each with a
prediction, and reviewers with API tokens; and what the database holds after the load."""

from __future__ import annotations

PASSWORD = "bench-review-password"


def jpeg(size: tuple[int, int], seed: int) -> bytes:
    import numpy as np

    from bench.photos import encoded, photo_like

    image = photo_like(np.random.default_rng(seed), size, ellipses=8, min_extent=20)
    return encoded(image, "JPEG", 85)


def seed(args) -> dict:
    import hashlib

    import numpy as np
    from django.contrib.auth import get_user_model
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from labelling.models import (
        Client,
        Image,
        ImageStatus,
        Label,
        Membership,
        Prediction,
        Role,
        Sector,
        Taxonomy,
    )
    from labelling.services.tokens import token_create
    from training.models import ModelMode, ModelVersion

    sector = Sector.objects.create(name="Bench sector", slug="bench-sector")
    taxonomy = Taxonomy.objects.create(sector=sector, name="Bench taxonomy")
    labels = [
        Label.objects.create(taxonomy=taxonomy, key=f"label-{n}", name=f"Label {n}")
        for n in range(20)
    ]
    version = ModelVersion.objects.create(
        taxonomy=taxonomy,
        number=1,
        backbone="efficientnet_lite0",
        mode=ModelMode.HEAD,
        input_size=224,
        taxonomy_version=1,
        artifact="x",
        artifact_sha256="0" * 64,
        class_labels=[label.pk for label in labels],
    )
    users = get_user_model()
    rng = np.random.default_rng(7)

    def images_for(client, count: int, files: list[str]) -> None:
        rows = [
            Image(
                client=client,
                file=files[n % len(files)],
                original_name=f"bench-{n:05d}.jpg",
                sha256=hashlib.sha256(f"{client.slug}-{n}".encode()).hexdigest(),
                format="JPEG",
                width=1024,
                height=768,
                size_bytes=1000,
                status=ImageStatus.NEEDS_REVIEW,
            )
            for n in range(count)
        ]
        Image.objects.bulk_create(rows, batch_size=500)
        predictions = []
        for image in Image.objects.filter(client=client).only("pk"):
            p = rng.dirichlet(np.full(len(labels), 0.3))
            order = np.argsort(-p)[:5]
            ranked = [{"label": labels[i].pk, "probability": round(float(p[i]), 6)} for i in order]
            predictions.append(
                Prediction(
                    image=image,
                    model_version=version,
                    ranked=ranked,
                    top_label_id=ranked[0]["label"],
                    top_probability=ranked[0]["probability"],
                )
            )
        Prediction.objects.bulk_create(predictions, batch_size=500)

    load_client = Client.objects.create(name="Bench load", slug="bench-load", sector=sector)
    small = default_storage.save("images/bench/small.jpg", ContentFile(jpeg((64, 48), 0)))
    images_for(load_client, args.images, [small])
    tokens = []
    for n in range(args.reviewers):
        user = users.objects.create_user(f"reviewer{n}", password=PASSWORD)
        Membership.objects.create(user=user, client=load_client, role=Role.REVIEWER)
        tokens.append(token_create(user=user, name="bench").key)

    browser_client = Client.objects.create(
        name="Bench browser", slug="bench-browser", sector=sector
    )
    files = [
        default_storage.save(f"images/bench/photo-{n:03d}.jpg", ContentFile(jpeg((1024, 768), n)))
        for n in range(args.browser_images)
    ]
    images_for(browser_client, args.browser_images, files)
    browser_user = users.objects.create_user("browser-reviewer", password=PASSWORD)
    Membership.objects.create(user=browser_user, client=browser_client, role=Role.REVIEWER)
    return {"tokens": tokens, "browser_user": browser_user.username}


def check_database() -> dict:
    from django.db.models import Count

    from labelling.models import Image, Review, ReviewLease

    reviews = Review.objects.filter(image__client__slug="bench-load", undone_at__isnull=True)
    twice_reviewed = reviews.values("image").annotate(n=Count("pk")).filter(n__gt=1).count()
    answered = reviews.count()
    leases = ReviewLease.objects.filter(client__slug="bench-load").count()
    waiting = Image.objects.filter(client__slug="bench-load", status="needs_review").count()
    return {
        "answered": answered,
        "reviewed_twice": twice_reviewed,
        "holds_left": leases,
        "still_waiting": waiting,
    }
