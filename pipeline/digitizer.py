"""The digitizer: pictures of 12-lead ECGs in, 12-lead signals in microvolts out.

Stages (each timed): segment (U-Net, batched; or the classic colour rule) -> rectify ->
grid (px/mm) -> rows (crop to the traces) -> extract (one line per row) -> calibration
(pulses: mm/mV, mm/s; upside-down check) -> layout (template, lead identity) -> signals.
One bad image in a batch never affects the others: each gets its result or its error.
"""
from __future__ import annotations

import ctypes
import logging
import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from multiprocessing import shared_memory
from typing import Any, NamedTuple, Protocol, Self

import cv2
import numpy as np

import pipeline
from pipeline.beat_order import time_asymmetry
from pipeline.bilevel import is_bilevel
from pipeline.calibration import (
    Scales,
    agreeing_pulses,
    find_pulse,
    lone_piece,
    page_scales,
    scales_from_rows,
    scales_from_sheet,
)
from pipeline.classic_segment import (
    ALL_CHANNELS,
    SegMaps,
    classic_segment,
    paper_darkness,
)
from pipeline.crop import in_signal_region, paper_outline, upright_sheet_box
from pipeline.errors import (
    DigitizerError,
    ImageTooSmallError,
    ModelWeightsError,
    NoGridFoundError,
    NoTraceFoundError,
)
from pipeline.extract import RowTrace, extract_rows
from pipeline.frame import (
    find_frame,
    without_edge_lines,
    without_side_lines,
    without_spines,
)
from pipeline.grid import GridScale, measure_grid
from pipeline.layout import (
    LayoutTemplate,
    TraceRow,
    choose_template,
    fit_record_length,
    long_trace_mask,
    rows_and_long_ink,
    turned_fit_gain,
)
from pipeline.leads import (
    WindowMemo,
    assemble_signals,
    column_seconds,
    limb_relation_residual,
)
from pipeline.line_maps import (
    colour_maps,
    drop_grid_pieces,
    drop_specks,
    line_mask,
    restore_gated_lines,
)
from pipeline.orientation import is_better_turned, may_be_sideways
from pipeline.perspective import grid_rectification, maps_to_rectangle, page_turn
from pipeline.polarity import dark_on_light
from pipeline.read_page import ReadPage, page_px_per_mm
from pipeline.rectify import (
    Rectification,
    compose,
    rectify_from_map,
    rotate_90,
    rotate_180,
    unwarp_quad,
    warp,
)
from pipeline.result import PageGeometry, PageResult, PanelPlacement
from pipeline.rhythm import match_rhythm_leads
from pipeline.row_extents import close_panel_gaps, row_extents, whole_row_lengths
from pipeline.seam_bars import (
    SeamBar,
    bar_spans,
    bars_on_seams,
    find_seam_bars,
    rows_on_seams,
    unread_before,
)
from pipeline.shared_pages import SharedPage, SharedPageBlocks, take_shared_page
from pipeline.signals import PHOTO_BAND_LIMIT, isoelectric_level
from pipeline.strips import row_strips
from pipeline.trace_colour import trace_channels
from pipeline.types import DigitizationResult, DigitizeOptions
from pipeline.upside_down import flip_votes, label_side, polarity_skew

log = logging.getLogger(__name__)

#: Pages with a longer side than this are reduced first (px); 600-dpi scans gain nothing.
MAX_WORK_SIDE_PX = 3600
#: Largest `GridScale.odd_deficit` of a grid whose rows over 340 mm long are believed
#: rather than read on a half-mm harmonic. Harmonics: 0.40 (clean 300-dpi bench page 2),
#: 0.14 (ecg_plot's faint grid measured on short lags, its 3x4+II page of record
#: 00732_hr; a photo's first look); grids read right -0.03 to 0.01 (bemplt's and
#: ecg_plot's pages of full columns, the bench's).
MAX_ODD_DEFICIT = 0.07
TRACE, TEXT, GRID = 3, 2, 1
#: Pages whose trace map covers more than this fraction are not ECG printouts.
MAX_INK_FRACTION = 0.15
#: Below this fraction of confident trace pixels the network's map is not used for a page.
MIN_NET_TRACE_FRACTION = 0.001
#: Least share of a page that grid-map ink away from the traces must cover for a page not
#: seen square-on to be searched for its grid's perspective (`_grid_ink_share`). Pages
#: with a grid in the grid map measured 0.036-0.24 (bench renders, scans and photos, the
#: real pictures, other programs' pages); under 0.005 were gridless pages (the grid map
#: then holds the traces' fringes, text and scan noise) and scans with a dashed black grid
#: that the colour rule leaves in the trace map (bench scans 39 and 44). On those the
#: search found nothing, or a keystone on a scan (scan 44: 9.7 dB with it, 20.6 without).
MIN_GRID_INK_SHARE = 0.01
#: Two rows' lines share ink where they cross or their strokes overlap, for a few pen
#: widths; a stretch longer than this (mm) is one line both rows followed, and goes to the
#: nearer row (12x1 renders, 8 pages: 16.4 dB at 5 mm, 16.7 at 3, 16.9 at 2, 17.0 at 1,
#: 15.5 at 0.5, where a crossing is taken for a shared line).
MAX_SHARED_MM = 1.5
#: A row's line is read beyond its band (`TraceRow.far_band`) only this close (mm) to where
#: a wave leaves the band: half a wide QRS's excursion at 50 mm/s.
FAR_WINDOW_MM = 5.0
#: Longest stretch of other ink (mm) that a row's path may have taken through paper and
#: that is unpicked (`extract.drop_islands`): longer than a QRS whose strokes were lost
#: (0.12 s, 3 mm), shorter than the rest of a line. 40 px (5 mm at 200 dpi) kept a stamp's
#: ellipse 7.6 mm long in the II strip of scan black-grid page 5 (2.4 dB; 9.4 at 10 mm).
ISLAND_MAX_MM = 10.0
#: Largest difference between a photo row's own grid px/mm and the page's for the row to
#: be read at its own (`_row_grid_scales`).
ROW_GRID_TOLERANCE = 0.03
#: Least spread of the rows' fitted px/mm (a share) for a photo's rows to be read at
#: scales of their own: a row's grid measure is good to about 0.4 %.
ROW_TREND_MIN = 0.01
#: A photo's sheet, once straightened, is segmented a second time (`_labels_on_sheet`):
#: there the sheet fills the network's input, 1.3-1.7x the scale of the first look, where
#: lead labels printed on or touching the line come out as trace. Pixels the second look
#: takes for text with at least this probability, and likelier text than trace, are no
#: trace's (photo bench pages 0-7: 9.96 dB without; 10.53 at 0.1, 10.70 at 0.2, 10.60 at
#: 0.3, 10.32 at 0.5; pages 0-15: 10.32 at 0.2, 10.27 at 0.3; tried as a new gate instead,
#: it lost a rhythm strip's end).
LABEL_TEXT_MIN_P = 0.3
#: The first look's text map is used to take lead labels out of the trace map
#: (`_first_look_labels`) only on pages at most this many times its size: spread over
#: more, its text areas reach the spike beside a label (bench, 8 pages each, 2.28x at
#: 200 dpi, 3.43x at 300 dpi: clean 3x4+1 300 dpi -0.38 dB, page 4 -4.96, with it).
FIRST_LOOK_LABELS_MAX_UPSAMPLE = 2.5
#: ... and only pixels whose text probability exceeds their trace probability by this
#: much: the line under a label is taken for text a little (bench, 8 pages each, against
#: no first-look labels, at margins 0 / 0.3 / 0.5 / 0.7: clean 3x4+1 100 dpi +1.02 /
#: +0.97 / +0.93 / +0.74 dB, 200 dpi -0.14 / 0.00 / +0.14 / +0.38, clean 6x2 +0.63 / +0.58
#: / +0.61 / +0.61, blue traces -0.53 / -0.32 / -0.13 / -0.18, scan 3x4+1 +0.67 / +0.77 /
#: +0.84 / +0.86).
FIRST_LOOK_TEXT_MARGIN = 0.5
#: Most ratio of the largest to the smallest gap between rows found again at a corrected
#: grid scale (`_rows_again`) for them to replace those found before.
ROWS_AGAIN_SPACING = 1.5


