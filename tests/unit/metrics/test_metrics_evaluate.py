"""Frame-rate conversion to SyncNet's 25 fps and the choice of the face track."""
from __future__ import annotations

import numpy as np

from latentsync_core.metrics.evaluate import longest_run, resample_index
from latentsync_core.metrics.sync_eval import median_filter


def test_resample_index_picks_the_nearest_frame():
    np.testing.assert_array_equal(resample_index(7, 25.0), np.arange(7))
    np.testing.assert_array_equal(resample_index(8, 50.0), [0, 2, 4, 6])
    at_24 = resample_index(48, 24.0)  # 2 s: 50 steps, one source frame shown twice per second
    assert len(at_24) == 50 and np.all(np.diff(at_24) >= 0) and len(np.unique(at_24)) == 48
    at_30 = resample_index(30, 30000 / 1001)
    assert len(at_30) == 25 and at_30[-1] <= 29


def test_longest_run():
    assert longest_run(np.array([], dtype=bool)) == (0, 0)
    assert longest_run(np.array([False, False])) == (0, 0)
    assert longest_run(np.array([True, True, False, True, True, True, False, True])) == (3, 6)
    assert longest_run(np.array([True] * 4)) == (0, 4)


def test_median_filter_zero_pads_like_medfilt():
    x = np.array([5.0, 1.0, 4.0, 2.0, 3.0])
    np.testing.assert_array_equal(median_filter(x, 3), [1.0, 4.0, 2.0, 3.0, 2.0])
