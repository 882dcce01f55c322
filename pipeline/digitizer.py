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
    Pulse,
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
    colour_rule,
    faint_trace,
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
    Frame,
    find_frame,
    hold_inside,
    tick_frame,
    without_edge_lines,
    without_side_lines,
    without_spines,
)
from pipeline.grid import GridScale, measure_grid
from pipeline.layout import (
    INK_THRESHOLDS,
    LayoutTemplate,
    TraceRow,
    choose_template,
    consensus,
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
from pipeline.orientation import is_better_turned, may_be_sideways
from pipeline.panels import PanelGaps, close_trace, find_panel_gaps
from pipeline.perspective import grid_rectification, maps_to_rectangle, page_turn
from pipeline.polarity import dark_on_light
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
#: Rows of a page start (and end) together: a row whose start is further than 1.5 mm or
#: this many seconds (the nearer) from the others' takes theirs. 1.5 mm is 60 ms at
#: 25 mm/s but 120 ms at 12.5 mm/s, where a row read from its pulse's tail (no break seen
#: after it) started 1.5 mm early and was kept (6x2-full bench page 5, aVR and V4 124 ms
#: early).
ROW_AGREEMENT_S = 0.06
#: Largest `GridScale.odd_deficit` of a grid whose rows over 340 mm long are believed
#: rather than read on a half-mm harmonic. Harmonics: 0.40 (clean 300-dpi bench page 2),
#: 0.14 (ecg_plot's faint grid measured on short lags, its 3x4+II page of record
#: 00732_hr; a photo's first look); grids read right -0.03 to 0.01 (bemplt's and
#: ecg_plot's pages of full columns, the bench's).
MAX_ODD_DEFICIT = 0.07
TRACE, TEXT, GRID = 3, 2, 1
#: Share of a row's columns that must hold ink at a threshold for it to be used.
MIN_INKED_SHARE = 0.95
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
#: Ink-free columns that make a break between a calibration pulse's tail and the signal.
MIN_BREAK_PX = 2
#: Longest piece of a stroke the gate may be grown over, as a share of the longer side.
MAX_GROWTH = 0.02
#: Two rows' lines share ink where they cross or their strokes overlap, for a few pen
#: widths; a stretch longer than this (mm) is one line both rows followed, and goes to the
#: nearer row (12x1 renders, 8 pages: 16.4 dB at 5 mm, 16.7 at 3, 16.9 at 2, 17.0 at 1,
#: 15.5 at 0.5, where a crossing is taken for a shared line).
MAX_SHARED_MM = 1.5
#: A row's line is read beyond its band (`TraceRow.far_band`) only this close (mm) to where
#: a wave leaves the band: half a wide QRS's excursion at 50 mm/s.
FAR_WINDOW_MM = 5.0
#: A row's start is moved back along faint ink (`_faint_start`) by at least this (mm)...
FAINT_START_MM = 1.0
#: ... through breaks of at most this many columns (a grid line's crossing), in columns
#: whose ink there is at most FAINT_RUN_PX tall (a flat line's, not a lead label's stroke).
FAINT_GAP_PX = 2
FAINT_RUN_PX = 4
#: ... and inked in this share of its columns at least (a dotted grid line: about half).
FAINT_COVER = 0.8
#: Longest stretch of other ink (mm) that a row's path may have taken through paper and
#: that is unpicked (`extract.drop_islands`): longer than a QRS whose strokes were lost
#: (0.12 s, 3 mm), shorter than the rest of a line. 40 px (5 mm at 200 dpi) kept a stamp's
#: ellipse 7.6 mm long in the II strip of scan black-grid page 5 (2.4 dB; 9.4 at 10 mm).
ISLAND_MAX_MM = 10.0
#: Ink the network's gate cut from a line it keeps in part is put back where its vertical
#: or horizontal run is shorter than this (mm): a line's, not a stamp's thick strokes.
RESTORE_RUN_MM = 0.5
#: ... and where the piece put back is at least this wide (mm).
RESTORE_MIN_MM = 1.0
#: ... of pieces of ink at least this wide (mm): lines, not lead labels or letters.
RESTORE_LINE_MM = 15.0
#: Least network trace probability on a piece of a two-level page's ink for it to be
#: trace (`_network_pieces`).
BILEVEL_TRACE_P = 0.5
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
            trace_p, grid_p, ink_p, dark_v = _colour_maps(
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
            trace_p, grid_p, ink_p, dark_v = _colour_maps(image, gate, labels, channels,
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
            trace_p, grid_p, ink_p, dark_v = _colour_maps(image, gate, labels, channels,
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
                   channels: tuple[int, ...] = ALL_CHANNELS) -> _Page:
        """Read a page; trace_p is the (gated) trace map, ink_p the ungated one in which the
        calibration pulses are looked for (the network may call a pulse text), dark_v the
        image's `paper_normalised` darkness when already known (None: computed here).
        labels_out: the lead labels were taken out of trace_p (a photo's second look), so
        ink beside a line's run is not checked for merged letters (`extract.read_row`).
        photo: a photographed sheet, whose grid lines' pieces are taken out of the lines'
        mask (`_drop_grid_pieces`). channels: the colour channels the traces are dark in
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
        line_r = _restore_gated_lines(trace_r, ink_r, rows, ppm_guess, grid_r)
        mask = _line_mask(trace_r, rows, line_r)
        if photo:
            mask = _drop_grid_pieces(mask, trace_r, grid_r)
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
        page = _Page(rect, img_r, mask, rows, traces, baselines, start, end, grid, ppm_guess,
                     long_ink,
                     votes if rect.angle_deg != 180.0 and abs(rect.angle_deg) < 90 else 0)
        page.grid_map = grid_r
        page.faint = faint
        if bars:
            # Bars at seams that split the rows evenly: read the rows again, not in them.
            page.seam_bars = bars_on_seams(bars, *_row_extents(page), ppm_guess)
            if page.seam_bars:
                t = time.perf_counter()
                page.traces = read_rows(bar_spans(page.seam_bars, len(rows), ppm_guess))
                page.baselines = [isoelectric_level(tr.y_px) for tr in page.traces]
                timings["extract"] += time.perf_counter() - t
        return page

    def _finish(self, page: _Page, work_shape: tuple[int, int], input_shape: tuple[int, int],
                timings: dict[str, float]) -> DigitizationResult:
        t = time.perf_counter()
        opts = self.options
        pulses = agreeing_pulses([p for p in page.start_pulses + page.end_pulses
                                  if p is not None])
        if lone_piece(pulses, _page_px_per_mm(page), page.grid is not None):
            pulses = []  # no pulse: its row is read from its line's start
        kept = {id(p) for p in pulses}
        page.start_pulses = [p if id(p) in kept else None for p in page.start_pulses]
        page.end_pulses = [p if id(p) in kept else None for p in page.end_pulses]
        scales = page_scales(pulses, _page_px_per_mm(page), page.grid is not None)
        if page.grid is None and not pulses:
            # No grid, no pulse: assume the longest rows show 10 s at 25 mm/s.
            length = float(np.median([r.x1_px - r.x0_px for r in page.rows]))
            ppm = length / (10.0 * 25.0)
            scales = Scales(px_per_mv=10.0 * ppm, px_per_s=25.0 * ppm, px_per_mm=ppm,
                            mm_per_mv=10.0, mm_per_s=25.0,
                            assumed=("px_per_mm", "mm_per_mv", "mm_per_s"))
        if page.grid is None:
            starts, ends = _row_extents(page, scales.px_per_s)
            scales = scales_from_rows(scales, _whole_row_lengths(page, starts, ends, work_shape))
        if page.grid is None and page.sheet_px is not None:
            scales = scales_from_sheet(scales, page.sheet_px, whole_image=not page.photo)
        if page.photo:
            scales = replace(scales, band_limit=PHOTO_BAND_LIMIT, min_cutoff_hz=0.0)
        starts, ends = _row_extents(page, scales.px_per_s)
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
        traces, panel_gaps = _close_panel_gaps(page, starts, ends, scales.px_per_mm)
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


class _Page:
    """Everything read from one rectified page before the layout is fixed."""

    def __init__(self, rect: Rectification, image: np.ndarray, mask: np.ndarray,
                 rows: list[TraceRow],
                 traces: list[RowTrace], baselines: list[float], start: list[Pulse | None],
                 end: list[Pulse | None], grid: GridScale | None, ppm_guess: float,
                 long_ink: np.ndarray, flip_votes: int) -> None:
        self.rect, self.image, self.mask, self.rows, self.traces = rect, image, mask, rows, traces
        self.baselines, self.start_pulses, self.end_pulses = baselines, start, end
        self.grid, self.ppm_guess, self.long_ink, self.flip_votes = (
            grid, ppm_guess, long_ink, flip_votes)
        self.fallback = False
        self.photo = False  # a photographed sheet, its perspective undone
        # (width, height) px of that sheet, rows along the width, when its outline was found
        self.sheet_px: tuple[float, float] | None = None
        self.grid_map: np.ndarray | None = None  # (H, W) grid probability, rectified
        self.seam_bars: list[SeamBar] = []  # bars between a row's leads (`find_seam_bars`)
        self.faint: np.ndarray | None = None  # (H, W) bool: the mask and faint trace ink


def _colour_maps(image: np.ndarray, gate: np.ndarray | None,
                 labels: np.ndarray | None = None, channels: tuple[int, ...] = ALL_CHANNELS,
                 bilevel_net: np.ndarray | None = None, per_line: bool = False,
                 resampled: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The colour rule's maps of an (H, W, 3) page: (trace, grid, ink, dark_v), each (H, W)
    float; trace is the ink kept to where the network's `gate` ((H, W) 0/1, None:
    everywhere) saw traces and out of `labels` ((H, W) 0/1 text, None: none), ink is all
    trace-coloured ink (calibration pulses are looked for there), dark_v the darkness
    relative to the paper (`paper_normalised`). Where the
    gated traces are fainter than the page's darkest ink, the trace map also holds their
    ink at a threshold of their own (`faint_trace`); ink keeps the page's (pulses are
    looked for there: in the fainter ink they were found in stray strokes). channels: the
    colour channels the traces are dark in (`trace_channels`). bilevel_net: the network's
    trace probability (H, W) of a two-level page (`is_bilevel`), None for others: the
    trace map then keeps only the pieces of ink it sees traces on (`_network_pieces`).
    per_line: `colour_rule`'s, for a picture not resampled; resampled: `colour_rule`'s,
    for a picture turned or straightened."""
    maps = colour_rule(image, channels, per_line, resampled)
    ink = maps.trace
    if gate is None:
        return ink, maps.grid, ink, maps.dark_v
    grown = _grow_gate(ink, gate)
    if bilevel_net is not None:
        trace = _network_pieces(ink, grown, bilevel_net)
    else:
        trace = cv2.copyTo(ink, grown, np.zeros_like(ink))  # ink * grown, without a cast
        faint = faint_trace(maps, grown)
        if faint is not None:
            faint *= grown
            np.maximum(trace, faint, out=trace)
    if labels is not None:
        trace[labels > 0] = 0.0
    return trace, maps.grid, ink, maps.dark_v


def _network_pieces(ink: np.ndarray, gate: np.ndarray, net: np.ndarray) -> np.ndarray:
    """The trace map (H, W) float of a two-level page: its ink (`ink` (H, W) float, > 0.5)
    within the `gate` ((H, W) 0/1) in 8-connected pieces on which the network's trace
    probability (`net` (H, W)) reaches BILEVEL_TRACE_P somewhere.

    A thresholded page's grid dots and lines are as black as its traces, so the colour
    rule keeps them as trace, and the gate keeps those beside the lines. The network
    sees them for what they are at its scale, but not its traces' every pixel: thin
    traces break up when thresholded, and ink kept pixel by pixel where its coarse map
    sees trace lost whole stretches of lines (bench binarized scan 5: 12.0 -> 9.0 dB).
    Piece by piece, binarized scans 0-23 read at 11.78 dB (11.44 before).
    """
    on = cv2.bitwise_and((ink > 0.5).view(np.uint8), gate.astype(np.uint8, copy=False))
    n, pieces = cv2.connectedComponents(on, connectivity=8)
    keep = np.zeros(n, bool)
    keep[pieces[net >= BILEVEL_TRACE_P]] = True
    keep[0] = False  # not ink
    return ink * keep[pieces]


def _grow_gate(ink: np.ndarray, gate: np.ndarray) -> np.ndarray:
    """The network's gate ((H, W) 0/1) grown over the column runs of ink it cuts on one side.

    The network works at a coarse resolution where a QRS spike is under a pixel wide, and
    it takes a spike beside a lead label for text: the gate then cuts the spike's tip off.
    A vertical run of ink (`ink` (H, W) float > 0.3) that the gate holds in part and that
    leaves it on one side only (up or down) is the rest of a stroke the gate holds: kept
    whole, with its faint fringe, when the part outside is at most MAX_GROWTH of the
    image's longer side (a tip, not a shadow's edge or a fold). A run leaving on both
    sides (a separator tick crossing the line) keeps only its gated part. Returns (H, W)
    uint8 0/1.
    """
    on = ink > 0.3
    inside = gate > 0
    h, w = on.shape
    # The ink pixels column by column (index c * h + r), runs numbered in that order
    # (OpenCV transposes the mask 4x faster than numpy's strided scan of on.T).
    flat = np.flatnonzero(cv2.transpose(on.view(np.uint8)))
    if flat.size == 0:
        return gate
    rows, cols = flat % h, flat // h
    starts = np.r_[True, (np.diff(flat) != 1) | (rows[1:] == 0)]
    run = np.cumsum(starts) - 1
    held_px = inside[rows, cols]
    first = np.flatnonzero(starts)
    last = np.r_[first[1:] - 1, flat.size - 1]
    held = np.bincount(run, weights=held_px) > 0
    outside = np.bincount(run, weights=~held_px)
    grow = held & (~held_px[first] ^ ~held_px[last]) & (outside <= MAX_GROWTH * max(h, w))
    pick = grow[run] & ~held_px
    if not pick.any():
        return gate
    ys, xs = rows[pick], cols[pick]
    # The fringe reaches one pixel past the grown pixels: only their box, so widened, is
    # drawn and dilated (cv2.dilate's border adds nothing), not a page-sized mask.
    y0, y1 = max(0, int(ys.min()) - 1), min(h, int(ys.max()) + 2)
    x0, x1 = max(0, int(xs.min()) - 1), min(w, int(xs.max()) + 2)
    grown = np.zeros((y1 - y0, x1 - x0), np.uint8)
    grown[ys - y0, xs - x0] = 1
    out = gate.astype(np.uint8)  # a copy
    box = out[y0:y1, x0:x1]
    np.maximum(box, cv2.dilate(grown, np.ones((3, 3), np.uint8)), out=box)
    return out


def _restore_gated_lines(trace_r: np.ndarray, ink_r: np.ndarray, rows: list[TraceRow],
                         px_per_mm: float, grid_r: np.ndarray | None = None) -> np.ndarray:
    """The gated trace map with the thin stretches of lines the gate cut: (H, W) float.

    The network's gate is coarse and sometimes drops a stretch of a line (its start beside
    a lead label, or a flat low line it takes for a grid line) while keeping the rest.
    Ink (`ink_r` (H, W) float, ungated, > the lowest of INK_THRESHOLDS) of 8-connected
    pieces at least RESTORE_LINE_MM wide (lines, not labels) that the gate holds in part
    (`trace_r` (H, W) float > 0.5 somewhere in them) is put back with its faint fringe
    (one pixel around) where it is a line's: thin
    (its vertical or its horizontal run under RESTORE_RUN_MM; a stamp's or lettering's
    thick strokes that touch a kept stroke are both) and in pieces at least
    RESTORE_MIN_MM wide (not specks of a photo's texture), only in a row's own band
    (`rows`) where the gate holds no ink within a quarter of the band of its baseline (the
    line is missing there; elsewhere put-back ink is a label touching the line).
    px_per_mm: the page's scale. Ink the gate holds nowhere stays out.
    grid_r: the page's grid map (H, W) float (None: no grid). Its lines (> 0.5) cut a line
    that runs across them into pieces a pixel apart where they are as dark as the traces
    (a black grid's 1 mm lines: a faint flat stretch 1 mm long between each two, too
    narrow to be put back alone); pieces are joined across them (`_across_grid_lines`).
    Of a piece the gate holds only so, the grid lines' own pixels are not put back (a
    grid line's stretch in the ink map, joined to the line, led the path down into a
    stamp: scan page 18), nor the rest where it is taller than wide (a lead label's
    letter); one of a piece held as it is stays put back (a separator tick on a grid
    line, without which a photo's V2 went unread). Clean black-grid bench pages 0-7:
    16.02 -> 16.38 dB.
    """
    if ink_r is trace_r:
        return trace_r
    gated = trace_r > 0.5
    missing = _line_missing(gated, rows)
    cols = np.flatnonzero(missing.any(axis=0))
    if cols.size == 0:
        return trace_r
    # Only the columns around the missing stretches, with room for a line's kept part.
    reach = int(np.ceil(RESTORE_LINE_MM * px_per_mm))
    x0, x1 = max(0, int(cols[0]) - reach), min(trace_r.shape[1], int(cols[-1]) + reach + 1)
    on = (ink_r[:, x0:x1] > min(INK_THRESHOLDS)).astype(np.uint8)
    gated = gated[:, x0:x1]
    on_grid = None if grid_r is None else grid_r[:, x0:x1] > 0.5
    n, labels = cv2.connectedComponentsWithAlgorithm(on, 8, cv2.CV_32S, cv2.CCL_SPAGHETTI)
    held = np.bincount(labels[gated], minlength=n) > 0
    held[0] = False
    if on_grid is not None:
        alone, held_alone = labels, held  # pieces the gate holds as they are
        # Off the grid lines, a piece that only a join across them holds is a stretch of
        # a line where it is no taller than wide; a lead label's letter beside the line is
        # taller (clean light-on-dark page 0: aVR 27.9 -> 19.9 dB, reading an 'R').
        _, apart, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
            on & ~on_grid, 8, cv2.CV_32S, cv2.CCL_SPAGHETTI)
        flat = stats[:, cv2.CC_STAT_HEIGHT] <= stats[:, cv2.CC_STAT_WIDTH]
        # Pieces a grid line cut off count with the line they were cut from.
        n, labels = cv2.connectedComponentsWithAlgorithm(
            _across_grid_lines(on, on_grid), 8, cv2.CV_32S, cv2.CCL_SPAGHETTI)
        held = np.bincount(labels[gated], minlength=n) > 0
        held[0] = False
    # The pixels to put back, as flat indices into the strip: ungated ink where the line
    # is missing (few), then those of held pieces, not thick, of wide pieces. (Looking
    # labels up over the whole strip cost more than all the rest.)
    at = np.flatnonzero(missing[:, x0:x1] & ~gated & (on > 0))
    at = at[held[labels.ravel()[at]]]
    if at.size == 0:
        return trace_r
    run = max(3, round(RESTORE_RUN_MM * px_per_mm)) + 1
    thick = ((cv2.morphologyEx(on, cv2.MORPH_OPEN, np.ones((run, 1), np.uint8)) > 0)
             & (cv2.morphologyEx(on, cv2.MORPH_OPEN, np.ones((1, run), np.uint8)) > 0))
    at = at[~thick.ravel()[at]]
    if on_grid is not None:
        # Of pieces held only across a grid line, the grid line's own pixels stay out,
        # and so do pieces taller than wide.
        at = at[held_alone[alone.ravel()[at]]
                | (~on_grid.ravel()[at] & flat[apart.ravel()[at]])]
    if at.size == 0:
        return trace_r
    lab = labels.ravel()[at]
    at = at[_wide_labels(labels, np.unique(lab), RESTORE_LINE_MM * px_per_mm)[lab]]
    if at.size == 0:
        return trace_r
    back = np.zeros_like(on, dtype=bool)
    back.ravel()[at] = True
    ys = np.flatnonzero(back.any(axis=1))
    y0, y1 = max(0, int(ys[0]) - 1), min(back.shape[0], int(ys[-1]) + 2)
    _, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
        _across_grid_lines(back[y0:y1].astype(np.uint8),
                           None if on_grid is None else on_grid[y0:y1]),
        8, cv2.CV_32S, cv2.CCL_SPAGHETTI)
    wide = stats[:, cv2.CC_STAT_WIDTH] >= RESTORE_MIN_MM * px_per_mm - 1
    wide[0] = False  # the background
    grown = cv2.dilate(wide[labels].astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    out = trace_r.copy()
    part = out[y0:y1, x0:x1]
    part[grown] = np.maximum(part[grown], ink_r[y0:y1, x0:x1][grown])
    return out


def _across_grid_lines(ink: np.ndarray, on_grid: np.ndarray | None) -> np.ndarray:
    """(H, W) uint8 0/1 ink (`ink` (H, W) uint8 0/1) with the one-pixel breaks that grid
    lines cut in it filled: a pixel of a grid line (`on_grid` (H, W) bool; None: no
    grid) between ink on its left and right, or above and below."""
    if on_grid is None:
        return ink
    across: np.ndarray = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, np.ones((1, 3), np.uint8))
    along: np.ndarray = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, np.ones((3, 1), np.uint8))
    return ink | ((across | along) & on_grid)


