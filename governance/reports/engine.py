"""The WeasyPrint side of report rendering, with no Django imports.

:class:`Engine` turns one complete HTML document into one PDF/A-3b file. It is
built from an :class:`EngineConfig` (stylesheet text, base URL, allowed
resource directories), which is plain picklable data, so the same engine can
run in a worker process of a pool (:func:`write_in_worker`,
:func:`write_once`). Django templates are rendered by the caller.

WeasyPrint lays text out through Pango, whose font map is not thread-safe:
two documents laid out at once in one process can corrupt the heap or
deadlock it. The web process (any threaded server) therefore never builds an
:class:`Engine`; :mod:`governance.reports.render` sends every document to
worker processes. Errors leave a worker as :class:`RenderFailed` (or a
built-in exception), so the caller never has to import WeasyPrint to read one.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

PDF_VARIANT = "pdf/a-3b"

#: Young-generation threshold while laying out: WeasyPrint allocates millions
#: of short-lived objects, and the default (700) runs the collector thousands
#: of times per chunk. Measured on a 500-row table chunk: about 25 % less CPU.
GC_THRESHOLD = (50_000, 20, 1000)

_T = TypeVar("_T")

#: True in a render worker (set by :func:`init_worker`).
_IN_WORKER = False
#: Engines built in this process outside a render worker (see engines_built_here).
_BUILT_HERE = 0


class RenderFailed(Exception):
    """A document could not be rendered. Carries the original error's message;
    picklable without WeasyPrint (the original is in the worker's traceback)."""


@dataclass(frozen=True)
class Attachment:
    """An embedded file as the engine needs it (picklable)."""

    name: str
    content: bytes
    description: str
    relationship: str


@dataclass(frozen=True)
class EngineConfig:
    css: str
    base_url: str
    roots: tuple[str, ...]


def make_fetcher(roots: Sequence[str]) -> Any:
    from weasyprint.urls import FatalURLFetchingError, URLFetcher

    resolved = tuple(Path(r).resolve() for r in roots)

    class LocalOnlyFetcher(URLFetcher):  # type: ignore[misc]
        """``data:`` URIs and files under the allowed roots; nothing else.

        Anything else stops the render (fail closed): an archival report must
        not depend on, or leak a request to, the network.
        """

        def fetch(self, url: str, headers: Any = None) -> Any:
            scheme = url.split(":", 1)[0].lower()
            if scheme == "file":
                path = Path(unquote(urlsplit(url).path)).resolve()
                if not any(path.is_relative_to(root) for root in resolved):
                    raise FatalURLFetchingError(
                        f"report resource outside allowed directories: {path}"
                    )
            elif scheme != "data":
                raise FatalURLFetchingError(
                    f"report resources must be local, refused: {url[:80]}"
                )
            return super().fetch(url, headers)

    return LocalOnlyFetcher(allowed_protocols=("file", "data"))


@contextmanager
def tuned_gc() -> Iterator[None]:
    """Freeze what exists (modules, settings: never garbage) so collections
    skip it, and collect the young generation less often; restore on exit."""
    old = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


class Engine:
    """One font configuration, stylesheet and fetcher shared by many documents."""

    def __init__(self, config: EngineConfig) -> None:
        from weasyprint import CSS
        from weasyprint.text.fonts import FontConfiguration

        global _BUILT_HERE
        if not _IN_WORKER:
            _BUILT_HERE += 1
        self.config = config
        self.fetcher = make_fetcher(config.roots)
        self.font_config = FontConfiguration()
        self.css = CSS(
            string=config.css,
            font_config=self.font_config,
            url_fetcher=self.fetcher,
            base_url=config.base_url,
        )

    def write(
        self,
        html: str,
        target: Path | str,
        attachments: Sequence[Attachment] = (),
        *,
        extra_css: str = "",
    ) -> int:
        """Lay out ``html``, write it to ``target`` as PDF/A-3b, return its page count."""
        from weasyprint import CSS, HTML
        from weasyprint import Attachment as WeasyAttachment

        stylesheets = [self.css]
        if extra_css:
            stylesheets.append(
                CSS(
                    string=extra_css,
                    font_config=self.font_config,
                    url_fetcher=self.fetcher,
                )
            )
        files = [
            WeasyAttachment(
                string=item.content,
                name=item.name,
                description=item.description,
                relationship=item.relationship,
                url_fetcher=self.fetcher,
            )
            for item in attachments
        ]
        document = HTML(
            string=html, base_url=self.config.base_url, url_fetcher=self.fetcher
        ).render(
            stylesheets=stylesheets,
            font_config=self.font_config,
            pdf_variant=PDF_VARIANT,
        )
        pages = len(document.pages)
        document.write_pdf(target, pdf_variant=PDF_VARIANT, attachments=files or None)
        del document
        gc.collect()  # layout trees are full of cycles: free them before the next document
        return pages


# --- worker processes ------------------------------------------------------------

_WORKER_ENGINES: dict[EngineConfig, Engine] = {}


def init_worker() -> None:
    """Pool initializer: the worker only ever renders, so tune its GC for good."""
    import weasyprint  # noqa: F401 - import once, before freezing

    global _IN_WORKER
    _IN_WORKER = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


def engines_built_here() -> int:
    """How many engines this process built outside a render worker (tests: 0 in
    the web process)."""
    return _BUILT_HERE


def _portable_errors(fn: Callable[..., _T]) -> Callable[..., _T]:
    """Re-raise WeasyPrint's (and other libraries') errors as :class:`RenderFailed`.

    A worker's exception is pickled to the caller, and unpickling a WeasyPrint
    exception would import WeasyPrint there. Built-in exceptions (OSError,
    MemoryError ...) pass unchanged; ``FatalURLFetchingError`` is a
    BaseException by WeasyPrint's design, hence BaseException here.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> _T:
        try:
            return fn(*args, **kwargs)
        except BaseException as exc:
            if type(exc).__module__ == "builtins" or isinstance(exc, RenderFailed):
                raise
            raise RenderFailed(str(exc) or type(exc).__name__) from exc

    return wrapper


@_portable_errors
def write_in_worker(
    config: EngineConfig,
    html: str,
    target: str,
    attachments: Sequence[Attachment],
    extra_css: str,
) -> int:
    """Entry point for a pool worker: one engine per config, reused across chunks."""
    engine = _WORKER_ENGINES.get(config)
    if engine is None:
        _WORKER_ENGINES.clear()  # a new report: drop the previous report's engine
        engine = _WORKER_ENGINES[config] = Engine(config)
    return engine.write(html, target, attachments, extra_css=extra_css)


def write_once(
    config: EngineConfig,
    html: str,
    target: str,
    attachments: Sequence[Attachment],
    extra_css: str,
) -> int:
    """Entry point for one whole document: a fresh engine, dropped afterwards."""
    try:
        return write_in_worker(config, html, target, attachments, extra_css)
    finally:
        release_engines()


def release_engines() -> None:
    """Drop cached engines (font configuration, parsed stylesheet)."""
    _WORKER_ENGINES.clear()
