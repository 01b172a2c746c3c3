import numpy as np
import pytest

from training.noise import audit_label_noise, logistic_fitter, neighbour_disagreement

pytestmark = pytest.mark.ml

FLIPPED = [3, 50, 77, 101, 150, 170]


def _clusters(seed=0):
    """Three well-separated clusters of 60 embeddings, six labels flipped."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 32)) * 4
    truth = np.repeat(np.arange(3), 60)
    x = centres[truth] + rng.normal(size=(len(truth), 32))
    labels = truth.copy()
    for i in FLIPPED:
        labels[i] = (truth[i] + 1) % 3
    return x, labels, truth


def test_flipped_labels_rank_on_top_and_are_the_suspects():
    x, labels, truth = _clusters()
    audit = audit_label_noise(x, labels, k=8, n_folds=5, seed=0)
    assert set(audit.ranking[: len(FLIPPED)].tolist()) == set(FLIPPED)
    assert {s.index for s in audit.suspects} == set(FLIPPED)
    for suspect in audit.suspects:
        assert suspect.suggested == truth[suspect.index]
        assert suspect.votes == 3


def test_each_signal_on_its_own_singles_out_the_flipped_labels():
    x, labels, _ = _clusters(seed=1)
    audit = audit_label_noise(x, labels, k=8, seed=0)
    n = len(FLIPPED)
    assert set(np.argsort(audit.self_confidence)[:n].tolist()) == set(FLIPPED)
    assert set(np.argsort(-audit.neighbour_disagreement)[:n].tolist()) == set(FLIPPED)
    assert set(np.flatnonzero(audit.confident_learning).tolist()) == set(FLIPPED)
    np.testing.assert_allclose(audit.out_of_sample_proba.sum(axis=1), 1.0)


def test_it_copes_with_a_tiny_class_and_an_absent_one():
    x, labels, _ = _clusters(seed=2)
    rng = np.random.default_rng(0)
    x = np.vstack([x, rng.normal(size=(2, 32)) * 4 + 20])
    labels = np.concatenate([labels, [4, 4]])  # class 3 has no images at all
    audit = audit_label_noise(x, labels, n_classes=5, k=8, seed=0)
    assert audit.out_of_sample_proba.shape == (len(labels), 5)
    assert (audit.out_of_sample_proba[:, 3] == 0).all()
    assert len(audit.ranking) == len(labels)


def _counting_fitter(calls: list):
    fit = logistic_fitter()

    def counted(X, y, n_classes, seed):
        calls.append(len(X))
        return fit(X, y, n_classes, seed)

    return counted


def test_known_out_of_sample_rows_are_reused_and_only_the_folds_of_the_rest_train():
    """What a training run hands over (its out-of-fold scores) replaces the audit's own
    folds: the scores are those of the full audit, and only the folds holding a row that is
    not known train a model."""
    x, labels, _ = _clusters(seed=3)
    calls: list = []
    full = audit_label_noise(x, labels, k=8, seed=0, fit=_counting_fitter(calls))
    assert len(calls) == 5

    nothing = np.full(full.out_of_sample_proba.shape, np.nan)
    calls.clear()
    again = audit_label_noise(
        x, labels, k=8, seed=0, fit=_counting_fitter(calls), known_proba=nothing
    )
    assert len(calls) == 5
    np.testing.assert_array_equal(again.score, full.score)

    unknown = [3, 50, 77]  # flipped ones among them: the suspects must not depend on it
    known = full.out_of_sample_proba.copy()
    known[unknown] = np.nan
    calls.clear()
    reused = audit_label_noise(
        x, labels, k=8, seed=0, fit=_counting_fitter(calls), known_proba=known
    )
    assert 1 <= len(calls) <= len(unknown)  # the folds that hold the unknown rows, no more
    np.testing.assert_allclose(reused.out_of_sample_proba, full.out_of_sample_proba, atol=1e-5)
    np.testing.assert_allclose(
        reused.out_of_sample_proba[unknown], full.out_of_sample_proba[unknown]
    )
    np.testing.assert_allclose(reused.score, full.score, atol=1e-5)
    assert [s.index for s in reused.suspects] == [s.index for s in full.suspects]
    assert {s.index for s in reused.suspects} == set(FLIPPED)


def test_known_probabilities_of_the_wrong_shape_are_refused():
    x, labels, _ = _clusters()
    with pytest.raises(ValueError, match="known_proba"):
        audit_label_noise(x, labels, k=8, known_proba=np.zeros((len(labels) - 1, 3)))


def test_neighbour_disagreement_ignores_the_row_itself_even_among_duplicates():
    x = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.01], [0.0, 1.0], [0.01, 1.0]])
    codes = np.array([0, 0, 0, 1, 1])
    scores = neighbour_disagreement(x, codes, k=2)
    np.testing.assert_allclose(scores, [0, 0, 0, 0.5, 0.5])


def test_an_audit_needs_two_classes():
    with pytest.raises(ValueError, match="two classes"):
        audit_label_noise(np.ones((10, 3)), np.zeros(10, dtype=int))


def test_the_product_head_as_fold_model_ranks_flipped_labels_first_and_spread_is_scored():
    from training.noise_heads import head_fitter

    x, labels, truth = _clusters(seed=3)
    flat = np.full((len(labels), 3), 1 / 3)
    audit = audit_label_noise(
        x, labels, k=8, seed=0, fit=head_fitter(max_epochs=30), model_proba=flat
    )
    assert set(audit.ranking[: len(FLIPPED)].tolist()) == set(FLIPPED)
    np.testing.assert_allclose(audit.spread, 0.0, atol=1e-9)  # a flat output has no spread
    assert set(audit.signal_scores()) == {
        "self_confidence",
        "neighbours",
        "confident_learning",
        "spread",
        "combined",
    }


def test_softmax_spread_is_one_for_one_hot_and_zero_for_flat():
    from training.noise import softmax_spread

    np.testing.assert_allclose(
        softmax_spread([[1, 0, 0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0]]), [1, 0, 0.5], atol=1e-9
    )