def _wide_labels(labels: np.ndarray, which: np.ndarray, min_px: float, step: int = 4
                 ) -> np.ndarray:
    """(n,) bool over the labels of `labels` ((H, W) int, n = labels.max() + 1): those of
    `which` ((k,) int) that span at least min_px columns, counted on every step-th column
    (to step px; cheaper than exact widths of every piece on the page)."""
    n = int(labels.max()) + 1
    pick = np.zeros(n, dtype=bool)
    pick[which] = True
    sparse = labels[:, ::step]
    ys, xs = np.divmod(np.flatnonzero(pick[sparse]), sparse.shape[1])  # as np.nonzero
    lab = sparse[ys, xs]
    lo = np.full(n, sparse.shape[1])
    hi = np.full(n, -1)
    np.minimum.at(lo, lab, xs)
    np.maximum.at(hi, lab, xs)
    return pick & (step * (hi - lo) + 1 >= min_px - step)


def _line_missing(gated: np.ndarray, rows: list[TraceRow]) -> np.ndarray:
    """(H, W) bool: the own bands of rows (`rows`) over the columns where `gated` ((H, W)
    bool) holds no ink within a quarter of the band's height of the row's baseline."""
    out = np.zeros(gated.shape, dtype=bool)
    for r in rows:
        top, bottom = r.own_band
        q = max(1, (bottom - top) // 4)
        y = round(r.y_px)
        near: np.ndarray = np.asarray(
            gated[max(0, y - q):y + q + 1, r.x0_px:r.x1_px + 1].any(axis=0), dtype=bool)
        out[top:bottom, r.x0_px:r.x1_px + 1] |= ~near[None, :]
    return out


def _line_mask(trace_r: np.ndarray, rows: list[TraceRow],
               line_r: np.ndarray | None = None) -> np.ndarray:
    """(H, W) bool trace pixels to read the rows' lines from: the trace map above the
    highest of the row finder's INK_THRESHOLDS at which the rows' lines are inked along
    nearly their whole length within their own bands (thin faint lines fall apart at 0.5;
    a wider reading band would also count the neighbours' ink), 1-2 px vertical breaks
    closed (removed grid lines, faint antialiasing). trace_r: (H, W) float trace map of
    the rectified page; line_r: the same with the ink the gate cut put back
    (`_restore_gated_lines`), thresholded at the level trace_r chose (None: trace_r)."""
    best: tuple[float, float, np.ndarray] | None = None
    for threshold in INK_THRESHOLDS:
        mask = _closed(trace_r > threshold)
        inked = [float(mask[r.own_band[0]:r.own_band[1], r.x0_px:r.x1_px + 1].any(axis=0)
                       .mean()) for r in rows if r.x1_px > r.x0_px]
        share = float(np.median(inked)) if inked else 0.0
        if share >= MIN_INKED_SHARE:
            best = (share, threshold, mask)
            break
        if best is None or share > best[0] + 0.05:
            best = (share, threshold, mask)
    assert best is not None  # INK_THRESHOLDS is not empty
    if line_r is None or line_r is trace_r:
        return best[2]  # nothing was put back: the mask chosen is the lines'
    return _closed(line_r > best[1])


#: Tallest piece of a photo's line mask (px) that may be a grid line's (`_drop_grid_pieces`).
GRID_PIECE_MAX_PX = 2


def _drop_grid_pieces(mask: np.ndarray, trace_r: np.ndarray, grid_r: np.ndarray
                      ) -> np.ndarray:
    """A photo's line mask (H, W) bool without the pieces (8-connected) at most
    GRID_PIECE_MAX_PX tall whose mean grid probability (grid_r, (H, W)) exceeds their
    mean trace probability (trace_r): under shade and glare a grid line is as grey as a
    faint trace, and where the line broke the path followed the grid line's dashes in
    flat plateaus 1.5-3 mm off (photo bench page 7). Taken piece by piece, not pixel by
    pixel: the line's own pixels where grid lines cross it are grid-like too, and dropping
    them broke the line (photo pages 0-31: -1.4 dB by pixel, +0.1 by piece; scans, where it
    was tried too, lost 0.14 dB over 16 pages, so it is for photos only)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8),
                                                           connectivity=8)
    if n <= 1:
        return mask
    flat = labels.ravel()
    count = np.maximum(np.bincount(flat, minlength=n), 1).astype(np.float64)
    trace = np.bincount(flat, weights=trace_r.ravel().astype(np.float64), minlength=n) / count
    grid = np.bincount(flat, weights=grid_r.ravel().astype(np.float64), minlength=n) / count
    drop = (stats[:, cv2.CC_STAT_HEIGHT] <= GRID_PIECE_MAX_PX) & (grid > trace)
    drop[0] = False
    return mask & ~drop[labels] if drop.any() else mask


def _closed(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool mask with 1-2 px vertical breaks closed."""
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE,
                            np.ones((3, 1), np.uint8)).astype(bool)


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