class SegmenterLike(Protocol):
    """What the digitizer needs from a segmenter."""

    def segment(self, images: Sequence[np.ndarray]) -> list[Any]:
        """(H, W, 3) uint8 pages -> maps with `.probs` (4, h, w) and `.scale`."""


class ClassicSegmenter:
    """Segmenter interface over `classic_segment` (no network)."""

    version = "classic"

    def segment(self, images: Sequence[np.ndarray]) -> list[SegMaps]:
        """(H, W, 3) uint8 pages -> SegMaps at full resolution."""
        return [classic_segment(im) for im in images]


class _NoSegmenter:
    """Stands in for the network in page-reading worker processes that have none."""

    version = "reader"

    def segment(self, images: Sequence[np.ndarray]) -> list[Any]:
        raise RuntimeError("this page-reading worker process has no network")


class _SheetSegmenter:
    """The network of a page-reading worker process. The parent segments every page; a
    reader segments only a photo's straightened sheet (`Digitizer._labels_on_sheet`), with
    the parent's weights (path, sha256), on the CPU with one thread (the parallelism is the
    processes), loaded on first use: a reader that sees no photo never loads torch."""

    version = "reader"

    def __init__(self, weights: tuple[str, str]) -> None:
        self._weights = weights
        self._net: SegmenterLike | None = None

    def segment(self, images: Sequence[np.ndarray]) -> list[Any]:
        if self._net is None:
            from pipeline.segment.infer import Segmenter
            path, sha = self._weights
            self._net = Segmenter(path, device="cpu", batch_size=1, num_threads=1, sha256=sha)
        return self._net.segment(images)


#: The digitizer of a page-reading worker process (set by `_init_reader`).
_READER: Digitizer | None = None


def _init_reader(options: DigitizeOptions, classic: bool, weights: tuple[str, str] | None
                 ) -> None:
    """Worker process start: one digitizer that reads pages segmented by the parent.
    weights: the parent's network (path, sha256), for photos' straightened sheets; None: the
    parent has none, or none a reader can load (then sheets are not segmented again)."""
    global _READER
    cv2.setNumThreads(1)  # the parallelism is the processes; threads would oversubscribe
    _reuse_freed_memory()
    _READER = Digitizer(options, "classic" if classic
                        else _SheetSegmenter(weights) if weights is not None
                        else _NoSegmenter())


#: glibc's mallopt parameters (malloc.h) and the values set in page-reading processes.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD_BYTES, _TRIM_THRESHOLD_BYTES = 256 << 20, 512 << 20


