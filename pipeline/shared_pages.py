"""Hand segmented pages to page-reading processes through reused shared-memory blocks.

A page (H, W, 3) uint8 and its network maps ((h, w) float32 each) are copied into one
shared-memory block; the reading process gets the block's name and the shapes, and copies
them out. Blocks are kept and reused once their page is read: a fresh block costs the
process that feeds the GPU a page fault on every 4 KiB it writes (~15 ms for a 2200 x 1700
page), and sending the maps through the pool's pipe instead costs it a copy per 64 KiB.
"""
from __future__ import annotations

from multiprocessing import shared_memory
from typing import NamedTuple

import numpy as np


class SharedPage(NamedTuple):
    """Where one page lies in shared memory: the block's name, the page's (H, W, 3) uint8
    shape, and the (h, w) float32 shape of each map stored after it, in order."""

    name: str
    page_shape: tuple[int, int, int]
    map_shapes: tuple[tuple[int, int], ...]


def _map_offsets(page_shape: tuple[int, ...], map_shapes: tuple[tuple[int, int], ...]
                 ) -> list[int]:
    """Byte offsets of each map in a block after the page (each 4-byte aligned), and the
    block's total size last: len(map_shapes) + 1 values."""
    offsets = [-(-int(np.prod(page_shape)) // 4) * 4]
    for h, w in map_shapes:
        offsets.append(offsets[-1] + 4 * h * w)
    return offsets


class SharedPageBlocks:
    """Shared-memory blocks for pages in flight, reused once given back.

    Not thread-safe: one feeding loop takes and gives back blocks. `close` unlinks every
    block; call it only when no reading process still copies from one.
    """

    def __init__(self) -> None:
        self._free: list[shared_memory.SharedMemory] = []
        self._all: list[shared_memory.SharedMemory] = []

    def share(self, image: np.ndarray, maps: tuple[np.ndarray, ...]
              ) -> tuple[shared_memory.SharedMemory, SharedPage]:
        """Copy `image` (H, W, 3) uint8 and `maps` ((h, w) float32 each) into a free block
        (a new one when none is large enough); give the block back once the page is read."""
        map_shapes = tuple((int(m.shape[0]), int(m.shape[1])) for m in maps)
        page_shape = (int(image.shape[0]), int(image.shape[1]), int(image.shape[2]))
        offsets = _map_offsets(page_shape, map_shapes)
        block = self._take(offsets[-1])
        np.ndarray(page_shape, np.uint8, buffer=block.buf)[...] = image
        for m, shape, offset in zip(maps, map_shapes, offsets, strict=False):
            np.ndarray(shape, np.float32, buffer=block.buf, offset=offset)[...] = m
        return block, SharedPage(block.name, page_shape, map_shapes)

    def give_back(self, block: shared_memory.SharedMemory) -> None:
        """Mark `block` free for the next page (its page has been read)."""
        self._free.append(block)

    def close(self) -> None:
        """Close and unlink every block."""
        for block in self._all:
            block.close()
            block.unlink()
        self._free.clear()
        self._all.clear()

    def _take(self, nbytes: int) -> shared_memory.SharedMemory:
        fits = [b for b in self._free if b.size >= nbytes]
        if fits:
            block = min(fits, key=lambda b: b.size)
            self._free.remove(block)
            return block
        if self._free:  # none is large enough: replace one rather than keep a small one idle
            small = self._free.pop()
            self._all.remove(small)
            small.close()
            small.unlink()
        block = shared_memory.SharedMemory(create=True, size=max(1, nbytes))
        self._all.append(block)
        return block


def take_shared_page(page: SharedPage) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Copies of a shared page's pixels (H, W, 3) uint8 and maps ((h, w) float32 each)."""
    block = shared_memory.SharedMemory(name=page.name)
    try:
        image = np.array(np.ndarray(page.page_shape, np.uint8, buffer=block.buf))
        offsets = _map_offsets(page.page_shape, page.map_shapes)
        return image, tuple(
            np.array(np.ndarray(shape, np.float32, buffer=block.buf, offset=offset))
            for shape, offset in zip(page.map_shapes, offsets, strict=False))
    finally:
        block.close()