def _page_px_per_mm(page: _Page) -> float:
    """A read page's scale, px/mm: its grid's, else the guess it was read at."""
    return page.grid.px_per_mm if page.grid is not None else page.ppm_guess


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


def _row_grid_scales(page: _Page, scales: Scales) -> list[Scales]:
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


def _row_extents(page: _Page, px_per_s: float | None = None
                 ) -> tuple[list[float], list[float]]:
    """Where each row's signal starts and ends (px), calibration pulses left out, inside
    the plot's frame where it has one (`pipeline.frame`). px_per_s: the page's time scale
    (None: unknown), which tightens the rows' agreement on slow pages (ROW_AGREEMENT_S)."""
    starts, ends = [], []
    ppm = _page_px_per_mm(page)
    for tr, ps, pe, row in zip(page.traces, page.start_pulses, page.end_pulses, page.rows):
        finite = _line_samples(tr, ppm)
        x0 = float(tr.x_px[finite[0]]) if finite.size else float(tr.x_px[0])
        x1 = float(tr.x_px[finite[-1]]) if finite.size else float(tr.x_px[-1])
        if ps is not None:
            after = tr.x_px[finite][tr.x_px[finite] > ps.x1_px + tr.line_width_px]
            x0 = float(ps.x1_px + tr.line_width_px) if after.size == 0 else float(after[0])
            x0 = max(x0, float(ps.x1_px) + tr.line_width_px)
            col = _after_break(page.mask, row, x0, 4.0 * ppm, +1, ppm, ps.x1_px)
            if col is not None:
                x0 = _line_cap(tr, col, +1)
            x0 = _faint_start(page, tr, row, finite, x0, float(ps.x1_px) + tr.line_width_px)
        if pe is not None:
            x1 = min(x1, float(pe.x0_px) - tr.line_width_px)
            col = _after_break(page.mask, row, x1, 4.0 * ppm, -1, ppm, pe.x0_px)
            if col is not None:
                x1 = _line_cap(tr, col, -1)
        starts.append(x0)
        ends.append(x1)
    if page.rows:
        top, bottom = min(r.top_px for r in page.rows), max(r.bottom_px for r in page.rows)
        frame = find_frame(page.mask, top, bottom, ppm)
        if frame.left_px is None:
            frame = Frame(tick_frame(page.mask, top, bottom, ppm, starts).left_px, frame.right_px)
        starts, ends = hold_inside(starts, ends, frame, ppm)
    # Rows of one page start and end together; an outlier (a label or an unrecognised
    # pulse read as trace, a line that begins with a break) takes the value most rows
    # agree on. When a pulse was found on some rows only (faint strokes, a pulse touching
    # a label), those rows know where the signal starts: the others take their value
    # (their own reading begins on the missed pulse's tail: 0.7 mm early on 12x1 renders).
    # (Moving every row onto the agreed value scored worse on renders: rows within
    # tolerance are read better alone.)
    # With no majority (every row ends elsewhere: faded or broken last stretches on a
    # photo), the widest reading wins, as for starts: a line loses its ends far more often
    # than it gains ink past them (the earliest end cut 2 s off every row of a page).
    tol = 1.5 * ppm
    if px_per_s is not None:
        tol = min(tol, ROW_AGREEMENT_S * px_per_s)
    for values, pulses, sign in ((starts, page.start_pulses, 1.0),
                                 (ends, page.end_pulses, -1.0)):
        known = [v for v, p in zip(values, pulses) if p is not None]
        agreed = sign * consensus([sign * v for v in (known if known else values)], tol)
        for i, (v, p) in enumerate(zip(values, pulses, strict=True)):
            if abs(v - agreed) > tol or (known and p is None):
                values[i] = agreed
    return starts, ends


