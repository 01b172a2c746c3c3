"""The suspect-labels queue driven with the keyboard alone in a real browser; then what was
stored is read back from the database."""

from __future__ import annotations

from labelling.models import AuditAction, AuditEvent, ImageLabel
from tests.labelling.test_suspects import queue  # noqa: F401  (the fixture)
from training.models import LabelNoiseScore, SuspectDecision, TrainingExclusion

PAGE = "/clients/alpha/review/suspects/"


def settled(page, left: int) -> None:
    page.locator(f'#suspects[data-pending="0"] #suspects-left:text-is("{left}")').wait_for()
    page.wait_for_load_state("networkidle")


def test_relabel_and_exclude_with_the_keyboard(queue, page_as):  # noqa: F811
    page = page_as(queue.reviewer)
    page.goto(PAGE)
    items = page.locator("#suspects-list > li")
    items.first.wait_for()
    assert items.count() == 2
    assert "nearest images carry another label" in items.first.inner_text()
    assert items.first.get_attribute("aria-current") == "true"

    page.keyboard.press("2")  # relabel with the suggested label (Building)
    settled(page, 1)
    page.keyboard.press("3")  # exclude the next one from training
    settled(page, 0)
    page.locator("#suspects-empty").wait_for()

    first = LabelNoiseScore.objects.get(pk=queue.first.pk)
    second = LabelNoiseScore.objects.get(pk=queue.second.pk)
    assert (first.decision, second.decision) == (SuspectDecision.RELABEL, SuspectDecision.EXCLUDE)
    assert list(
        ImageLabel.objects.filter(image=first.image_id).values_list("label", flat=True)
    ) == [queue.labels.building.pk]
    assert TrainingExclusion.objects.filter(image=second.image_id).exists()
    assert AuditEvent.objects.filter(action=AuditAction.SUSPECT_LABEL_DECIDED).count() == 2
