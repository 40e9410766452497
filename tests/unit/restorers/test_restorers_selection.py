"""Frame selection and the batched restore loop (no networks: restore_fn is a plain function)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from latentsync_core.errors import BadInputError
from latentsync_core.restorers import frames_needing_restore, restore_selected


def test_frames_needing_restore_rule():
    source = np.array([100.0, 256.0, 511.0, 512.0, 600.0, 100.0, np.nan])
    valid = np.array([True, True, True, True, True, False, True])
    assert frames_needing_restore(source, 512, 1.0, valid).tolist() == [True, True, True, False, False, False, False]
    # sr_ratio 2: only crops enlarged more than 2x (source side below 256 px)
    assert frames_needing_restore(source, 512, 2.0, valid).tolist() == [True, False, False, False, False, False, False]
    # sr_ratio 0: every valid frame with a known size
    assert frames_needing_restore(source, 512, 0.0, valid).tolist() == [True] * 5 + [False, False]


def test_frames_needing_restore_rejects_bad_arguments():
    with pytest.raises(BadInputError, match="sr_ratio"):
        frames_needing_restore(np.ones(2), 512, -1.0, np.ones(2, bool))
    with pytest.raises(BadInputError, match="matching"):
        frames_needing_restore(np.ones(3), 512, 1.0, np.ones(2, bool))


def _crops(n: int, size: int = 8) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.rand(n, size, size, 3, generator=gen)


def test_restore_selected_batches_only_masked_frames():
    crops = _crops(7)
    mask = np.array([True, False, True, True, False, True, True])
    calls, done, checks = [], [], []

    def invert(batch: torch.Tensor) -> torch.Tensor:
        assert batch.shape[1] == 3 and batch.is_contiguous()
        calls.append(batch.shape[0])
        return 1.0 - batch

    out = restore_selected(crops, mask, invert, batch_size=2,
                           before_batch=lambda: checks.append(1), after_batch=done.append)
    assert calls == [2, 2, 1] and done == [2, 2, 1] and len(checks) == 3
    assert torch.equal(out[mask], 1.0 - crops[mask])
    assert torch.equal(out[~mask], crops[~mask])
    assert out.shape == crops.shape and out.dtype == torch.float32


def test_restore_selected_strength_blends():
    crops = _crops(2)
    out = restore_selected(crops, np.array([True, True]), lambda b: torch.zeros_like(b), strength=0.25)
    torch.testing.assert_close(out, crops * 0.75)


def test_restore_selected_nothing_selected_returns_copy():
    crops = _crops(3)
    out = restore_selected(crops, np.zeros(3, bool), lambda b: pytest.fail("must not be called"))
    assert torch.equal(out, crops) and out.data_ptr() != crops.data_ptr()


def test_restore_selected_interrupt_stops_between_batches():
    class Interrupted(Exception):
        pass

    seen = []

    def before():
        if seen:
            raise Interrupted

    def record(batch):
        seen.append(batch.shape[0])
        return batch

    with pytest.raises(Interrupted):
        restore_selected(_crops(4), np.ones(4, bool), record, batch_size=2, before_batch=before)
    assert seen == [2]


def test_restore_selected_rejects_bad_shapes():
    with pytest.raises(BadInputError, match=r"\[N, S, S, 3\]"):
        restore_selected(torch.zeros(2, 3, 8, 8), np.ones(2, bool), lambda b: b)
    with pytest.raises(BadInputError, match="batch_size"):
        restore_selected(_crops(2), np.ones(2, bool), lambda b: b, batch_size=0)