#: Least distance, mm, of a row's ends from the picture's edge for it to be drawn whole: a
#: row a crop cuts runs to the edge (bench scans cropped into their rows: 9.67 and 9.76 s).
WHOLE_ROW_EDGE_MM = 2.0


def _whole_row_lengths(page: _Page, starts: Sequence[float], ends: Sequence[float],
                       work_shape: tuple[int, int]) -> list[float]:
    """Lengths, px, of the rows (extents `starts`, `ends`, px on the rectified page) whose
    both ends lie WHOLE_ROW_EDGE_MM or more inside the working picture (`work_shape`
    (H, W), the picture `page.rect` maps onto the page): those no crop cut."""
    ppm = _page_px_per_mm(page)
    h, w = work_shape
    margin = WHOLE_ROW_EDGE_MM * ppm
    ends_px = np.array([[(x0, r.y_px), (x1, r.y_px)]
                        for x0, x1, r in zip(starts, ends, page.rows, strict=True)],
                       np.float64).reshape(-1, 1, 2)
    if ends_px.size == 0:
        return []
    back = cv2.perspectiveTransform(ends_px, np.linalg.inv(page.rect.matrix)).reshape(-1, 2, 2)
    inside: np.ndarray = ((back[..., 0] >= margin) & (back[..., 0] <= w - 1 - margin)
                          & (back[..., 1] >= margin) & (back[..., 1] <= h - 1 - margin))
    whole = np.asarray(inside.all(axis=1), dtype=bool)
    return [float(ends[i] - starts[i]) for i in range(len(starts)) if whole[i]]


