"""Cold start's order and groups: diverse picks first, similar images together."""

import numpy as np
import pytest

from training.diversity import (
    extend_clusters,
    form_clusters,
    k_center_order,
    round_robin,
    similar_clusters,
    similar_groups,
)

pytestmark = pytest.mark.ml


def _clusters(sizes, dim=16, seed=0):
    """Tight clusters around far-apart directions, of very different sizes."""
    rng = np.random.default_rng(seed)
    rows, members = [], []
    for c, size in enumerate(sizes):
        direction = np.zeros(dim)
        direction[c] = 1.0
        rows.append(direction + rng.normal(0, 0.05, size=(size, dim)))
        members += [c] * size
    order = rng.permutation(len(members))
    return np.concatenate(rows)[order], np.array(members)[order]


def test_diverse_ordering_picks_from_every_cluster_before_a_second_from_any():
    X, cluster = _clusters([40, 12, 5, 2])
    order = k_center_order(X)
    assert sorted(order.tolist()) == list(range(len(X)))
    assert sorted(cluster[order[:4]].tolist()) == [0, 1, 2, 3]


def test_groups_hold_similar_images_and_every_image_once():
    X, cluster = _clusters([10, 7, 3])
    groups = similar_groups(X, size=10)
    flat = np.concatenate(groups)
    assert sorted(flat.tolist()) == list(range(len(X)))
    assert all(len(set(cluster[g].tolist())) == 1 for g in groups)
    assert max(len(g) for g in groups) <= 10


def test_groups_are_at_most_a_page():
    X, _ = _clusters([30])
    groups = similar_groups(X, size=12)
    assert sum(len(g) for g in groups) == 30 and max(len(g) for g in groups) <= 12
    with pytest.raises(ValueError, match="at least one"):
        similar_groups(X, size=0)


def test_a_limited_order_is_the_first_picks_of_the_whole_one():
    X, _ = _clusters([40, 12, 5, 2])
    whole = k_center_order(X)
    assert k_center_order(X, limit=7).tolist() == whole[:7].tolist()
    assert k_center_order(X, limit=0).tolist() == []
    assert k_center_order(X, limit=10_000).tolist() == whole.tolist()


def test_round_robin_takes_every_clusters_centre_before_any_second_image():
    X, cluster = _clusters([20, 9, 4])
    clusters = similar_clusters(X, size=8)
    rows = round_robin(clusters)
    assert sorted(rows.tolist()) == list(range(len(X)))
    # The first rows are the centres: the k-center order's first picks, which cover all three.
    assert rows[: len(clusters)].tolist() == [c[0] for c in clusters]
    assert rows[: len(clusters)].tolist() == k_center_order(X, limit=len(clusters)).tolist()
    assert set(cluster[rows[:3]].tolist()) == {0, 1, 2}
    assert round_robin([]).tolist() == []


def test_newcomers_of_known_looks_join_their_centre_and_a_new_look_gets_centres_of_its_own():
    X, cluster = _clusters([30, 30, 8], seed=1)
    formed = form_clusters(X[cluster < 2], size=12)
    centre_look = [int(cluster[cluster < 2][c[0]]) for c in formed.clusters if len(c)]
    # Newcomers: more of both known looks, and a look the clustering never saw.
    new = np.concatenate([np.flatnonzero(cluster == 0)[:3], np.flatnonzero(cluster == 2)])
    placed = extend_clusters(formed.centres, formed.radius, X[new], size=12)
    old = len(formed.centres)
    assert len(placed.centres) == old + len(placed.new_centres)
    assert len(placed.new_centres) >= 1
    assert set(cluster[new][placed.new_centres].tolist()) == {2}
    assert sorted(np.concatenate(placed.clusters).tolist()) == list(range(len(new)))
    for rank, members in enumerate(placed.clusters):
        looks = set(cluster[new][members].tolist())
        if rank < old and len(members):
            assert looks == {centre_look[rank]} == {0}
        elif rank >= old:
            assert looks == {2}
    # Nothing farther than the radius: no new centre, every newcomer joins a known look.
    again = extend_clusters(formed.centres, formed.radius, X[new[:3]], size=12)
    assert len(again.new_centres) == 0 and len(again.clusters) == old
