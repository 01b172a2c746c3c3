import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from labelling.models import ClientLabelName, Image, ImageStatus, InvalidTransition
from tests import factories


@pytest.mark.django_db
class TestImageStatus:
    def test_it_follows_the_allowed_path(self):
        image = factories.ImageFactory()
        for status in [ImageStatus.PROCESSING, ImageStatus.NEEDS_REVIEW, ImageStatus.VERIFIED]:
            image.transition_to(status)
        image.refresh_from_db()
        assert image.status == ImageStatus.VERIFIED

    def test_it_refuses_to_skip_processing(self):
        image = factories.ImageFactory()
        with pytest.raises(InvalidTransition):
            image.transition_to(ImageStatus.AUTO_TAGGED)
        image.refresh_from_db()
        assert image.status == ImageStatus.UPLOADED

    def test_mark_failed_keeps_the_reason(self):
        image = factories.ImageFactory(status=ImageStatus.PROCESSING)
        image.mark_failed("cannot identify image file")
        image.refresh_from_db()
        assert image.status == ImageStatus.FAILED
        assert image.failure_reason == "cannot identify image file"

    def test_a_move_the_table_refuses_raises_and_writes_nothing(self):
        image = factories.ImageFactory(status=ImageStatus.FAILED)
        with pytest.raises(InvalidTransition):
            Image.objects.filter(pk=image.pk).move_status(
                ImageStatus.VERIFIED, from_statuses=[ImageStatus.FAILED]
            )
        image.refresh_from_db()
        assert image.status == ImageStatus.FAILED

    def test_a_move_leaves_the_rows_the_table_does_not_allow(self):
        stuck = factories.ImageFactory(status=ImageStatus.FAILED)
        waiting = factories.ImageFactory(status=ImageStatus.NEEDS_REVIEW)
        moved = Image.objects.filter(pk__in=[stuck.pk, waiting.pk]).move_status(
            ImageStatus.VERIFIED
        )
        assert moved == 1
        stuck.refresh_from_db()
        waiting.refresh_from_db()
        assert (stuck.status, waiting.status) == (ImageStatus.FAILED, ImageStatus.VERIFIED)

    def test_staying_put_is_a_move_only_when_asked_for(self):
        image = factories.ImageFactory(status=ImageStatus.VERIFIED)
        before = image.status_changed_at
        rows = Image.objects.filter(pk=image.pk)
        assert rows.move_status(ImageStatus.VERIFIED) == 0
        assert rows.move_status(ImageStatus.VERIFIED, stay=True) == 1
        image.refresh_from_db()
        assert image.status_changed_at > before

    def test_an_instance_that_moved_on_meanwhile_is_not_moved_again(self):
        image = factories.ImageFactory(status=ImageStatus.PROCESSING)
        stale = Image.objects.get(pk=image.pk)
        image.transition_to(ImageStatus.NEEDS_REVIEW)
        with pytest.raises(InvalidTransition):
            stale.transition_to(ImageStatus.AUTO_TAGGED)
        image.refresh_from_db()
        assert image.status == ImageStatus.NEEDS_REVIEW

    def test_only_one_claimer_wins(self):
        image = factories.ImageFactory()
        first = type(image).objects.get(pk=image.pk)
        second = type(image).objects.get(pk=image.pk)
        assert first.claim_for_processing() is True
        assert second.claim_for_processing() is False


@pytest.mark.django_db
class TestConstraints:
    def test_same_bytes_are_stored_once_per_client(self):
        image = factories.ImageFactory()
        with pytest.raises(IntegrityError), transaction.atomic():
            factories.ImageFactory(client=image.client, sha256=image.sha256)
        # another client may hold the same photo
        factories.ImageFactory(sha256=image.sha256)

    def test_label_keys_are_unique_within_a_taxonomy(self):
        label = factories.LabelFactory(key="smiling")
        with pytest.raises(IntegrityError), transaction.atomic():
            factories.LabelFactory(taxonomy=label.taxonomy, key="smiling")
        factories.LabelFactory(key="smiling")  # another taxonomy

    def test_a_label_cannot_be_its_own_ancestor(self):
        root = factories.LabelFactory()
        child = factories.LabelFactory(taxonomy=root.taxonomy, parent=root)
        root.parent = child
        with pytest.raises(ValidationError):
            root.full_clean()

    def test_a_parent_must_be_in_the_same_taxonomy(self):
        other = factories.LabelFactory()
        label = factories.LabelFactory()
        label.parent = other
        with pytest.raises(ValidationError):
            label.full_clean()

    def test_client_label_name_must_use_the_clients_sector(self):
        name = ClientLabelName(
            client=factories.ClientFactory(), label=factories.LabelFactory(), name="Ours"
        )
        with pytest.raises(ValidationError):
            name.full_clean()

    def test_taxonomy_version_goes_up(self):
        taxonomy = factories.TaxonomyFactory()
        taxonomy.bump_version()
        assert taxonomy.version == 2