def _after_break(mask: np.ndarray, row: TraceRow, x: float, reach_px: float,
                 direction: int, px_per_mm: float, pulse_edge_px: int) -> int | None:
    """The column where the signal begins (direction +1; ends: -1) next to a calibration
    pulse, None when the reading at x stands.

    A pulse is drawn with a flat run after (before) it, then often a break, then the
    signal. The pulse's own ink (8-connected, within the row's band, to its stroke at
    column `pulse_edge_px`) is set aside when it ends within reach: x on it moves to the
    first inked column past it with ink in half of the next 2 mm (a thin line loses a few
    columns where a grid line crosses it) (its sub-pixel start: `_line_cap`), unless that
    ink goes on at the height where the pulse's ended, past a break of under MIN_BREAK_PX
    columns (a dotted line running on from the pulse). The break between tail and signal
    may be a pen's lift with no ink-free column, seen only as the height changing. Ink at
    x that is not the pulse's is the signal itself, whatever gaps follow (a grid line
    crossing a thin line breaks it: taken for the tail's break, that read a row 1 mm
    late). Where the pulse's ink runs on into the signal, a break is a stretch of
    MIN_BREAK_PX ink-free columns within reach_px of x: one-column dropouts (a thin
    antialiased line) are not breaks; a printed gap is one at any resolution (a gap
    counted as 0.3 mm, 4 px at 300 dpi, missed 0.3-0.5 mm gaps there and read the pulse's
    flat tail as signal).
    mask: (H, W) bool; x, reach_px: px; pulse_edge_px: the pulse's stroke next to the
    signal (its flat top's last column for a start pulse, first for an end pulse).
    """
    w = mask.shape[1]
    a = int(np.clip(round(x), 0, w - 1))
    b = int(np.clip(round(x + direction * (reach_px + 2.0 * px_per_mm)), 0, w - 1))
    edge = int(np.clip(pulse_edge_px, 0, w - 1))
    lo, hi = min(a, b, edge), max(a, b, edge)
    top, bottom = row.own_band
    band = np.ascontiguousarray(mask[top:bottom, lo:hi + 1])
    if direction < 0:
        band = band[:, ::-1]
    origin = hi if direction < 0 else lo  # the band's column 0, read away from the pulse
    start, far = abs(a - origin), abs(b - origin)
    min_run = max(2, round(px_per_mm))
    own = _pulse_ink(band, abs(edge - origin), far - min_run, px_per_mm)
    if own is not None:
        other = band & ~own
        inked: np.ndarray = np.asarray(other.any(axis=0), dtype=bool)[start:]
        if inked[0]:
            return None
        for g1 in np.flatnonzero(np.diff(inked.astype(np.int8)) == 1) + 1:
            if g1 > reach_px + 1:
                break
            if g1 + 2 * min_run <= inked.size and inked[g1:g1 + 2 * min_run].mean() >= 0.5:
                if _same_line(own, other, start + int(g1)):
                    return None
                return a + direction * int(g1)
        return None
    inked = np.asarray(band.any(axis=0), dtype=bool)[start:]
    edges = np.diff(np.r_[1, inked.astype(np.int8), 1])
    gaps = zip(np.flatnonzero(edges == -1), np.flatnonzero(edges == 1), strict=True)
    for g0, g1 in gaps:  # ink-free columns [g0, g1)
        if g0 > reach_px:
            break
        if (g1 - g0 >= MIN_BREAK_PX and g1 + min_run <= inked.size
                and inked[g1:g1 + min_run].all()):
            return a + direction * int(g1)
    return None


