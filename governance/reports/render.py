"""Render reports from Django templates into archival PDF/A-3b (R.PDF, R.ASYNC).

One entry point, :func:`render_report`, takes the report body as a sequence of
HTML chunks (sections, row batches):

- one chunk: WeasyPrint renders it in one go, with the classification marking
  and "Page X of N" drawn by CSS ``@page`` margin boxes;
- several chunks: each chunk is laid out and written on its own (WeasyPrint
  holds a whole document in memory, so this bounds memory by the largest
  chunk), the chunk PDFs are merged with pikepdf, and once the total N is
  known a stamp document carrying only "Page X of N" (same ``@page`` box, same
  font) is rendered and overlaid page by page. The first chunk carries the
  document catalogue: XMP (pdfaid part 3, conformance B), sRGB OutputIntent,
  document info and the embedded data files with their AFRelationship.

Fonts come from local files only (DejaVu under ``settings.REPORT_FONT_DIR``,
default ``/usr/share/fonts/truetype/dejavu``) through ``@font-face``; the URL
fetcher refuses anything but ``data:`` URIs and files under allowed roots, so
a report never fetches from the network. Output is written to a temporary file
in the target directory and renamed into place, so a failed render never leaves
a half-written report behind.

WeasyPrint never runs in the calling process: Pango's font map is not
thread-safe, and two renders at once in one process (a threaded server, two
PDF requests) corrupt the heap or deadlock it. Every document (and every chunk,
unless ``workers > 1`` asks for a pool of its own) goes to one long-lived pool
of ``spawn``ed render processes per process (:class:`RenderPool`), started on
first use. A render process that dies is replaced (the document is tried once
more); one that takes longer than ``settings.REPORT_RENDER_TIMEOUT`` seconds
is killed and replaced, and the caller gets :class:`ReportRenderError`. Only a
daemonic process (a django-q2 worker), which may not start children, renders
in-process, one document at a time under a lock.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import multiprocessing
import os
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import mark_safe

from governance.classification import Sensitivity

from . import engine
from .data import DataFile

logger = logging.getLogger(__name__)

#: ``progress(done, total)``: one step per chunk plus one for assembling and
#: writing the file; ``total`` is None when the chunk count is unknown.
ProgressCallback = Callable[[int, int | None], None]

PDF_VARIANT = engine.PDF_VARIANT
DEFAULT_FONT_DIR = "/usr/share/fonts/truetype/dejavu"
#: (family, weight, style) -> file name under the font directory. The upright
#: faces are in Debian's fonts-dejavu-core and required; the obliques come
#: with fonts-dejavu-extra and are used when present (otherwise Pango slants
#: the upright face, still from the same embedded file).
FONT_FILES: Mapping[tuple[str, str, str], str] = {
    ("Report Sans", "normal", "normal"): "DejaVuSans.ttf",
    ("Report Sans", "bold", "normal"): "DejaVuSans-Bold.ttf",
    ("Report Sans", "normal", "italic"): "DejaVuSans-Oblique.ttf",
    ("Report Sans", "bold", "italic"): "DejaVuSans-BoldOblique.ttf",
    ("Report Mono", "normal", "normal"): "DejaVuSansMono.ttf",
    ("Report Mono", "bold", "normal"): "DejaVuSansMono-Bold.ttf",
}
OPTIONAL_FONT_STYLES = frozenset({"italic"})
#: Pages per stamp document ("Page X of N" overlays) and chunk PDFs merged per
#: round; both bound memory and open file handles for very long reports.
STAMP_BATCH = 250
MERGE_BATCH = 64
GENERATOR = "Performance Governance Portal"
#: Rows per chunk for long tables: measured on an 8-column history table, 250
#: rows kept a 10,000-row report near 180 MB peak at the same CPU time as 500
#: rows (about 215 MB); the per-chunk overhead is small next to layout.
DEFAULT_ROWS_PER_CHUNK = 250
#: Render processes shared by all threads of a process (``REPORT_RENDER_POOL``).
DEFAULT_POOL_PROCESSES = 2
#: Seconds one document or chunk may take in a render process, queueing
#: included, before it is given up (``REPORT_RENDER_TIMEOUT``).
DEFAULT_RENDER_TIMEOUT = 300.0


class ReportRenderError(Exception):
    """The report could not be rendered; no output file was left behind."""


@dataclass(frozen=True)
class ReportSpec:
    """What a report is: its type, descriptive metadata and classification.

    ``title``, ``author`` and ``subject`` become the PDF's document info and
    XMP ``dc:title`` / ``dc:creator`` / ``dc:description``.
    """

    report_type: str
    title: str
    author: str
    subject: str
    classification: int = Sensitivity.CONFIDENTIAL
    keywords: tuple[str, ...] = ()
    lang: str = "en"
    issued_at: datetime.datetime | None = None

    @property
    def marking(self) -> str:
        """The classification marking printed on every page, e.g. CONFIDENTIAL."""
        return Sensitivity(self.classification).label.upper()


@dataclass(frozen=True)
class RenderedReport:
    path: Path
    sha256: str
    pages: int
    size: int
    chunk_pages: tuple[int, ...]
    #: Seconds per phase: "layout" (chunks), "stamps", "merge", "install".
    timings: Mapping[str, float] = field(default_factory=dict)

    @property
    def chunks(self) -> int:
        return len(self.chunk_pages)


# --- fonts, stylesheet, URL fetching -------------------------------------------


def font_dir() -> Path:
    return Path(getattr(settings, "REPORT_FONT_DIR", DEFAULT_FONT_DIR))


def font_faces() -> list[dict[str, str]]:
    """The ``@font-face`` rules: local font files only, checked to exist."""
    directory = font_dir()
    faces = []
    for (family, weight, style), filename in FONT_FILES.items():
        path = directory / filename
        if not path.is_file() and style in OPTIONAL_FONT_STYLES:
            continue
        if not path.is_file():
            raise ImproperlyConfigured(
                f"Report font {path} is missing: install fonts-dejavu-core or set REPORT_FONT_DIR."
            )
        faces.append(
            {"family": family, "weight": weight, "style": style, "url": path.as_uri()}
        )
    return faces


def css_string(value: str) -> str:
    """A CSS string literal (quoted, escaped) for ``content:`` values."""
    escaped = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\A ")
        .replace("\r", "")
    )
    return f'"{escaped}"'


def _allowed_roots(extra: Sequence[Path | str]) -> tuple[Path, ...]:
    roots = [font_dir(), Path(settings.BASE_DIR) / "templates"]
    static_root = getattr(settings, "STATIC_ROOT", None)
    if static_root:
        roots.append(Path(static_root))
    roots.extend(Path(p) for p in extra)
    return tuple(r.resolve() for r in roots)


def _stylesheet(spec: ReportSpec, mode: str, total: int | None = None) -> str:
    """``mode``: "single" (native Page X of N), "chunk" (no page number) or
    "stamp" (only "Page X of {total}")."""
    return render_to_string(
        "reports/report.css",
        {
            "mode": mode,
            "total": total,
            "faces": font_faces(),
            "marking": mark_safe(css_string(spec.marking)),  # noqa: S308 - escaped CSS string
            "title": mark_safe(css_string(spec.title)),  # noqa: S308 - escaped CSS string
        },
    )


def _document(spec: ReportSpec, body: str, issued_at: datetime.datetime) -> str:
    return render_to_string(
        "reports/document.html",
        {
            "spec": spec,
            "keywords": ", ".join(spec.keywords),
            "generator": GENERATOR,
            "created": issued_at.isoformat(timespec="seconds"),
            "body": mark_safe(body),  # noqa: S308 - chunks are HTML rendered by our templates
        },
    )


# --- public API ------------------------------------------------------------------


def render_report(
    spec: ReportSpec,
    chunks: Iterable[str],
    *,
    data: Sequence[DataFile],
    out: Path | str,
    progress: ProgressCallback | None = None,
    total_chunks: int | None = None,
    workers: int | None = None,
    base_url: str | None = None,
    resource_dirs: Sequence[Path | str] = (),
    workdir: Path | str | None = None,
) -> RenderedReport:
    """Render ``chunks`` (HTML body fragments, in order) into ``out``.

    ``data`` must hold at least one JSON file: the data behind the report.
    ``chunks`` may be a generator, so a caller can build row batches lazily;
    pass ``total_chunks`` for meaningful progress in that case. ``workers``
    (default ``settings.REPORT_RENDER_WORKERS`` or 1) > 1 lays chunks out in
    that many worker processes; each holds one chunk at a time.
    Returns the path, SHA-256, page count and per-chunk page counts. Raises
    :class:`ReportRenderError` (and leaves nothing at ``out``) on failure.
    """
    if not any(item.is_json for item in data):
        raise ValueError(
            "a report must embed the data behind it as JSON (governance.reports.data.json_data)"
        )
    names = [item.name for item in data]
    if len(set(names)) != len(names):
        raise ValueError(f"attachment names must be unique: {names}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if total_chunks is None and isinstance(chunks, Sequence):
        total_chunks = len(chunks)
    steps = None if total_chunks is None else total_chunks + 1
    workers = _worker_count(workers, total_chunks)
    job = _Job(
        spec=spec,
        issued_at=spec.issued_at or timezone.now(),
        base_url=base_url or (Path(settings.BASE_DIR) / "templates").as_uri() + "/",
        roots=tuple(str(r) for r in _allowed_roots(resource_dirs)),
        # Sorted by name: WeasyPrint writes /EmbeddedFiles in the given order,
        # and a PDF name tree's keys must be sorted (qpdf --check warns).
        attachments=tuple(
            engine.Attachment(
                item.name, item.content, item.description, item.relationship
            )
            for item in sorted(data, key=lambda item: item.name.encode())
        ),
    )

    iterator: Iterator[str] = iter(chunks)
    head = list(islice(iterator, 2))
    if not head:
        raise ValueError("a report needs at least one chunk of HTML")

    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="report-", dir=workdir) as tmp:
        tmpdir = Path(tmp)
        try:
            started = time.perf_counter()
            if len(head) == 1:
                single = tmpdir / "single.pdf"
                pages = _write_single(
                    job.config("single"),
                    job.document(head[0]),
                    single,
                    job.attachments,
                )
                if progress:
                    progress(1, steps)
                chunk_pages: tuple[int, ...] = (pages,)
                final = single
                timings["layout"] = time.perf_counter() - started
            else:
                final, chunk_pages = _render_chunked(
                    job,
                    _chain(head, iterator),
                    tmpdir=tmpdir,
                    workers=workers,
                    progress=progress,
                    steps=steps,
                    timings=timings,
                )
            started = time.perf_counter()
            digest, size = _install(final, out)
            timings["install"] = time.perf_counter() - started
        except ImproperlyConfigured:
            raise
        except Exception as exc:
            # engine.RenderFailed carries WeasyPrint's errors, FatalURLFetchingError included.
            raise ReportRenderError(
                f"rendering {spec.report_type!r} failed: {exc}"
            ) from exc
    if progress:
        done = len(chunk_pages) + 1
        progress(done, done)
    return RenderedReport(
        path=out,
        sha256=digest,
        pages=sum(chunk_pages),
        size=size,
        chunk_pages=chunk_pages,
        timings=timings,
    )


@dataclass(frozen=True)
class _Job:
    spec: ReportSpec
    issued_at: datetime.datetime
    base_url: str
    roots: tuple[str, ...]
    attachments: tuple[engine.Attachment, ...]

    def config(self, mode: str, total: int | None = None) -> engine.EngineConfig:
        return engine.EngineConfig(
            css=_stylesheet(self.spec, mode, total),
            base_url=self.base_url,
            roots=self.roots,
        )

    def document(self, body: str) -> str:
        return _document(self.spec, body, self.issued_at)


def _worker_count(requested: int | None, total_chunks: int | None) -> int:
    workers = (
        requested
        if requested is not None
        else int(getattr(settings, "REPORT_RENDER_WORKERS", 1))
    )
    workers = max(1, min(workers, os.cpu_count() or 1))
    if total_chunks is not None:
        workers = min(workers, max(1, total_chunks))
    if workers > 1 and multiprocessing.current_process().daemon:
        # e.g. inside a django-q2 worker: daemonic processes may not have children.
        logger.info(
            "report rendering in-process: a daemonic process cannot start render workers"
        )
        return 1
    return workers


# --- where WeasyPrint runs ----------------------------------------------------------


def _in_process() -> bool:
    """A daemonic process (a django-q2 worker) may not start children: it lays
    documents out itself, one at a time (:data:`_IN_PROCESS_LOCK`)."""
    return bool(multiprocessing.current_process().daemon)


#: Held for every in-process render, so even a threaded daemonic process never
#: runs two WeasyPrint layouts at once.
_IN_PROCESS_LOCK = threading.Lock()


def _render_timeout() -> float:
    return float(getattr(settings, "REPORT_RENDER_TIMEOUT", DEFAULT_RENDER_TIMEOUT))


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    """Kill a pool's processes (a hung layout cannot be cancelled otherwise)."""
    kill = getattr(pool, "kill_workers", None)  # Python 3.14
    if kill is not None:
        kill()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        if process.is_alive():
            process.kill()


