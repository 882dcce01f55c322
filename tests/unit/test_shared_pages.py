"""Shared-memory hand-over of pages to reading processes: round trip, reuse, release."""
from __future__ import annotations

from multiprocessing import shared_memory

import numpy as np
import pytest

from pipeline.shared_pages import SharedPageBlocks, take_shared_page


def _page(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_a_page_and_its_maps_come_back_as_given() -> None:
    blocks = SharedPageBlocks()
    try:
        image = _page(31, 45, 0)  # odd byte count: the maps after it are aligned
        trace = np.random.default_rng(1).random((15, 22), dtype=np.float32)
        grid = np.random.default_rng(2).random((15, 22), dtype=np.float32)
        _, shared = blocks.share(image, (trace, grid))
        got_image, got_maps = take_shared_page(shared)
        np.testing.assert_array_equal(got_image, image)
        assert len(got_maps) == 2
        np.testing.assert_array_equal(got_maps[0], trace)
        np.testing.assert_array_equal(got_maps[1], grid)
        _, trace_only = blocks.share(image, (trace,))
        assert len(take_shared_page(trace_only)[1]) == 1
    finally:
        blocks.close()


def test_blocks_given_back_are_reused_and_grown_when_too_small() -> None:
    blocks = SharedPageBlocks()
    try:
        small = np.zeros((8, 8), np.float32)
        first, _ = blocks.share(_page(20, 20, 0), (small,))
        blocks.give_back(first)
        again, shared = blocks.share(_page(10, 10, 1), (small,))
        assert again is first  # the freed block serves a page that fits in it
        np.testing.assert_array_equal(take_shared_page(shared)[0], _page(10, 10, 1))
        blocks.give_back(again)
        bigger, shared = blocks.share(_page(400, 400, 2), (small,))
        assert bigger is not first and bigger.size >= 400 * 400 * 3
        np.testing.assert_array_equal(take_shared_page(shared)[0], _page(400, 400, 2))
        with pytest.raises(FileNotFoundError):  # the small block was released, not kept
            shared_memory.SharedMemory(name=first.name)
    finally:
        blocks.close()


def test_close_releases_every_block() -> None:
    blocks = SharedPageBlocks()
    names = [blocks.share(_page(16, 16, k), ())[0].name for k in range(3)]
    blocks.close()
    for name in names:
        with pytest.raises(FileNotFoundError):
            shared_memory.SharedMemory(name=name)