def _reuse_freed_memory() -> None:
    """Have this process's C allocator (glibc) keep freed page-sized blocks for reuse.

    Reading a page makes and drops dozens of page-sized arrays (15 MB as float32 at
    2200 x 1700). glibc serves blocks that large from fresh memory maps and unmaps them
    when freed, so the kernel maps and zeroes every one again: 50-75 ms of system time a
    page, 7-10% of a page's core time (8 bench pages). Served from the heap instead,
    freed blocks are reused (system time ~0, peak memory +15 MB). Nothing is computed
    differently. A no-op where the C library is not glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)
    mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES)


class _NetMaps(NamedTuple):
    """What page reading needs of the segmenter's maps of one page: the trace probability
    (h, w) float32 at the segmenter's resolution, the grid's (h, w) when the colour rule
    does not replace it (classic segmentation; None otherwise), and the network's text
    probability (h, w) (None: no network). Only these are sent to the page-reading
    processes (the network's four full maps would be twice the bytes)."""

    trace: np.ndarray
    grid: np.ndarray | None
    text: np.ndarray | None = None

    def shared(self) -> tuple[np.ndarray, ...]:
        """The maps as `SharedPageBlocks.share` takes them: (trace, grid, text), an absent
        map as an empty (0, 0) array."""
        empty = np.zeros((0, 0), np.float32)
        return (self.trace, empty if self.grid is None else self.grid,
                empty if self.text is None else self.text)

    @classmethod
    def from_shared(cls, maps: Sequence[np.ndarray]) -> _NetMaps:
        """The maps that `shared` gave, back from shared memory."""
        trace, grid, text = maps
        return cls(trace, grid if grid.size else None, text if text.size else None)


def _read_in_worker(page: SharedPage, input_shape: tuple[int, int], seg_time: float,
                    index: int, quarter: bool = False) -> DigitizationResult | DigitizerError:
    """Read one segmented page in a worker process (see `Digitizer._read_guarded`); its
    pixels and maps (`_NetMaps.shared`) come in shared memory."""
    if _READER is None:
        raise RuntimeError("worker process was not initialised")
    image, maps = take_shared_page(page)
    net = _NetMaps.from_shared(maps)
    return _READER._read_guarded(image, input_shape, net, seg_time, index, quarter)


def _load_default_segmenter(options: DigitizeOptions) -> tuple[SegmenterLike, str, bool]:
    """The shipped U-Net, or the classic segmenter when no weights file is shipped.

    Returns (segmenter, version tag, is_classic). A weights file that is present but fails
    its sha256 check raises ModelWeightsError: a damaged model is never silently replaced.
    """
    try:
        from pipeline.segment.infer import Segmenter
        from pipeline.segment.weights import DEFAULT_WEIGHTS_PATH
    except ImportError as exc:
        log.warning("segmentation network unavailable (%s); using classic segmentation", exc)
        return ClassicSegmenter(), "classic", True
    if not DEFAULT_WEIGHTS_PATH.is_file():
        log.warning("no weights at %s; using classic segmentation", DEFAULT_WEIGHTS_PATH)
        return ClassicSegmenter(), "classic", True
    seg = Segmenter(device=options.device, batch_size=options.batch_size)
    return seg, f"seg-{seg.weights_sha256[:12]}", False


class Digitizer:
    """Turns page images into `DigitizationResult`s.

    options: output rate, device, batch size, forced layout (default DigitizeOptions()).
    segmenter: an object with `.segment(images)`; "classic" for the colour rule; None loads
    the shipped U-Net (classic only when no weights file is shipped).
    """

    def __init__(self, options: DigitizeOptions | None = None,
                 segmenter: SegmenterLike | str | None = None) -> None:
        options = options if options is not None else DigitizeOptions()
        if options.fs_hz <= 0 or options.duration_s <= 0:
            raise ValueError(f"fs_hz and duration_s must be > 0; found {options.fs_hz}, "
                             f"{options.duration_s}")
        if options.workers < 1:
            raise ValueError(f"workers must be >= 1; found {options.workers}")
        self.options = options
        if segmenter is None:
            self._segmenter, tag, self.classic = _load_default_segmenter(options)
        elif isinstance(segmenter, str):
            if segmenter != "classic":
                raise ValueError(f"segmenter must be an object, None or 'classic'; found "
                                 f"{segmenter!r}")
            self._segmenter, tag, self.classic = ClassicSegmenter(), "classic", True
        else:
            self._segmenter = segmenter
            sha = getattr(segmenter, "weights_sha256", "")
            tag = f"seg-{sha[:12]}" if sha else str(getattr(segmenter, "version", "custom"))
            self.classic = isinstance(segmenter, ClassicSegmenter)
        self.version = f"pipeline-{pipeline.__version__}+{tag}"
        #: What segments a photo's straightened sheet again (None: nothing does).
        self.sheet_segmenter: SegmenterLike | None = (
            None if self.classic or isinstance(self._segmenter, _NoSegmenter)
            else self._segmenter)
        self._pool: ProcessPoolExecutor | None = None
        # Pages handed to the readers, in blocks reused from batch to batch until `close`.
        self._blocks = SharedPageBlocks()

    # ------------------------------------------------------------------ public API
    def digitize(self, image: np.ndarray) -> DigitizationResult:
        """Digitize one page (H, W, 3) uint8 RGB; raises DigitizerError subclasses."""
        out = self.digitize_batch([image])[0]
        if isinstance(out, DigitizerError):
            raise out
        return out

    def digitize_batch(self, images: Sequence[np.ndarray]
                       ) -> list[DigitizationResult | DigitizerError]:
        """Digitize pages; one result or error per image, in order.

        Pages go through the network `options.batch_size` at a time; with `options.workers`
        > 1 each segmented page is read in a worker process while the next batch is segmented.
        """
        results: list[DigitizationResult | DigitizerError | None] = [None] * len(images)
        work: list[np.ndarray] = []
        where: list[int] = []
        for i, image in enumerate(images):
            try:
                work.append(_working_image(image))
                where.append(i)
            except DigitizerError as exc:
                results[i] = exc
        pool = self._reader_pool() if len(work) > 1 else None
        blocks = self._blocks
        in_flight: dict[Future[DigitizationResult | DigitizerError],
                        tuple[int, shared_memory.SharedMemory]] = {}
        batch = max(1, self.options.batch_size)
        # Enough pages queued to keep every reader busy while the next batch is segmented.
        max_in_flight = max(1, self.options.workers) + batch

        def collect(until: str) -> None:
            """Take the results of finished readings (FIRST_COMPLETED: at least one, or
            ALL_COMPLETED), giving their blocks back for reuse."""
            done, _ = wait(in_flight, return_when=until)
            for future in done:
                i, block = in_flight.pop(future)
                try:
                    results[i] = future.result()
                except BrokenProcessPool as exc:
                    log.error("a page-reading worker process died on image %d: %r", i, exc)
                    self._pool = None
                    results[i] = DigitizerError(f"page-reading worker process died: {exc!r}")
                blocks.give_back(block)

        try:
            for start in range(0, len(work), batch):
                chunk = work[start:start + batch]
                t = time.perf_counter()
                maps = self._segment(chunk)
                chunk, maps, quarters = self._turn_sideways(chunk, maps)
                seg_time = (time.perf_counter() - t) / len(chunk)
                for k in range(start, start + len(chunk)):
                    i = where[k]
                    if pool is None:
                        results[i] = self._read_guarded(chunk[k - start], images[i].shape[:2],
                                                        maps[k - start], seg_time, i,
                                                        quarters[k - start])
                        continue
                    while len(in_flight) >= max_in_flight:
                        collect(FIRST_COMPLETED)
                    net = maps[k - start]
                    block, page = blocks.share(chunk[k - start], net.shared())
                    try:
                        future = pool.submit(_read_in_worker, page, images[i].shape[:2],
                                             seg_time, i, quarters[k - start])
                    except BrokenProcessPool as exc:  # a reader died: a new pool for the rest
                        blocks.give_back(block)
                        results[i] = DigitizerError(f"page-reading worker process died: {exc!r}")
                        self._pool = None
                        pool = self._reader_pool()
                        continue
                    in_flight[future] = (i, block)
            if in_flight:
                collect(ALL_COMPLETED)
        finally:
            # After an error above: never reuse a block a reader may still be copying.
            wait([f for f in in_flight if not f.cancel()])
            for _, block in in_flight.values():
                blocks.give_back(block)
        return [r if r is not None else DigitizerError("not processed") for r in results]

    def _turn_sideways(self, chunk: list[np.ndarray], maps: list[_NetMaps]
                       ) -> tuple[list[np.ndarray], list[_NetMaps], list[bool]]:
        """The pages of a batch (each (H, W, 3)) and their maps, those whose traces run
        down the picture turned a quarter counter-clockwise with the network's maps of them
        turned (`pipeline.orientation`), and which were turned. Pages in doubt
        (`may_be_sideways`) are segmented again turned, as one batch, where the network
        runs: on the GPU when there is one. A page then upside down is turned by the flip
        votes, as any other."""
        quarters = [False] * len(chunk)
        doubt = ([] if self.classic else
                 [k for k, m in enumerate(maps) if may_be_sideways(m.trace)])
        if not doubt:
            return chunk, maps, quarters
        turned = [np.ascontiguousarray(np.rot90(chunk[k])) for k in doubt]
        chunk, maps = list(chunk), list(maps)
        for k, image, seen in zip(doubt, turned, self._segment(turned)):
            if is_better_turned(maps[k].trace, seen.trace):
                chunk[k], maps[k], quarters[k] = image, seen, True
        return chunk, maps, quarters

    def _segment(self, chunk: list[np.ndarray]) -> list[_NetMaps]:
        """What page reading needs of the segmenter's maps of each page. The network is
        asked for the trace and text maps alone when it can give chosen classes (only those
        channels then leave the GPU); the colour rule replaces its grid map."""
        if not self.classic and hasattr(self._segmenter, "segment_classes"):
            return [_NetMaps(p[0], None, p[1])
                    for p in self._segmenter.segment_classes(chunk, ("trace", "text"))]
        maps = self._segmenter.segment(chunk)
        if self.classic:
            return [_NetMaps(m.probs[TRACE], m.probs[GRID]) for m in maps]
        return [_NetMaps(m.probs[TRACE], None, m.probs[TEXT]) for m in maps]

    def close(self) -> None:
        """Stop the page-reading worker processes, if any were started."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._blocks.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _reader_pool(self) -> ProcessPoolExecutor | None:
        """The worker processes that read segmented pages (None when options.workers <= 1).

        Started once, on first use, with "spawn": the parent may hold a CUDA context and
        torch's threads, neither of which survives a fork.
        """
        if self.options.workers <= 1:
            return None
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.options.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_reader,
                initargs=(self.options, self.classic, self._readers_weights()))
        return self._pool

    def _readers_weights(self) -> tuple[str, str] | None:
        """The network's weights file and sha256 for the readers' second looks at photos'
        sheets (None: classic, or a segmenter that does not say which file it runs)."""
        path = getattr(self.sheet_segmenter, "weights_path", None)
        sha = getattr(self.sheet_segmenter, "weights_sha256", None)
        return (str(path), str(sha)) if path is not None and sha else None

    def _read_guarded(self, image: np.ndarray, input_shape: tuple[int, int], maps: _NetMaps,
                      seg_time: float, index: int, quarter: bool = False
                      ) -> DigitizationResult | DigitizerError:
        """`_digitize_one`, with any failure turned into the page's DigitizerError."""
        try:
            return self._digitize_one(image, input_shape, maps, seg_time, quarter)
        except DigitizerError as exc:
            return exc
        except Exception as exc:  # a bug met on one page fails that page only
            log.exception("internal error digitizing image %d", index)
            return DigitizerError(f"internal error while digitizing: {exc!r}")

    # ------------------------------------------------------------------ one page
    def _digitize_one(self, image: np.ndarray, input_shape: tuple[int, int], maps: _NetMaps,
                      seg_time: float, quarter: bool = False) -> DigitizationResult:
        """Read one segmented page. image: (H, W, 3) the working page (reduced from the
        input, of `input_shape`); quarter: it is the working page turned a quarter
        counter-clockwise (`_turn_sideways`), its maps those of the turned page."""
        timings: dict[str, float] = {"segment": seg_time}
        work_shape = (image.shape[1], image.shape[0]) if quarter else image.shape[:2]
        h, w = image.shape[:2]
        t = time.perf_counter()
        trace_p = _upsample(maps.trace, (h, w))
        # With the network, the colour rule's grid map replaces this before it is read.
        grid_p = trace_p if maps.grid is None else _upsample(maps.grid, (h, w))
        ink_p = trace_p  # all trace-coloured ink, ungated: calibration pulses are looked for here
        # Lead labels the network sees on the page as given (None: not looked for).
        first_labels = _first_look_labels(maps, trace_p)
        timings["upsample"] = time.perf_counter() - t

        fallback = False
        dark_v: np.ndarray | None = None  # the colour rule's darkness map of `image`
        gate: np.ndarray | None = None
        # The network's trace map of a two-level page (`is_bilevel`), kept in step with
        # `image`; None for other pages.
        bilevel_net: np.ndarray | None = None
        labels: np.ndarray | None = None  # (H, W) uint8 1: text, kept in step with `image`
        channels = ALL_CHANNELS  # the colour channels the traces are dark in
        if not self.classic:
            t = time.perf_counter()
            if np.count_nonzero(trace_p > 0.5) / trace_p.size < MIN_NET_TRACE_FRACTION:
                # The network sees (almost) no trace: read the page with the colour rule
                # alone and say so, rather than refusing a page a simpler rule can read.
                fallback = True
            else:
                # Segment coarse, read fine: the network says where traces are (dropping
                # stamps, handwriting, clutter); the colour rule at full resolution says
                # exactly where their ink is.
                k = max(3, round(0.01 * max(h, w)) | 1)
                gate = cv2.dilate((trace_p > 0.3).astype(np.uint8), np.ones((k, k), np.uint8))
                channels = trace_channels(image, gate)
                if is_bilevel(image):
                    bilevel_net = trace_p
            # The picture as given: each grid line's own darkness tells traces from it,
            # but not in a coloured trace's channels, where a grid is nearly as dark as
            # the trace (clean blue traces: 23.7 -> 23.4 dB with it).
            trace_p, grid_p, ink_p, dark_v = colour_maps(
                image, gate, first_labels, channels=channels, bilevel_net=bilevel_net,
                per_line=channels == ALL_CHANNELS)
            timings["segment"] += time.perf_counter() - t
        pre, corners, turn = self._perspective(image, trace_p, grid_p, timings)
        photo = pre is not None
        if not photo:
            labels = first_labels  # a photo's sheet is looked at again once straightened
        if corners is not None:
            image = _blank_outside(image, corners)
        if pre is not None:
            # A photo of a sheet: undo the perspective (from the grid's line families, or
            # the sheet's corners), then read it like a scan.
            t = time.perf_counter()
            image = np.ascontiguousarray(warp(image, pre, fill=(255, 255, 255)))
            gate = None if gate is None else warp(gate, pre, fill=0, nearest=True)
            if bilevel_net is not None:
                bilevel_net = warp(bilevel_net, pre, fill=0.0)
            labels = None if gate is None else self._labels_on_sheet(image)
            trace_p, grid_p, ink_p, dark_v = colour_maps(image, gate, labels, channels,
                                                         bilevel_net, resampled=True)
            timings["segment"] += time.perf_counter() - t
        ink = float(trace_p.mean())
        if ink > MAX_INK_FRACTION:
            raise NoTraceFoundError(
                f"no ECG trace found: trace-like ink covers {ink:.0%} of the image; an ECG's "
                f"traces cover under {MAX_INK_FRACTION:.0%} (a photo or a dark page?)")
        t = time.perf_counter()
        line_map = grid_p if float(grid_p.mean()) > 0.02 else trace_p
        if pre is None and (turn is None or bilevel_net is not None) and line_map is grid_p:
            # A two-level page's grid map holds a JPEG's ringing about its edges, which
            # runs along the 8 px blocks: straight, and "a grid" of 1 mm at 200 dpi (bench
            # binarized scan 6, turned 0.32 degree, was read straight: 4.7 dB, 11.7 when
            # turned), which the perspective stage may take for a grid seen square-on
            # (turn 0). Its grid's ink is black: all of its ink turns it.
            rect = _turn_of_unsure_grid(trace_p, grid_p if bilevel_net is None else ink_p)
        else:
            # A square-on page's turn is known to ~0.05 degree: only the fine search is left.
            rect = rectify_from_map(line_map, near=turn if pre is None else None)
        timings["rectify"] = time.perf_counter() - t
        # A photo's canvas is its sheet when the sheet's outline was found; a page seen
        # square-on may be its whole sheet (a scan, an exported page).
        sheet_px: tuple[float, float] | None = None
        if pre is None:
            sheet_px = _sheet_size(Rectification(0.0, np.eye(3), image.shape[:2]), rect)
        elif corners is not None:
            sheet_px = _sheet_size(pre, rect)
        if rect.angle_deg != 0.0:
            # The colour rule separates straight grid lines from traces better on a
            # straightened page: segment again after turning it.
            t = time.perf_counter()
            pre = rect if pre is None else compose(pre, rect)
            image = np.ascontiguousarray(warp(image, rect, fill=(255, 255, 255)))
            gate = None if gate is None else warp(gate, rect, fill=0, nearest=True)
            if bilevel_net is not None:
                bilevel_net = warp(bilevel_net, rect, fill=0.0)
            labels = None if labels is None else warp(labels, rect, fill=0, nearest=True)
            trace_p, grid_p, ink_p, dark_v = colour_maps(image, gate, labels, channels,
                                                         bilevel_net, resampled=True)
            rect = Rectification(0.0, np.eye(3), image.shape[:2])
            timings["segment"] += time.perf_counter() - t
        labels_out = labels is not None
        page = self._read_page(image, trace_p, grid_p, rect, timings, ink_p, dark_v, labels_out,
                               photo, channels)
        if page.flip_votes > 0:
            flipped = compose(rect, rotate_180(rect.shape))
            page = self._read_page(image, trace_p, grid_p, flipped, timings, ink_p, dark_v,
                                   labels_out, photo, channels)
        if fallback and page.grid is None:
            # Without the network's traces and without a grid, dark ink read as rows may be
            # anything: a dark corner's speckle of a picture that holds no ECG was read as
            # 3x4+2. (No bench page or real picture reaches the fallback.)
            raise NoTraceFoundError(
                "no ECG trace found: the segmentation network sees no trace and no ECG grid "
                "was found; dark ink alone is not taken for traces")
        page.fallback, page.photo, page.sheet_px = fallback, photo, sheet_px
        if pre is not None:
            page.rect = compose(pre, page.rect)
        if quarter:
            page.rect = compose(rotate_90(work_shape), page.rect)
        return self._finish(page, work_shape, input_shape, timings)

    def _labels_on_sheet(self, sheet: np.ndarray) -> np.ndarray | None:
        """(H, W) uint8, 1 where a second look of the network at a photo's straightened
        sheet (H, W, 3) sees text (`LABEL_TEXT_MIN_P`, likelier than trace): lead labels
        that the first look, at the whole picture's scale, took for trace. None when there
        is no network to look."""
        if self.sheet_segmenter is None:
            return None
        try:
            probs = self.sheet_segmenter.segment([sheet])[0].probs
        except ModelWeightsError as exc:  # a reader's copy of the weights changed or went
            log.warning("no second look at photos' sheets: %s", exc)
            self.sheet_segmenter = None
            return None
        shape = sheet.shape[:2]
        text, trace = _upsample(probs[TEXT], shape), _upsample(probs[TRACE], shape)
        return ((text >= LABEL_TEXT_MIN_P) & (text > trace)).astype(np.uint8)

    @staticmethod
    def _perspective(image: np.ndarray, trace_p: np.ndarray, grid_p: np.ndarray,
                     timings: dict[str, float]
                     ) -> tuple[Rectification | None, np.ndarray | None, float | None]:
        """Homography undoing a camera's perspective (None for a page seen square-on), the
        sheet's corners (4, 2) px when it lies on a background (else None), and the turn
        (deg) of a page with a grid seen square-on (else None).

        The homography comes from the grid's two line families when the page has a grid
        (which works when the sheet's corners are not in the picture), else from the
        sheet's four corners. trace_p, grid_p: (H, W) maps of `image` (H, W, 3).
        """
        t = time.perf_counter()
        rect: Rectification | None = None
        square_turn: float | None = None
        corners = paper_outline(image)
        if float(grid_p.mean()) > 0.02:
            turn, square_on = page_turn(grid_p)
            if square_on:
                square_turn = turn
            elif _grid_ink_share(grid_p, trace_p) >= MIN_GRID_INK_SHARE:
                # Not a gridless page (whose search found no grid after 0.4 s, or a
                # keystone in the traces' directions on a scan).
                content = (grid_p > 0.5) | (trace_p > 0.5)
                if corners is not None:
                    # The canvas is the sheet; unless the grid says the outline is no sheet.
                    sheet = np.zeros(grid_p.shape, np.uint8)
                    cv2.fillConvexPoly(sheet, corners.round().astype(np.int32), 1)
                    rect = grid_rectification(grid_p, sheet > 0, turn=turn)
                    if rect is not None and not maps_to_rectangle(rect, corners):
                        corners = None
                        rect = grid_rectification(grid_p, content, turn=turn)
                else:
                    rect = grid_rectification(grid_p, content, turn=turn)
            if rect is not None and corners is None:
                rect, corners = _sheet_after(image, rect, trace_p > 0.5)
        if rect is None and corners is not None:
            rect = unwarp_quad(corners)
        timings["perspective"] = time.perf_counter() - t
        return rect, corners, square_turn

    def _read_page(self, image: np.ndarray, trace_p: np.ndarray, grid_p: np.ndarray,
                   rect: Rectification, timings: dict[str, float],
                   ink_p: np.ndarray | None = None, dark_v: np.ndarray | None = None,
                   labels_out: bool = False, photo: bool = False,
                   channels: tuple[int, ...] = ALL_CHANNELS) -> ReadPage:
        """Read a page; trace_p is the (gated) trace map, ink_p the ungated one in which the
        calibration pulses are looked for (the network may call a pulse text), dark_v the
        image's `paper_normalised` darkness when already known (None: computed here).
        labels_out: the lead labels were taken out of trace_p (a photo's second look), so
        ink beside a line's run is not checked for merged letters (`extract.read_row`).
        photo: a photographed sheet, whose grid lines' pieces are taken out of the lines'
        mask (`drop_grid_pieces`). channels: the colour channels the traces are dark in
        (`trace_channels`)."""
        t = time.perf_counter()
        img_r = warp(image, rect, fill=(255, 255, 255))
        trace_r = warp(trace_p, rect, fill=0.0)
        ink_r = trace_r if ink_p is None or ink_p is trace_p else warp(ink_p, rect, fill=0.0)
        grid_r = warp(grid_p, rect, fill=0.0)
        timings["rectify"] = timings.get("rectify", 0.0) + time.perf_counter() - t

        t = time.perf_counter()
        grid: GridScale | None
        try:
            grid = measure_grid(grid_r)
        except NoGridFoundError:
            grid = None
        timings["grid"] = time.perf_counter() - t

        ppm_guess = grid.px_per_mm if grid else _gridless_px_per_mm(img_r.shape[:2])
        t = time.perf_counter()
        if dark_v is None or img_r is not image:
            dark_v = paper_darkness(img_r, channels)
        timings["extract"] = time.perf_counter() - t

        t = time.perf_counter()
        in_region = in_signal_region(trace_r, ppm_guess)
        rows, long_ink = rows_and_long_ink(in_region, ppm_guess)
        if grid is not None:
            grid = _check_grid_harmonic(grid, rows)
            if grid is None:
                ppm_guess = _gridless_px_per_mm(img_r.shape[:2])
                in_region = in_signal_region(trace_r, ppm_guess)
                rows, long_ink = rows_and_long_ink(in_region, ppm_guess)
            elif grid.px_per_mm != ppm_guess:
                ppm_guess = grid.px_per_mm
                rows, long_ink = _rows_again(trace_r, ppm_guess, rows, in_region)
        timings["crop_rows"] = time.perf_counter() - t

        t = time.perf_counter()
        line_r = restore_gated_lines(trace_r, ink_r, rows, ppm_guess, grid_r)
        mask = drop_specks(line_mask(trace_r, rows, line_r), ppm_guess)
        if photo:
            mask = drop_grid_pieces(mask, trace_r, grid_r)
        mask = without_edge_lines(mask, ppm_guess)
        read_mask = mask
        bars: list[SeamBar] = []
        if rows:
            frame = find_frame(mask, min(r.top_px for r in rows),
                               max(r.bottom_px for r in rows), ppm_guess)
            mask = without_spines(mask, frame, ppm_guess)
            read_mask = without_side_lines(mask, frame)
            bars = find_seam_bars(read_mask, dark_v, rows, [r.y_px for r in rows], ppm_guess)
        if not mask.any():
            raise NoTraceFoundError("no ECG trace found: the trace map is empty")
        level = max(float(np.percentile(dark_v[mask], 70)), 0.05)
        coverage = np.empty(dark_v.shape, np.float32)
        for s in row_strips(dark_v.shape):
            part = coverage[s]
            np.divide(dark_v[s], level, out=part)
            np.clip(part, 0.0, 1.0, out=part)
            part *= line_r[s] > 0.15
        bands = [(r.top_px, r.bottom_px, r.x0_px, r.x1_px, r.y_px,
                  0.5 * (r.own_band[1] - r.own_band[0])) for r in rows]

        def read_rows(unread: list[list[tuple[int, int]]] | None = None) -> list[RowTrace]:
            return extract_rows(
                read_mask, coverage, bands, max_shared_px=MAX_SHARED_MM * ppm_guess,
                check_edges=not labels_out, far_bands=[r.far_band for r in rows],
                far_window_px=FAR_WINDOW_MM * ppm_guess, unread=unread,
                max_island_px=round(ISLAND_MAX_MM * ppm_guess))

        traces = read_rows()
        baselines = [isoelectric_level(tr.y_px) for tr in traces]
        timings["extract"] += time.perf_counter() - t

        t = time.perf_counter()
        faint = mask | (ink_r > 0.2)  # thin pulse strokes are faint
        start = [find_pulse(faint, r, ppm_guess, "start", ink=ink_r) for r in rows]
        end = [find_pulse(faint, r, ppm_guess, "end", ink=ink_r) for r in rows]
        found = [p for p in start + end if p is not None]
        turned_gain = turned_fit_gain(rows, mask, long_ink, ppm_guess, traces)
        votes = flip_votes(found, polarity_skew(traces, baselines), len(rows), turned_gain,
                           lambda: time_asymmetry(traces, 25.0 * ppm_guess),
                           lambda: label_side(ink_r, mask, rows, ppm_guess))
        start = [p if p is not None and not p.inverted else None for p in start]
        end = [p if p is not None and not p.inverted else None for p in end]
        timings["calibration"] = time.perf_counter() - t
        page = ReadPage(rect, img_r, mask, rows, traces, baselines, start, end, grid, ppm_guess,
                        long_ink,
                        votes if rect.angle_deg != 180.0 and abs(rect.angle_deg) < 90 else 0)
        page.grid_map = grid_r
        page.faint = faint
        if bars:
            # Bars at seams that split the rows evenly: read the rows again, not in them.
            page.seam_bars = bars_on_seams(bars, *row_extents(page), ppm_guess)
            if page.seam_bars:
                t = time.perf_counter()
                page.traces = read_rows(bar_spans(page.seam_bars, len(rows), ppm_guess))
                page.baselines = [isoelectric_level(tr.y_px) for tr in page.traces]
                timings["extract"] += time.perf_counter() - t
        return page

    def _finish(self, page: ReadPage, work_shape: tuple[int, int], input_shape: tuple[int, int],
                timings: dict[str, float]) -> DigitizationResult:
        t = time.perf_counter()
        opts = self.options
        pulses = agreeing_pulses([p for p in page.start_pulses + page.end_pulses
                                  if p is not None])
        if lone_piece(pulses, page_px_per_mm(page), page.grid is not None):
            pulses = []  # no pulse: its row is read from its line's start
        kept = {id(p) for p in pulses}
        page.start_pulses = [p if id(p) in kept else None for p in page.start_pulses]
        page.end_pulses = [p if id(p) in kept else None for p in page.end_pulses]
        scales = page_scales(pulses, page_px_per_mm(page), page.grid is not None)
        if page.grid is None and not pulses:
            # No grid, no pulse: assume the longest rows show 10 s at 25 mm/s.
            length = float(np.median([r.x1_px - r.x0_px for r in page.rows]))
            ppm = length / (10.0 * 25.0)
            scales = Scales(px_per_mv=10.0 * ppm, px_per_s=25.0 * ppm, px_per_mm=ppm,
                            mm_per_mv=10.0, mm_per_s=25.0,
                            assumed=("px_per_mm", "mm_per_mv", "mm_per_s"))
        if page.grid is None:
            starts, ends = row_extents(page, scales.px_per_s)
            scales = scales_from_rows(scales, whole_row_lengths(page, starts, ends, work_shape))
        if page.grid is None and page.sheet_px is not None:
            scales = scales_from_sheet(scales, page.sheet_px, whole_image=not page.photo)
        if page.photo:
            scales = replace(scales, band_limit=PHOTO_BAND_LIMIT, min_cutoff_hz=0.0)
        starts, ends = row_extents(page, scales.px_per_s)
        starts, ends, readable_from = rows_on_seams(starts, ends, page.seam_bars,
                                                    scales.px_per_mm)
        row_scales = (_row_grid_scales(page, scales) if page.photo and page.grid is not None
                      else None)
        candidates = choose_template(page.rows, page.mask, page.long_ink, scales.px_per_mm,
                                     opts.layout,
                                     (float(np.median(starts)), float(np.median(ends))),
                                     page.traces)
        per_row = row_scales if row_scales is not None else [scales] * len(page.rows)
        candidates = fit_record_length(
            candidates, lambda t: column_seconds(t.n_cols, starts, ends, per_row),
            opts.duration_s)
        timings["calibration"] += time.perf_counter() - t

        t = time.perf_counter()
        traces, panel_gaps = close_panel_gaps(page, starts, ends, scales.px_per_mm)
        traces = [unread_before(tr, x) for tr, x in zip(traces, readable_from, strict=True)]
        best: tuple[float, LayoutTemplate, np.ndarray, list[PanelPlacement]] | None = None
        n_samples = round(opts.duration_s * opts.fs_hz)
        memo = WindowMemo()  # candidates share most lead windows: each is read once
        for template, geo_cost in candidates[:5]:
            template = match_rhythm_leads(template, traces, page.baselines, starts, ends,
                                          scales, opts.fs_hz, n_samples, memo)
            signals, placements, agreement = assemble_signals(
                template, traces, page.baselines, starts, ends, scales, opts.fs_hz,
                n_samples, memo, row_scales)
            # Geometry tells 6-row layouts apart (the only row count several geometries
            # share) by where rows change lead; 0.3 let a poor read's limb and strip terms
            # call a 3x4+3 page precordial-6x1.
            cost = limb_relation_residual(template, signals, opts.fs_hz) + 0.5 * geo_cost
            if agreement is not None:
                cost += 0.5 * (1.0 - agreement)
            if template.name.startswith("cabrera"):
                cost += 0.2  # much less common than the standard order
            if best is None or cost < best[0]:
                best = (cost, template, signals, placements)
        assert best is not None  # choose_template never returns an empty list
        _, template, signals, placements = best
        if panel_gaps is not None:
            # Back on the page: a panel after a gap starts where it is drawn.
            placements = [replace(p, x_start_px=panel_gaps.open(p.x_start_px))
                          if p.row in panel_gaps.rows else p for p in placements]
        timings["layout_signals"] = time.perf_counter() - t

        quality = _quality(signals, placements, page.traces, scales, page.grid)
        assumed = list(scales.assumed)
        if page.fallback:
            assumed.append("segmentation_classic_fallback")
        if page.grid is None:
            assumed.append("px_per_mm")
        scale_back = input_shape[1] / work_shape[1]
        geometry = PageGeometry(matrix=page.rect.matrix, shape=page.rect.shape,
                                work_scale=1.0 / scale_back, panels=tuple(placements))
        return PageResult(
            signals_uv=signals, fs_hz=float(opts.fs_hz), layout=template.name,
            px_per_mm=float(scales.px_per_mm * scale_back), mm_per_mv=scales.mm_per_mv,
            mm_per_s=scales.mm_per_s, quality=quality,
            assumed=tuple(dict.fromkeys(assumed)), timings_s=dict(timings),
            rotation_deg=float(page.rect.angle_deg), geometry=geometry,
        )


def _working_image(image: np.ndarray) -> np.ndarray:
    """Check an input page, reduce it to at most MAX_WORK_SIDE_PX on its longer side, and
    turn a light-on-dark page (a monitor's screen) to its negative (`pipeline.polarity`)."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        raise DigitizerError(
            f"image must be an (H, W, 3) array; found "
            f"{getattr(image, 'shape', type(image).__name__)}")
    if image.dtype != np.uint8:
        raise DigitizerError(f"image must be uint8 RGB; found dtype {image.dtype}")
    if min(image.shape[:2]) < 64:
        raise ImageTooSmallError(f"image is {image.shape[1]} x {image.shape[0]} px; at least "
                                 "64 px per side are needed")
    h, w = image.shape[:2]
    f = MAX_WORK_SIDE_PX / max(h, w)
    if f < 1.0:
        image = cv2.resize(image, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
    return dark_on_light(np.ascontiguousarray(image))


def _sheet_after(image: np.ndarray, rect: Rectification, traces: np.ndarray
                 ) -> tuple[Rectification, np.ndarray | None]:
    """Look for the sheet again once the grid has straightened the picture (H, W, 3): its
    sides are then upright, and found where the outline was not (a shadow over a corner,
    a busy background). traces: (H, W) bool, trace ink, which the sheet must hold (98%).
    Returns the rectification cropped to the sheet and the sheet's corners (4, 2) in
    `image` px, or `rect` unchanged and None."""
    straight = cv2.warpPerspective(image, rect.matrix, (rect.shape[1], rect.shape[0]),
                                   flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    box = upright_sheet_box(straight)
    if box is None:
        return rect, None
    x0, y0, x1, y1 = box
    if min((x1 - x0) / rect.shape[1], (y1 - y0) / rect.shape[0]) < 0.3:
        return rect, None  # not a sheet holding the grid
    ink = warp(traces.astype(np.uint8), rect, fill=0, nearest=True)
    if ink[y0:y1, x0:x1].sum() < 0.98 * ink.sum():
        return rect, None  # an edge inside the sheet (a shadow's, a fold's)
    crop = Rectification(0.0, np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0], [0.0, 0.0, 1.0]]),
                         (y1 - y0, x1 - x0))
    corners = np.array([[x0, y0], [x1 - 1, y0], [x1 - 1, y1 - 1], [x0, y1 - 1]], np.float64)
    back = cv2.perspectiveTransform(corners[None], np.linalg.inv(rect.matrix))[0]
    return compose(rect, crop), back


def _sheet_size(sheet: Rectification, turn: Rectification) -> tuple[float, float]:
    """(width, height) px of a straightened sheet (`sheet`'s canvas) once `turn` (the
    rotation found after it) has set its rows along the width."""
    h, w = sheet.shape
    quarter = abs(abs(turn.angle_deg) % 180.0 - 90.0) < 45.0
    return (float(h), float(w)) if quarter else (float(w), float(h))


def _blank_outside(image: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """The image (H, W, 3) with everything outside the sheet (corners (4, 2) px) made
    white. The outline is not drawn inwards: a sheet cut close to its calibration pulses
    has them at its edge (photo bench page 8: an inset of 0.5 % of the picture took their
    upstrokes, and the time scale fell back to rows read as 10 s, 5 % off)."""
    sheet = np.zeros(image.shape[:2], np.uint8)
    cv2.fillConvexPoly(sheet, corners.round().astype(np.int32), 1)
    out = image.copy()
    out[sheet == 0] = 255
    return out


def _grid_ink_share(grid_p: np.ndarray, trace_p: np.ndarray) -> float:
    """Share of a page (grid_p, trace_p: (H, W) maps) that holds grid-map ink (> 0.5) more
    than 3 px from trace ink (> 0.5): a grid's lines cover much of the page; on a gridless
    page the grid map holds the traces' antialiased fringes, text and specks."""
    near_trace = cv2.dilate((trace_p > 0.5).view(np.uint8), np.ones((7, 7), np.uint8))
    away = cv2.subtract((grid_p > 0.5).view(np.uint8), near_trace)  # 0/1 - 0/1, floored at 0
    return cv2.countNonZero(away) / grid_p.size


def _turn_of_unsure_grid(trace_p: np.ndarray, grid_p: np.ndarray) -> Rectification:
    """The turn of a page with grid-map ink on which the perspective stage found no grid
    seen square-on and no perspective: from the grid map (H, W) when the page turned by it
    shows a grid, else from the trace map (H, W). Such pages are mostly gridless, and a
    gridless page's grid map holds what is not trace: text, the traces' antialiased
    fringes, stamps. It turned clean bench page 8 by 0.55 degree (the traces: 0.0); on the
    bench's five gridless scans the traces' angle was 0.00-0.10 degree off, the grid map's
    0.01-0.12."""
    rect = rectify_from_map(grid_p)
    try:
        measure_grid(warp(grid_p, rect, fill=0.0))
    except NoGridFoundError:
        return rectify_from_map(trace_p)
    return rect


def _first_look_labels(maps: _NetMaps, trace_p: np.ndarray) -> np.ndarray | None:
    """(H, W) uint8, 1 where the network's first look at the page takes ink for text
    (its text probability over `trace_p` (H, W), its trace map brought to the page's size,
    by FIRST_LOOK_TEXT_MARGIN): lead labels printed on or touching the line, which the
    colour rule keeps as trace and a row's line then follows for 0.1-0.3 s. None without a
    text map, or where the page is over FIRST_LOOK_LABELS_MAX_UPSAMPLE times the map's size."""
    if maps.text is None:
        return None
    shape = trace_p.shape[:2]
    if max(shape) > FIRST_LOOK_LABELS_MAX_UPSAMPLE * max(maps.text.shape):
        return None
    text = _upsample(maps.text, shape)
    return (text > trace_p + FIRST_LOOK_TEXT_MARGIN).astype(np.uint8)


def _upsample(prob: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(h, w) probability map resized (bilinear) to shape (H, W), float32."""
    prob = np.asarray(prob, dtype=np.float32)
    if prob.shape == shape:
        return prob
    return cv2.resize(prob, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def _gridless_px_per_mm(shape: tuple[int, int]) -> float:
    """px/mm a page (H, W) with no grid is first read at: its longer side taken for 280 mm,
    about a landscape A4 or letter sheet's width."""
    return max(shape) / 280.0


def _check_grid_harmonic(grid: GridScale, rows: list[TraceRow]) -> GridScale | None:
    """Guard against a grid period read at 2-5 mm instead of 1 mm (dotted or faint minor
    lines), or at half a mm: rows of printed ECGs are 180-320 mm long (10 s at 25 mm/s, or
    5 s at 50 mm/s); a page whose longest row would be under 110 mm or over 340 mm is
    rescaled when a whole factor fixes it. Longer rows are believed on a grid whose lines
    stand at every multiple of the measured 1 mm period (`GridScale.odd_deficit`): a
    half-mm harmonic's odd multiples fall between lines (clean 300-dpi bench page 2).
    None, no grid, when no factor fixes it and the period was found across the rows only
    (no vertical lines): a gridless photo's rows, 284 px apart, repeat in its grid map
    (text, the traces' fringes), whose fifth harmonic passed for a 1 mm grid under which
    its rows were 29 mm long (bench gridless photo 3: its rhythm strip lost, 0.0 dB).
    """
    longest_mm = max(r.x1_px - r.x0_px for r in rows) / grid.px_per_mm
    if 110.0 <= longest_mm <= 340.0:
        return grid
    if longest_mm > 340.0 and grid.minor_visible and grid.odd_deficit <= MAX_ODD_DEFICIT:
        # Lines at every multiple of the period: no harmonic, the rows are that long
        # (columns that each draw a lead's whole 10 s side by side, 500 mm and more).
        return grid
    # Too short: a 2-5 mm period read as 1 mm; too long: a half-mm harmonic (the dots'
    # or minor lines' double frequency) read as 1 mm.
    # Of the whole factors that fit, the one nearest the usual 250 mm (10 s at 25 mm/s).
    factors = [k if longest_mm < 110.0 else 1.0 / k for k in (2.0, 3.0, 4.0, 5.0)]
    fits = [f for f in factors if 180.0 <= longest_mm * f <= 320.0]
    if not fits:
        return grid if np.isfinite(grid.px_per_mm_x) else None
    f = min(fits, key=lambda f: abs(longest_mm * f - 250.0))
    return replace(grid, px_per_mm=grid.px_per_mm / f, px_per_mm_x=grid.px_per_mm_x / f,
                   px_per_mm_y=grid.px_per_mm_y / f)


def _rows_again(trace_r: np.ndarray, px_per_mm: float, rows: list[TraceRow],
                in_region: np.ndarray) -> tuple[list[TraceRow], np.ndarray]:
    """(rows, long traces (H, W) bool) of the rectified trace map `trace_r` ((H, W)
    float) found again at the page's scale as `_check_grid_harmonic` corrected it.

    Rows are found at the grid's scale: at one read 2-5x too coarse, rows closer than the
    spacing it allows merge. A photographed 6x2 page whose 5 mm lines were taken for 1 mm
    ones (25 px/mm for 5) kept 3 of its 6 rows and was read as 3x4 (-2.3 dB). When no
    rows show at the corrected scale, or no more rows than before, or rows not evenly
    spaced (gaps differing by over ROWS_AGAIN_SPACING: a real photo of part of a page,
    two rows 92 mm long whose grid the correction took 3x too fine, gained a stray third
    row 28 mm under the second, 120 over the first, and was read as 3x4), those found
    before (`rows`, in the signal region `in_region` found with them) are kept, with the
    long traces of 12 mm at the corrected scale.
    """
    try:
        found, long_ink = rows_and_long_ink(in_signal_region(trace_r, px_per_mm), px_per_mm)
    except NoTraceFoundError:
        found = []
    gaps = np.diff([r.y_px for r in found])
    if len(found) > len(rows) and gaps.max() <= ROWS_AGAIN_SPACING * gaps.min():
        return found, long_ink
    return rows, long_trace_mask(in_region, max(8.0, 12.0 * px_per_mm))


def _row_grid_scales(page: ReadPage, scales: Scales) -> list[Scales]:
    """A photo's scales row by row: the page's, with px/s and px/mV scaled by the grid's
    px/mm along and across each row, from a straight-line fit over the rows' own bands.
    A perspective undone from an outline or from the grid's line families leaves its
    aspect a few % off and a few % of keystone: on photo bench page 19 the grid was 5.65
    px/mm along the rows and 5.88 across them (read at 5.76 for both: 2.4 dB), and on
    page 21 it went from 4.87 px/mm at the top to 4.98 at the bottom. A row's own measure
    counts when it is within ROW_GRID_TOLERANCE of the page's (after the grid's harmonics);
    an axis with fewer than two rows measured keeps the page's scale."""
    assert page.grid is not None and page.grid_map is not None
    ys, ratios_x, ratios_y = [], [], []
    for row in page.rows:
        band = page.grid_map[row.own_band[0]:row.own_band[1]]
        try:
            local = measure_grid(band)
        except NoGridFoundError:
            continue
        own = []
        for value in (local.px_per_mm_x, local.px_per_mm_y):
            value = value if np.isfinite(value) else local.px_per_mm
            harmonics = [value * k / page.grid.px_per_mm
                         for k in (1.0, 2.0, 2.5, 5.0, 0.5, 0.4, 0.2)]
            own.append(next((h for h in harmonics if abs(h - 1.0) <= ROW_GRID_TOLERANCE), np.nan))
        ys.append(row.y_px)
        ratios_x.append(own[0])
        ratios_y.append(own[1])
    at = np.array([row.y_px for row in page.rows])
    fitted = []
    for ratios, whole in ((ratios_x, page.grid.px_per_mm_x), (ratios_y, page.grid.px_per_mm_y)):
        level = whole / page.grid.px_per_mm if np.isfinite(whole) else 1.0
        r = np.array(ratios)
        ok = np.isfinite(r)
        trend = np.ones(at.size)
        if ok.sum() >= 2:
            slope, icpt = np.polyfit(np.array(ys)[ok], r[ok], 1)
            line = icpt + slope * at
            if np.ptp(line) >= ROW_TREND_MIN:
                trend = line / line.mean()
        fitted.append(level * trend)
    return [replace(scales, px_per_s=scales.px_per_s * float(fx),
                    px_per_mv=scales.px_per_mv * float(fy))
            for fx, fy in zip(fitted[0], fitted[1])]


def _quality(signals: np.ndarray, placements: list[PanelPlacement], traces: list[RowTrace],
             scales: Scales, grid: GridScale | None) -> np.ndarray:
    """Confidence per lead in [0, 1]: the share of its window's columns read with
    confidence, lowered when scales were assumed. Counted by column, not by read sample:
    an unread stretch holds no samples, and a share of samples ignored it."""
    from pipeline.types import LEADS

    q = np.zeros(len(LEADS), dtype=np.float64)
    factor = 1.0
    if grid is None:
        factor *= 0.6
    if "mm_per_mv" in scales.assumed:
        factor *= 0.85
    for p in placements:
        tr = traces[p.row]
        n_cols = max(1, round(float(p.t1_s - p.t0_s) * float(p.px_per_s)))
        read = np.isfinite(tr.y_px) & tr.confident
        col = np.floor(tr.x_px[read] - p.x_start_px).astype(np.int64)
        col = col[(col >= 0) & (col < n_cols)]
        if col.size == 0:
            continue
        frac = np.unique(col).size / n_cols
        i = LEADS.index(p.lead)
        q[i] = max(q[i], frac * factor)
    q[np.all(np.isnan(signals), axis=1)] = 0.0
    return np.clip(q, 0.0, 1.0)
