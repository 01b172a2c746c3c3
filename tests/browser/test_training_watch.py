"""A sector maintainer starts a retrain of a tiny model from the models page and watches it
go through its phases (embedding, training epoch by epoch with live loss and accuracy curves,
measuring) to the end, then compares the new version with the one before it.

The page's request only queues the run (as with a broker); the test then runs the real task
itself. At the first report of each phase the task waits until the page, polling on its
own, shows that phase: what the page shows is checked at each step without any sleep.
"""

from tests.training.builders import make_version, verified_library
from training import tasks
from training.models import RunStatus, TrainingRun
from training.services import training as training_service

TRAINING_TIMEOUT_MS = 180_000  # a tiny real training on two CPU cores
WATCHED_EPOCH = 2  # the curves have lines (two points each) from the second epoch on


def test_a_maintainer_watches_a_retrain_to_the_end_and_compares_two_versions(
    world, page_as, tiny_backbone, monkeypatch
):
    verified_library(world)
    v1 = make_version(
        world.taxonomy, labels=[world.labels.smiling, world.labels.building], stored=True
    )
    queued: list[int] = []
    monkeypatch.setattr(tasks.train, "delay", queued.append)
    page = page_as(world.maintainer)
    page.goto("/clients/alpha/models/")
    page.select_option("#id_mode", "head")
    page.select_option("#id_backbone", "efficientnet_lite0")
    page.click("#train-button")
    page.locator('#run-progress[data-status="queued"]').wait_for()
    assert "waiting for a training worker" in page.locator("#run-phase").inner_text()
    assert page.locator("#train-button").is_disabled()
    assert page.locator("#run-curves").is_hidden()
    [run_id] = queued

    watched: list[str] = []
    report_phase, report_epoch = training_service._report_phase, training_service._report_epoch

    def phase_shown(run, phase, done=0, total=0):
        report_phase(run, phase, done, total)
        if phase in watched:
            return
        watched.append(phase)
        page.locator('#run-progress[data-status="running"]').wait_for()
        if phase == "embedding":
            page.locator("#run-phase", has_text="embedding").wait_for()
            assert page.locator("#run-curves").is_hidden()  # no epoch has finished yet
        elif phase == "measuring":
            page.locator("#run-phase", has_text="measuring on the gold test images").wait_for()

    def epoch_shown(run, epoch, logs):
        report_epoch(run, epoch, logs)
        if epoch + 1 != WATCHED_EPOCH:
            return
        watched.append(f"epoch {WATCHED_EPOCH}")
        curves = page.locator(f'#run-curves[data-epochs="{WATCHED_EPOCH}"]')
        curves.wait_for()
        assert page.locator("#run-phase", has_text=f"epoch {WATCHED_EPOCH} of at most").count()
        assert "accuracy" in page.locator("#run-phase").inner_text()
        # training and validation lines on the loss chart and on the accuracy chart
        assert page.locator("#run-loss-chart polyline").count() == 2
        assert page.locator("#run-accuracy-chart polyline").count() == 2
        assert page.locator("#run-accuracy-chart").text_content().count("%") == 2
        bar = page.eval_on_selector("#run-bar", "bar => bar.value")
        assert 0 < bar < 100

    monkeypatch.setattr(training_service, "_report_phase", phase_shown)
    monkeypatch.setattr(training_service, "_report_epoch", epoch_shown)
    tasks.train(run_id)  # the worker's task, run here

    run = TrainingRun.objects.get(pk=run_id)
    assert run.status == RunStatus.SUCCEEDED, run.message
    assert watched == ["embedding", "training", f"epoch {WATCHED_EPOCH}", "measuring"]
    assert run.epoch == len(run.history) >= WATCHED_EPOCH
    # The end: the page sees the run succeed and reloads once, listing the new version.
    page.locator('tr[data-version="2"]').wait_for(timeout=TRAINING_TIMEOUT_MS)
    assert page.locator('#run-progress[data-status="succeeded"]').count() == 1
    assert "done after" in page.locator("#run-phase").inner_text()
    curves = page.locator("#run-curves")
    assert curves.is_visible() and curves.get_attribute("data-epochs") == str(run.epoch)
    assert page.locator("#run-version a").inner_text() == "Open v2"

    # Compare the new version with the one before it.
    assert page.eval_on_selector(".compare-form select[name=a]", "s => s.value") == str(v1.pk)
    page.click(".compare-form button[type=submit]")
    page.locator("#comparison").wait_for()
    assert page.locator("h1").inner_text().split() == ["v1", "vs", "v2"]
    assert page.locator("#comparison tbody tr").count() >= 3
    assert page.locator("#gold-result").is_visible()
