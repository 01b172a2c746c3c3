"""The near-duplicate benchmark on a tiny library: both ways must find the same images, and
the index must read a fraction of the stored hashes (the figures themselves are the
benchmark's business)."""

import numpy as np
import pytest

from bench import near_duplicates as bench


@pytest.mark.django_db
def test_the_index_and_the_scan_agree_and_the_index_reads_few_hashes():
    args = bench.parse_args(["--stored", "400", "--lookups", "20"])
    row = bench.run_draw("uniform", 0.5, args, np.random.default_rng(0))
    assert row["same_answers"] == "20/20"
    assert row["found_any"] >= 10  # every other probe is a stored hash, a few bits flipped
    assert row["read_per_lookup_max"] < 40  # of 400
    assert set(row) >= {"scan_ms_median", "index_ms_median", "scan_over_index"}


def test_it_refuses_bad_options():
    with pytest.raises(SystemExit):
        bench.parse_args(["--stored", "many"])