def _same_line(own: np.ndarray, other: np.ndarray, col: int) -> bool:
    """Whether the ink of `other` ((h, n) bool) beginning at column `col` goes on the line
    that `own` ((h, n) bool, the pulse's ink, read away from the pulse) ends on: fewer
    than MIN_BREAK_PX ink-free columns between them and within 2 px of its height."""
    own_cols = np.flatnonzero(own.any(axis=0))
    last = int(own_cols[-1])
    if col - last - 1 >= MIN_BREAK_PX:
        return False
    return _rows_meet(np.flatnonzero(own[:, last]), np.flatnonzero(other[:, col]))


def _rows_meet(ends: np.ndarray, begins: np.ndarray, tolerance_px: float = 2.0) -> bool:
    """Whether ink rows `begins` ((m,) int) continue ink rows `ends` ((n,) int): some pair
    within tolerance_px of each other."""
    return bool(np.abs(ends[:, None] - begins[None, :]).min() <= tolerance_px)


def _pulse_ink(band: np.ndarray, edge: int, limit: int, px_per_mm: float
               ) -> np.ndarray | None:
    """A calibration pulse's own ink in a row's band, (h, n) bool, the band read away from
    the pulse (column 0 nearest it): the 8-connected pieces holding ink within a column of
    its stroke at column `edge`, and the pieces of its flat tail past breaks (a scan's
    noise breaks a thin tail: flat pieces, at most 4 px high, starting within 1 mm of where
    the pulse's ink ends and within 2 px of its height there). None when none of it is
    there, or when it reaches column `limit` (it runs into the signal and cannot be told
    apart).
    """
    _, labels, stats, _ = cv2.connectedComponentsWithStats(band.astype(np.uint8),
                                                           connectivity=8)
    ids = np.unique(labels[:, max(0, edge - 1):edge + 2])
    ids = ids[ids > 0]
    if ids.size == 0:
        return None
    own = np.isin(labels, ids)
    left = stats[:, cv2.CC_STAT_LEFT]
    flat = stats[:, cv2.CC_STAT_HEIGHT] <= 4
    reach = max(3, round(px_per_mm))
    for _ in range(8):
        last = int(np.flatnonzero(own.any(axis=0))[-1])
        ends = np.flatnonzero(own[:, last])
        near = np.flatnonzero(flat & (left > last) & (left <= last + reach))
        tail = [k for k in near if k not in ids
                and _rows_meet(ends, np.flatnonzero(labels[:, left[k]] == k))]
        if not tail:
            break
        k = min(tail, key=lambda k: left[k])
        ids = np.r_[ids, k]
        own |= labels == k
    if own[:, max(0, limit):].any():
        return None
    return own