def _wait(owner: Any, future: Future[Any], timeout: float) -> Any:
    """``future``'s result; past ``timeout`` the owner gives it up (and raises)."""
    try:
        return future.result(timeout=timeout)
    except TimeoutError:
        owner.give_up(future, timeout)
        raise


class RenderPool:
    """One pool of ``spawn``ed render processes, shared by every thread.

    Started on first use (a process that never renders pays nothing) and kept
    for the life of the process, so a request waits for a render, not for a
    process start; started afresh in a forked child. A pool whose process died
    is replaced on the next call; :meth:`run` tries a document once more on a
    fresh pool (the death may have been another document's). Spawn, not fork:
    forking a threaded process copies locks held by other threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._pid = 0
        self._owners: weakref.WeakKeyDictionary[Future[Any], ProcessPoolExecutor] = (
            weakref.WeakKeyDictionary()
        )

    def _processes(self) -> int:
        wanted = int(getattr(settings, "REPORT_RENDER_POOL", DEFAULT_POOL_PROCESSES))
        return max(1, min(wanted, os.cpu_count() or 1))

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is not None and self._pid != os.getpid():
                self._pool = None  # inherited through fork: not ours to use
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=self._processes(),
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=engine.init_worker,
                )
                self._pid = os.getpid()
            return self._pool

    def _discard(self, pool: ProcessPoolExecutor, *, kill: bool = False) -> None:
        """Stop using ``pool`` (killing its processes if asked); the next call starts another."""
        with self._lock:
            if self._pool is pool:
                self._pool = None
        if kill:
            _kill_workers(pool)
        pool.shutdown(wait=False, cancel_futures=True)

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        for attempt in (1, 2):
            pool = self._executor()
            try:
                future = pool.submit(fn, *args)
            except (BrokenProcessPool, RuntimeError):  # broken, or shut down
                self._discard(pool)
                if attempt == 2:
                    raise
                continue
            with self._lock:
                self._owners[future] = pool
            return future
        raise AssertionError("unreachable")  # pragma: no cover

    def result(self, future: Future[Any], timeout: float) -> Any:
        """Wait for ``future``; past ``timeout`` its process is killed and replaced."""
        return _wait(self, future, timeout)

    def give_up(self, future: Future[Any], timeout: float) -> None:
        """``future`` took over ``timeout`` s: cancel it, or kill the processes
        of its pool (a running layout cannot be cancelled), and raise."""
        if future.cancel():  # never started: nothing to kill
            raise ReportRenderError(f"no render process was free within {timeout:g} s")
        with self._lock:
            pool = self._owners.get(future)
        if pool is not None:
            logger.error(
                "a report render took over %g s: render processes replaced", timeout
            )
            self._discard(pool, kill=True)
        raise ReportRenderError(f"the render took longer than {timeout:g} s")

    def run(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        """``fn(*args)`` in a render process, waited for."""
        timeout = _render_timeout()
        for attempt in (1, 2):
            future = self.submit(fn, *args)
            try:
                return self.result(future, timeout)
            except BrokenProcessPool as exc:
                if attempt == 2:
                    raise ReportRenderError(
                        "the render process died twice (see the server log)"
                    ) from exc
                logger.warning("a render process died; rendering once more")
        raise AssertionError("unreachable")  # pragma: no cover

    def shutdown(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


_POOL = RenderPool()


def _write_single(
    config: engine.EngineConfig,
    html: str,
    target: Path,
    attachments: Sequence[engine.Attachment] = (),
) -> int:
    """One whole document, with a fresh engine, in a render process."""
    args = (config, html, str(target), tuple(attachments), "")
    if _in_process():
        with _IN_PROCESS_LOCK, engine.tuned_gc():
            return engine.write_once(*args)
    return int(_POOL.run(engine.write_once, *args))


class _InlineExecutor:
    """The ProcessPoolExecutor interface, run in this process, one call at a time."""

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - re-raised by future.result()
            future.set_exception(exc)
        return future

    def result(self, future: Future[Any], timeout: float) -> Any:
        return future.result()

    def give_up(self, future: Future[Any], timeout: float) -> None:
        raise ReportRenderError(f"the render took longer than {timeout:g} s")

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        engine.release_engines()


class _SharedExecutor:
    """Chunks of one report on the shared render processes."""

    def __init__(self) -> None:
        self.futures: list[Future[Any]] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        future = _POOL.submit(fn, *args)
        self.futures.append(future)
        return future

    def result(self, future: Future[Any], timeout: float) -> Any:
        return _POOL.result(future, timeout)

    def give_up(self, future: Future[Any], timeout: float) -> None:
        _POOL.give_up(future, timeout)


class _OwnExecutor:
    """Chunks of one report on a pool of its own (``workers > 1``)."""

    def __init__(self, workers: int) -> None:
        self.pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=engine.init_worker,
        )

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        return self.pool.submit(fn, *args)

    def result(self, future: Future[Any], timeout: float) -> Any:
        return _wait(self, future, timeout)

    def give_up(self, future: Future[Any], timeout: float) -> None:
        # _executor kills this pool's processes on the way out.
        raise ReportRenderError(f"the render took longer than {timeout:g} s")


def _chain(head: list[str], rest: Iterator[str]) -> Iterator[str]:
    yield from head
    yield from rest


@contextmanager
def _executor(workers: int) -> Iterator[Any]:
    if workers > 1:
        own = _OwnExecutor(workers)
        try:
            yield own
        except BaseException:
            _kill_workers(own.pool)  # a hung or unwanted chunk must not hold us
            raise
        finally:
            own.pool.shutdown(wait=True, cancel_futures=True)
    elif _in_process():
        with _IN_PROCESS_LOCK, engine.tuned_gc():
            inline = _InlineExecutor()
            try:
                yield inline
            finally:
                inline.shutdown()
    else:
        shared = _SharedExecutor()
        try:
            yield shared
        except BaseException:
            # Drop this report's queued chunks; let running ones finish before
            # the caller removes the directory they write into.
            for future in shared.futures:
                future.cancel()
            wait(shared.futures, timeout=_render_timeout())
            raise


def _render_chunked(
    job: _Job,
    chunks: Iterator[str],
    *,
    tmpdir: Path,
    workers: int,
    progress: ProgressCallback | None,
    steps: int | None,
    timings: dict[str, float],
) -> tuple[Path, tuple[int, ...]]:
    started = time.perf_counter()
    chunk_config = job.config("chunk")
    timeout = _render_timeout()
    paths: list[Path] = []
    counts: dict[int, int] = {}
    with _executor(workers) as executor:
        pending: dict[Future[int], int] = {}

        def collect(block_until: int) -> None:
            while len(pending) > block_until:
                done, _ = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
                if not done:  # nothing finished in time: give up on the oldest
                    executor.give_up(min(pending, key=pending.__getitem__), timeout)
                for future in done:
                    counts[pending.pop(future)] = future.result()
                    if progress:
                        progress(len(counts), steps)

        for index, body in enumerate(chunks):
            path = tmpdir / f"chunk-{index:05d}.pdf"
            paths.append(path)
            # The first chunk carries the catalogue: XMP, OutputIntent, attachments.
            attachments = job.attachments if index == 0 else ()
            future = executor.submit(
                engine.write_in_worker,
                chunk_config,
                job.document(body),
                str(path),
                attachments,
                "",
            )
            pending[future] = index
            collect(block_until=2 * workers - 1)  # bound chunks held in memory
        collect(block_until=0)

        total = sum(counts.values())
        timings["layout"] = time.perf_counter() - started
        started = time.perf_counter()
        stamp_config = job.config("stamp", total)
        stamp_jobs = []
        for first in range(1, total + 1, STAMP_BATCH):
            count = min(STAMP_BATCH, total - first + 1)
            body = render_to_string("reports/stamp.html", {"pages": range(count)})
            path = tmpdir / f"stamp-{first:06d}.pdf"
            # A page rule that touches the page counter replaces the implicit
            # increment, so the first page of this batch shows exactly ``first``.
            extra = f"@page :first {{ counter-reset: page {first}; }}"
            future = executor.submit(
                engine.write_in_worker,
                stamp_config,
                job.document(body),
                str(path),
                (),
                extra,
            )
            stamp_jobs.append((path, count, future))
        stamps = []
        for path, count, future in stamp_jobs:
            if (pages := executor.result(future, timeout)) != count:
                raise ReportRenderError(
                    f"stamp document has {pages} pages, expected {count}"
                )
            stamps.append(path)

    timings["stamps"] = time.perf_counter() - started
    started = time.perf_counter()
    final = tmpdir / "final.pdf"
    _merge(paths, stamps, final, expected_pages=total, tmpdir=tmpdir)
    timings["merge"] = time.perf_counter() - started
    return final, tuple(counts[i] for i in range(len(paths)))


def _merge(
    chunks: list[Path],
    stamps: list[Path],
    target: Path,
    *,
    expected_pages: int,
    tmpdir: Path,
) -> None:
    """Append every chunk's pages to the first chunk, then overlay the stamps.

    pikepdf copies foreign objects lazily, so sources stay open until the
    merged file is saved; merging in rounds of MERGE_BATCH bounds open files.
    """
    import pikepdf

    current = chunks[0]
    rest = chunks[1:]
    round_no = 0
    while rest:
        batch, rest = rest[:MERGE_BATCH], rest[MERGE_BATCH:]
        merged = tmpdir / f"merged-{round_no}.pdf"
        with ExitStack() as stack:
            pdf = stack.enter_context(pikepdf.open(current))
            for path in batch:
                source = stack.enter_context(pikepdf.open(path))
                pdf.pages.extend(source.pages)
            pdf.save(merged)
        current = merged
        round_no += 1

    with ExitStack() as stack:
        pdf = stack.enter_context(pikepdf.open(current))
        if len(pdf.pages) != expected_pages:
            raise ReportRenderError(
                f"merged {len(pdf.pages)} pages, expected {expected_pages}"
            )
        index = 0
        for path in stamps:
            stamp = stack.enter_context(pikepdf.open(path))
            for stamp_page in stamp.pages:
                page = pdf.pages[index]
                if [float(v) for v in page.mediabox] != [
                    float(v) for v in stamp_page.mediabox
                ]:
                    raise ReportRenderError(
                        f"page {index + 1} is not the report's page size; chunked reports use one @page size"
                    )
                page.add_overlay(stamp_page, pikepdf.Rectangle(page.mediabox))
                index += 1
        if index != expected_pages:
            raise ReportRenderError(f"stamped {index} pages, expected {expected_pages}")
        _retag_font_subsets(pdf)
        pdf.save(
            target,
            compress_streams=True,
            object_stream_mode=pikepdf.ObjectStreamMode.generate,
        )


def _subset_tag(seed: str, taken: set[str]) -> str:
    counter = 0
    while True:
        digest = hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        tag = "".join(chr(65 + byte % 26) for byte in digest[:6])
        if tag not in taken:
            return tag
        counter += 1


def _retag_font_subsets(pdf: Any) -> None:
    """Give every embedded font subset its own tag.

    WeasyPrint derives the six-letter subset tag from the font description,
    so each chunk (and each stamp batch) embeds a *different* subset of
    DejaVu under the *same* name. ISO 32000-1 9.6.4 requires different
    subsets in one file to have different tags; rename all but the first.
    """
    import pikepdf

    taken: set[str] = set()
    for obj in pdf.objects:
        if (
            not isinstance(obj, pikepdf.Dictionary)
            or obj.get("/Type") != pikepdf.Name.Font
        ):
            continue
        if obj.get("/Subtype") != pikepdf.Name.Type0:
            continue
        name = str(obj.get("/BaseFont", ""))[1:]
        tag, plus, rest = name.partition("+")
        if not plus or len(tag) != 6:
            continue
        if tag not in taken:
            taken.add(tag)
            continue
        new = _subset_tag(f"{name}:{obj.objgen}", taken)
        taken.add(new)
        renamed = pikepdf.Name("/" + new + "+" + rest)
        obj.BaseFont = renamed
        for descendant in obj.get("/DescendantFonts", []):
            if str(descendant.get("/BaseFont", "")).startswith("/" + tag + "+"):
                descendant.BaseFont = pikepdf.Name(
                    "/" + new + str(descendant.BaseFont)[1 + len(tag) :]
                )
            descriptor = descendant.get("/FontDescriptor")
            if descriptor is not None and str(
                descriptor.get("/FontName", "")
            ).startswith("/" + tag + "+"):
                descriptor.FontName = pikepdf.Name(
                    "/" + new + str(descriptor.FontName)[1 + len(tag) :]
                )


def _install(source: Path, out: Path) -> tuple[str, int]:
    """Copy ``source`` next to ``out``, fsync, hash, and rename into place."""
    digest = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{out.name}.", suffix=".part", dir=out.parent
    )
    try:
        with os.fdopen(fd, "wb") as dst, source.open("rb") as src:
            while block := src.read(1 << 20):
                digest.update(block)
                dst.write(block)
                size += len(block)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(tmp_name, out)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return digest.hexdigest(), size


# --- helpers for report content -------------------------------------------------


def render_chunk(template_name: str, context: Mapping[str, Any]) -> str:
    """One chunk of report body from a template (a section, a row batch)."""
    return render_to_string(template_name, dict(context))


def table_chunks(
    rows: Iterable[Sequence[Any]],
    *,
    columns: Sequence[str],
    caption: str,
    rows_per_chunk: int = DEFAULT_ROWS_PER_CHUNK,
    template_name: str = "reports/table.html",
    extra: Mapping[str, Any] | None = None,
) -> Iterator[str]:
    """Row batches of one long table, each a chunk with the header repeated."""
    iterator = iter(rows)
    batch_no = 0
    while batch := list(islice(iterator, rows_per_chunk)):
        yield render_to_string(
            template_name,
            {
                **(extra or {}),
                "caption": caption,
                "columns": columns,
                "rows": batch,
                "continued": batch_no > 0,
            },
        )
        batch_no += 1
