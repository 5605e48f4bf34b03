"""The vector index past its approximate threshold: IVF build, switch, delete, save, truncation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retrieval.index import IndexConfig, VectorIndex, fit, nlist_for, open_index

DIM = 32
# nprobe = every list, so approximate search is exact and results can be asserted whole.
CONFIG = IndexConfig(approx_threshold=1000, nprobe=64)


def unit(n: int, seed: int = 0, dim: int = DIM) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_nlist_grows_with_sqrt_of_size() -> None:
    assert [nlist_for(n) for n in (10, 1000, 100_000, 1_000_000)] == [64, 64, 256, 1024]


def test_build_is_exact_below_the_threshold_and_ivf_from_it() -> None:
    vecs = unit(1000)
    ids = np.arange(10, 1010)
    small = VectorIndex.build(DIM, ids[:999], vecs[:999], CONFIG)
    big = VectorIndex.build(DIM, ids, vecs, CONFIG)
    assert (small.kind, big.kind) == ("flat", "ivf")
    assert np.array_equal(big.ids(), ids)
    assert big.search(vecs[123], 1)[0][0] == 133
    assert big.search(vecs[123], 1)[0][1] == pytest.approx(1.0, abs=1e-5)


def test_adding_past_the_threshold_switches_to_ivf_and_keeps_every_vector() -> None:
    vecs = unit(1200)
    index = VectorIndex.build(DIM, np.arange(900), vecs[:900], CONFIG)
    assert index.kind == "flat"
    index.add(np.arange(900, 1200), vecs[900:])
    assert index.kind == "ivf"
    assert np.array_equal(index.ids(), np.arange(1200))
    exact = np.argsort(-(vecs @ vecs[5]))[:10]
    assert [i for i, _ in index.search(vecs[5], 10)] == exact.tolist()


def test_deleted_chunks_leave_ivf_search_results() -> None:
    vecs = unit(1500)
    index = VectorIndex.build(DIM, np.arange(1500), vecs, CONFIG)
    before = [i for i, _ in index.search(vecs[42], 5)]
    assert before[0] == 42
    assert index.remove([42, before[1], 99_999]) == 2
    after = [i for i, _ in index.search(vecs[42], 5)]
    assert 42 not in after and before[1] not in after
    assert after[:3] == before[2:5]
    assert len(index) == 1498 and 42 not in index.ids()
    # New ids after a delete do not collide with old ones (IVF keeps ids, no renumbering).
    index.add(np.array([5000]), vecs[42:43])
    assert index.search(vecs[42], 1)[0][0] == 5000


def test_ivf_save_load_round_trip(tmp_path: Path) -> None:
    vecs = unit(1300)
    index = VectorIndex.build(DIM, np.arange(1300) * 3, vecs, CONFIG)
    index.remove([0, 3])
    index.save(tmp_path / "i.faiss")
    loaded = VectorIndex.load(tmp_path / "i.faiss", IndexConfig(approx_threshold=1000, nprobe=7))
    assert loaded.kind == "ivf"
    assert loaded.index.nprobe == 7  # type: ignore[attr-defined]
    loaded.index.nprobe = 64  # type: ignore[attr-defined]
    assert np.array_equal(loaded.ids(), index.ids())
    assert loaded.search(vecs[10], 5) == index.search(vecs[10], 5)


def test_open_index_rebuilds_when_the_layout_no_longer_suits(tmp_path: Path) -> None:
    path = tmp_path / "i.faiss"
    vecs = unit(1100)
    ids = np.arange(1100)
    VectorIndex.build(DIM, ids, vecs, IndexConfig()).save(path)  # flat: default threshold
    index, rebuilt = open_index(path, DIM, ids, vecs, CONFIG)
    assert (index.kind, rebuilt) == ("ivf", True)
    # Shrinking a little below the threshold keeps the IVF index (no flapping).
    index.remove(list(range(200)))
    index.save(path)
    again, rebuilt = open_index(path, DIM, ids[200:], vecs[200:], CONFIG)
    assert (again.kind, rebuilt) == ("ivf", False)
    # Far below it, exact search comes back.
    small, rebuilt = open_index(path, DIM, ids[:300], vecs[:300], CONFIG)
    assert (small.kind, rebuilt) == ("flat", True)


def test_matryoshka_truncation_renormalises_and_scores_are_cosines(tmp_path: Path) -> None:
    vecs = unit(50, dim=64)
    config = IndexConfig(dims=16)
    index = VectorIndex.build(64, np.arange(50), vecs, config)
    assert index.dim == 16
    head = vecs[:, :16] / np.linalg.norm(vecs[:, :16], axis=1, keepdims=True)
    best = index.search(vecs[3], 3)
    expected = np.argsort(-(head @ head[3]))[:3]
    assert [i for i, _ in best] == expected.tolist()
    assert best[1][1] == pytest.approx(float(head[expected[1]] @ head[3]), abs=1e-5)
    path = tmp_path / "t.faiss"
    index.save(path)
    assert open_index(path, 64, np.arange(50), vecs, config)[1] is False
    assert open_index(path, 64, np.arange(50), vecs, IndexConfig())[1] is True  # dims changed


def test_fit_refuses_vectors_shorter_than_the_index() -> None:
    with pytest.raises(ValueError, match="8 dimensions, the index 16"):
        fit(unit(2, dim=8), 16)