def _line_cap(tr: RowTrace, col: int, direction: int) -> float:
    """Where a line whose first inked mask column (direction +1; last: -1) is `col` begins,
    px: a column is in the mask once the pen's cap inks about half of it, so the ink begins
    in (col - 1, col] (col - 0.5 on average), and the cap reaches half the pen width
    beyond the line's first sample (mirrored for an end). Counting the whole column as the
    line's start read lines 0.4-0.9 px (up to 1.6 samples at 300 dpi) early. tr: the
    row's line (its pen width, px)."""
    return float(col) + direction * (0.5 * tr.line_width_px - 0.5)


def _faint_start(page: _Page, tr: RowTrace, row: TraceRow, finite: np.ndarray, x0: float,
                 pulse_end_px: float) -> float:
    """Where a row's signal starts (px), its line followed back in the faint ink
    (`_Page.faint`) from the reading's start x0 towards the calibration pulse ending at
    pulse_end_px: a low flat first stretch of a faint line can fall below the mask's
    threshold, and its reading then began 3.4-4.6 mm late (a scan's black-grid page: every
    lead 136-184 ms late). Moves x0 back only by FAINT_START_MM or more over a line inked
    in FAINT_COVER of its columns (not along a dotted grid line: a real picture's row began
    1.1 mm early so), and only where the faint ink stops short of the pulse (ink running
    on into the pulse is its tail). tr: the row's line; finite: the indices of its samples
    read (`_line_samples`)."""
    if page.faint is None or finite.size == 0:
        return x0
    first = int(np.searchsorted(tr.x_px[finite], x0))
    if first >= finite.size:
        return x0
    found = _faint_line_back(page.faint, row.own_band, x0, float(tr.y_px[finite[first]]),
                             pulse_end_px)
    if found is None:
        return x0
    reached, inked = found
    span = x0 - reached
    if span < FAINT_START_MM * _page_px_per_mm(page) or inked < FAINT_COVER * span:
        return x0
    return _line_cap(tr, reached, +1)


