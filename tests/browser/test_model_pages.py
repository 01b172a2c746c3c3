"""A sector maintainer trains a model from the models page in a real browser, watches the
progress bar reach the end, and finds the new version with its figures.

The training task runs synchronously when the page's request queues it (the on-commit hook
calls it at once), with the real tiny backbone: the same code a worker runs, without one.
"""

from tests.training.builders import verified_library
from training import tasks
from training.models import ActiveModel, RunStatus, TrainingRun

TRAINING_TIMEOUT_MS = 180_000  # a tiny real training on two CPU cores


def test_a_maintainer_trains_from_the_page_and_sees_the_new_version(
    world, page_as, tiny_backbone, monkeypatch
):
    verified_library(world)
    monkeypatch.setattr(tasks.train, "delay", lambda run_id: tasks.train(run_id))
    page = page_as(world.maintainer)  # a client's admin only asks for retraining

    page.goto("/clients/alpha/models/")
    assert page.locator("#versions").count() == 0  # no model yet
    page.select_option("#id_mode", "head")
    page.select_option("#id_backbone", "efficientnet_lite0")
    page.click("#train-button")

    page.locator('#run-progress[data-status="succeeded"]').wait_for(timeout=TRAINING_TIMEOUT_MS)
    assert page.eval_on_selector("#run-bar", "bar => [bar.value, bar.max]") == [100, 100]
    # The page reloads once the run ends, so the table shows the version it made.
    row = page.locator('tr[data-version="1"].active-row')
    row.wait_for()
    assert "%" in row.locator('[data-figure="top1"]').inner_text()
    assert "Active" in row.inner_text()

    run = TrainingRun.objects.get()
    assert run.status == RunStatus.SUCCEEDED and run.epoch == len(run.history) >= 1
    assert ActiveModel.objects.get(taxonomy=world.taxonomy).model_version == run.model_version

    row.locator("a").click()
    page.locator("#per-class").wait_for()
    assert page.locator("#per-class tbody tr").count() == 2
    assert page.locator("#confusion").is_visible()
    assert page.locator("#history-chart polyline").count() == 2
    assert page.locator("#policy-target").inner_text() == "95%"
    assert "%" in page.locator("#policy-coverage").inner_text()