def _faint_line_back(faint: np.ndarray, band: tuple[int, int], x: float, y: float,
                     limit: float) -> tuple[int, int] | None:
    """The leftmost column (px) of a line followed left from (x, y) px through `faint`
    ((H, W) bool) within band (top, bottom) px, and how many columns on the way held its
    ink: each column's ink within 2 px of the last height found, at most FAINT_RUN_PX
    tall, up to FAINT_GAP_PX columns without. None when no column holds it, or when it
    reaches column `limit` (px) without such a gap."""
    top, bottom = band
    c, yy = round(x) - 1, round(y)
    stop = int(np.ceil(limit))
    last, misses, inked = None, 0, 0
    while c >= stop:
        lo, hi = max(top, yy - 2), min(bottom, yy + 3)
        hits = lo + np.flatnonzero(faint[lo:hi, c])
        near = int(hits[np.argmin(np.abs(hits - yy))]) if hits.size else -1
        if hits.size and _vertical_run(faint[top:bottom, c], near - top) <= FAINT_RUN_PX:
            yy = near
            last, misses, inked = c, 0, inked + 1
        else:
            misses += 1
            if misses > FAINT_GAP_PX:
                return None if last is None else (last, inked)
        c -= 1
    return None


def _vertical_run(column: np.ndarray, y: int) -> int:
    """Length (px) of the run of True in `column` ((H,) bool) holding index y."""
    a = y
    while a > 0 and column[a - 1]:
        a -= 1
    b = y
    while b + 1 < column.size and column[b + 1]:
        b += 1
    return b - a + 1


def _close_panel_gaps(page: _Page, starts: list[float], ends: list[float], px_per_mm: float
                      ) -> tuple[list[RowTrace], PanelGaps | None]:
    """The rows' traces with the gaps between panels taken out (`pipeline.panels`), and
    the gaps (None, and the traces as read, when the page shows none). Updates `starts`
    and `ends` in place (`PanelGaps.row_edges`): a row with gaps ends earlier by their
    width; with two gaps or more it starts and ends an inner panel's width before the
    first gap and after the last where its own reading lies over 0.5 mm from there
    (`PanelGaps.first_start`, `closed_end`: ecg_plot's 3x4 of whole records, whose lines'
    flat first or last 0.1 s were taken for grid lines, read its columns up to 110 ms off
    their time); with one gap the narrower of its two panels is widened to the other
    (`PanelGaps.outer_edges`: ecg_plot's 6x2 of whole records read its faint flat first
    stretch as paper, 20 ms late). Any other row ends where its own line does (the rows'
    agreed end was the panels' longer one). Rows ending in a calibration pulse keep their
    gaps (the pulse's place would need closing too)."""
    gaps = find_panel_gaps(page.mask, page.rows, starts, ends, px_per_mm)
    if gaps is None or any(page.end_pulses[i] is not None for i in gaps.rows) or any(
            starts[i] >= gaps.gaps[0][0] for i in gaps.rows):
        return page.traces, None
    traces = list(page.traces)
    for i, tr in enumerate(page.traces):
        if i in gaps.rows:
            traces[i] = close_trace(tr, gaps)
            starts[i], ends[i] = gaps.row_edges(starts[i], ends[i], px_per_mm)
        elif page.end_pulses[i] is None:
            own = _line_samples(tr, px_per_mm)
            if own.size:
                ends[i] = min(ends[i], float(tr.x_px[own[-1]]))
    return traces, gaps


def _line_samples(tr: RowTrace, px_per_mm: float) -> np.ndarray:
    """Indices of tr's finite samples, without stray pieces at either end: a stretch under
    1 mm long, apart from the rest by a break over 1 mm (a speck or a grid-line crossing
    read before the line starts or after it ends)."""
    finite = np.flatnonzero(np.isfinite(tr.y_px))
    if finite.size < 2:
        return finite
    x = tr.x_px[finite]
    breaks = np.flatnonzero(np.diff(x) > px_per_mm) + 1
    pieces = np.split(np.arange(finite.size), breaks)
    long_enough = [p for p in pieces if x[p[-1]] - x[p[0]] >= px_per_mm]
    if not long_enough:
        return finite
    return finite[long_enough[0][0]:long_enough[-1][-1] + 1]


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
