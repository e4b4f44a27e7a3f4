"""Benchmark: chunked vs single-document rendering of a large report (R.ASYNC).

    python bench/bench_reports.py [--rows 10000] [--rows-per-chunk 250]
                                  [--runs chunked,plain,single] [--parallel 2]

Builds an audit-pack-like report (about 185 pages: prose sections, four
matplotlib SVG charts, a board-decision table and a 10,000-row, 8-column
change history), writes its HTML chunks to a temporary directory, then renders
it in separate subprocesses so peak memory is measured per approach:

- chunked: ``render_report`` with one chunk per section / row batch;
- plain: the same HTML joined into one document and rendered by WeasyPrint in
  one go, the way a caller would without this kernel (target comparison);
- single: ``render_report`` with that one document: same engine and GC tuning
  as chunked, so the difference to chunked is the chunking alone;
- chunked/Nw (``--parallel N``): chunked with N worker processes.

Times are measured around the render call inside the child (interpreter and
Django start-up excluded); CPU time is the child's including its workers.
Peak memory is the larger of the child's ``ru_maxrss`` (exact, largest single
process) and the sum of proportional set sizes (PSS) over the child and its
workers, sampled from /proc every 50 ms. Needs no
database. On a shared machine wall times follow the load average (printed
before each run); CPU times are steadier.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ROWS_PER_CHUNK = 250
TARGETS = {"chunked_seconds": 30.0, "chunked_mb": 300.0, "speedup": 2.0, "leaner": 5.0}


def _setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings_test")
    import django

    django.setup()


# --- content ---------------------------------------------------------------------

HISTORY_COLUMNS = ["#", "When", "Metric", "Field", "Old", "New", "Changed by", "Reason"]
FIELDS = ["target", "threshold", "weight", "owner", "status", "frequency"]
REASONS = [
    "Annual target review agreed by the board",
    "Correction of a data-entry error",
    "Methodology change after consultation",
    "Owner moved to another team",
    "Threshold aligned with national guidance",
    "Seasonal adjustment of the baseline",
]


def history_rows(count: int) -> list[list[str]]:
    rng = random.Random(20240601)
    start = datetime.datetime(2023, 1, 1, 8, 0)
    rows = []
    for i in range(count):
        when = start + datetime.timedelta(minutes=37 * i)
        old = round(rng.uniform(0, 100), 1)
        rows.append(
            [
                str(i + 1),
                when.strftime("%Y-%m-%d %H:%M"),
                f"KPI-{rng.randrange(1, 240):03d}",
                rng.choice(FIELDS),
                f"{old}",
                f"{round(old + rng.uniform(-8, 8), 1)}",
                f"user{rng.randrange(1, 60):02d}",
                rng.choice(REASONS),
            ]
        )
    return rows


def charts() -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from governance.reports.charts import figure_data_uri

    rng = random.Random(7)
    out = []
    for n, title in enumerate(
        [
            "Control chart: on-time rate",
            "Changes per month",
            "Appeal outcomes",
            "Data-quality issues by source",
        ]
    ):
        fig, ax = plt.subplots(figsize=(7, 3.2))
        xs = list(range(36))
        if n == 0:
            ys = [80 + rng.gauss(0, 3) for _ in xs]
            mean = sum(ys) / len(ys)
            ax.plot(xs, ys, marker="o", markersize=3)
            for level in (mean - 9, mean, mean + 9):
                ax.axhline(level, linestyle="--", linewidth=0.8)
        elif n == 1:
            ax.bar(xs, [rng.randrange(150, 400) for _ in xs])
        elif n == 2:
            ax.bar(
                ["upheld", "partly", "rejected", "withdrawn"],
                [rng.randrange(10, 90) for _ in range(4)],
            )
        else:
            ax.barh(
                [f"source {k}" for k in range(8)],
                [rng.randrange(0, 60) for _ in range(8)],
            )
        ax.set_title(title)
        out.append((title, figure_data_uri(fig, fmt="svg")))
        plt.close(fig)
    return out


PROSE = (
    "the metric is computed monthly from validated observations and compared against "
    "its target with control limits derived from the baseline period while every change "
    "to its definition is recorded with a reason and approved by the review board"
)


def prose(rng: random.Random, paragraphs: int) -> str:
    words = PROSE.split()
    return "".join(
        "<p>"
        + " ".join(
            rng.choice(words) for _ in range(rng.randrange(60, 110))
        ).capitalize()
        + ".</p>"
        for _ in range(paragraphs)
    )


def build_chunks(rows: list[list[str]], rows_per_chunk: int) -> list[str]:
    from django.utils.html import escape

    from governance.reports.render import table_chunks

    rng = random.Random(42)
    chunks = [
        "<section class='report-section'><h1>Audit pack</h1>"
        "<p>Performance Governance Portal — audit pack for the period 2023-01-01 to 2023-12-31.</p>"
        + prose(rng, 6)
        + "</section>"
    ]
    for number in range(1, 9):
        chunks.append(
            f"<section class='report-section'><h2>{number}. Methodology, part {number}</h2>{prose(rng, 14)}</section>"
        )
    chart_html = "".join(
        f"<figure><img src='{uri}' alt='{escape(title)}'><figcaption>{escape(title)}</figcaption></figure>"
        for title, uri in charts()
    )
    chunks.append(
        f"<section class='report-section'><h2>9. Charts</h2>{chart_html}</section>"
    )
    decisions = "".join(
        f"<tr><td>B-{i:04d}</td><td>KPI-{rng.randrange(1, 240):03d}</td><td>{rng.choice(['adopted', 'rejected'])}</td>"
        f"<td class='num'>{rng.randrange(3, 9)}</td><td class='num'>{rng.randrange(0, 4)}</td><td class='num'>{rng.randrange(0, 2)}</td></tr>"
        for i in range(1, 181)
    )
    chunks.append(
        "<section class='report-section'><h2>10. Board decisions</h2><table class='fixed'>"
        "<thead><tr><th>Ballot</th><th>Metric</th><th>Outcome</th><th class='num'>For</th>"
        "<th class='num'>Against</th><th class='num'>Abstain</th></tr></thead>"
        f"<tbody>{decisions}</tbody></table></section>"
    )
    chunks.append(
        "<section class='report-section'><h2>11. Change history</h2></section>"
    )
    chunks.extend(
        table_chunks(
            rows,
            columns=HISTORY_COLUMNS,
            caption="Change history",
            rows_per_chunk=rows_per_chunk,
            extra={"dense": True, "widths": [6, 15, 9, 9, 6, 6, 8, 41]},
        )
    )
    return chunks


# --- child: one rendering approach ----------------------------------------------


def plain(
    spec: Any, paths: list[Path], data: list[Any], workdir: Path, startup: float
) -> None:
    """WeasyPrint as a caller would use it without this kernel: the same HTML,
    stylesheet and PDF/A options in one document, default garbage collector."""
    import hashlib

    from governance.reports import engine
    from governance.reports.render import _allowed_roots, _Job

    job = _Job(
        spec=spec,
        issued_at=spec.issued_at,
        base_url=(ROOT / "templates").as_uri() + "/",
        roots=tuple(str(r) for r in _allowed_roots(())),
        attachments=tuple(
            engine.Attachment(d.name, d.content, d.description, d.relationship)
            for d in data
        ),
    )
    html = job.document("\n".join(path.read_text() for path in paths))
    target = workdir / "plain.pdf"
    t1 = time.perf_counter()
    pages = engine.Engine(job.config("single")).write(html, target, job.attachments)
    seconds = time.perf_counter() - t1
    body = target.read_bytes()
    print(
        json.dumps(
            {
                "approach": "plain",
                "seconds": seconds,
                "startup": startup,
                "pages": pages,
                "chunks": 1,
                "bytes": len(body),
                "sha256": hashlib.sha256(body).hexdigest(),
                "timings": {"layout": seconds},
            }
        )
    )


def child(approach: str, workdir: Path, workers: int) -> None:
    t0 = time.perf_counter()
    _setup_django()
    from governance.reports.data import DataFile
    from governance.reports.render import ReportSpec, render_report

    manifest = json.loads((workdir / "manifest.json").read_text())
    data = [
        DataFile(
            item["name"],
            (workdir / item["name"]).read_bytes(),
            item["mime"],
            item["description"],
        )
        for item in manifest["data"]
    ]
    spec = ReportSpec(
        report_type="audit_pack",
        title="Audit pack 2023 (benchmark)",
        author="bench",
        subject="Benchmark of chunked rendering",
        issued_at=datetime.datetime(2024, 1, 15, 12, 0, tzinfo=datetime.UTC),
    )
    paths = [workdir / name for name in manifest["chunks"]]
    startup = time.perf_counter() - t0

    if approach == "plain":
        plain(spec, paths, data, workdir, startup)
        return
    if approach == "chunked":
        # Lazily: the renderer holds one chunk's HTML at a time.
        chunks: Any = (path.read_text() for path in paths)
        total = len(paths)
    else:
        chunks = ["\n".join(path.read_text() for path in paths)]
        total = 1
    t1 = time.perf_counter()
    result = render_report(
        spec,
        chunks,
        data=data,
        out=workdir / f"{approach}-{workers}.pdf",
        total_chunks=total,
        workers=workers,
    )
    seconds = time.perf_counter() - t1
    print(
        json.dumps(
            {
                "approach": approach,
                "seconds": seconds,
                "startup": startup,
                "pages": result.pages,
                "chunks": result.chunks,
                "bytes": result.size,
                "sha256": result.sha256,
                "timings": dict(result.timings),
            }
        )
    )


def _tree_rss_kb(root: int) -> int:
    """Memory of ``root`` and all its descendants (KiB): the sum of their
    proportional set sizes, so pages shared between them (a forked helper,
    shared libraries) count once."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/smaps_rollup") as handle:
                for line in handle:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


def measured(
    approach: str, workdir: Path, timeout: float, workers: int = 1
) -> dict[str, float]:
    """Run one approach in a fresh subprocess. Peak memory two ways: the child's
    own ``ru_maxrss`` (exact, largest single process) and the sum over the child
    and its render workers, sampled every 50 ms from /proc."""
    cmd = [
        sys.executable,
        __file__,
        "--child",
        approach,
        "--workdir",
        str(workdir),
        "--workers",
        str(workers),
    ]
    out_path = workdir / f"{approach}.out"
    err_path = workdir / f"{approach}.err"
    started = time.perf_counter()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT)
        deadline = started + timeout
        tree_peak = 0
        while True:
            tree_peak = max(tree_peak, _tree_rss_kb(proc.pid))
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                raise SystemExit(f"{approach}: timed out after {timeout:.0f} s")
            time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(
            f"{approach} failed ({proc.returncode}):\n{err_path.read_text()[-3000:]}"
        )
    result = json.loads(out_path.read_text().strip().splitlines()[-1])
    result["process_wall"] = wall
    result["peak_mb"] = usage.ru_maxrss / 1024  # Linux: KiB; largest single process
    result["tree_peak_mb"] = max(tree_peak, usage.ru_maxrss) / 1024
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    return result


# --- parent ------------------------------------------------------------------------


def prepare(workdir: Path, rows_count: int, rows_per_chunk: int) -> dict[str, int]:
    _setup_django()
    from governance.reports.data import csv_data, json_data

    rows = history_rows(rows_count)
    chunks = build_chunks(rows, rows_per_chunk)
    names = []
    for index, html in enumerate(chunks):
        name = f"chunk-{index:04d}.html"
        (workdir / name).write_text(html)
        names.append(name)
    files = [
        json_data(
            "audit-pack",
            {
                "change_history": [
                    dict(zip(HISTORY_COLUMNS, r, strict=True)) for r in rows
                ]
            },
        ),
        csv_data("change-history", HISTORY_COLUMNS, rows),
    ]
    for item in files:
        (workdir / item.name).write_bytes(item.content)
    manifest = {
        "chunks": names,
        "data": [
            {"name": f.name, "mime": f.mime_type, "description": f.description}
            for f in files
        ],
    }
    (workdir / "manifest.json").write_text(json.dumps(manifest))
    return {"chunks": len(names), "html_bytes": sum(len(c) for c in chunks)}


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rows-per-chunk", type=int, default=ROWS_PER_CHUNK)
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes of the 'chunked' run (default: one per CPU)",
    )
    parser.add_argument(
        "--parallel",
        type=int,
        default=0,
        help="also run the chunked renderer with this many worker processes",
    )
    parser.add_argument(
        "--runs",
        default="chunked,plain,single",
        help="comma-separated: chunked, plain (WeasyPrint on the whole document, "
        "as a caller would use it), single (this kernel with one chunk: same "
        "engine and GC tuning as chunked, so it isolates the effect of chunking)",
    )
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (PDFs, HTML)"
    )
    parser.add_argument(
        "--child", choices=["chunked", "single", "plain"], help=argparse.SUPPRESS
    )
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.workdir, args.workers)
        return

    workdir = Path(tempfile.mkdtemp(prefix="bench-reports-"))
    info = prepare(workdir, args.rows, args.rows_per_chunk)
    print(
        f"report: {args.rows} history rows, {info['chunks']} chunks ({args.rows_per_chunk} rows per table chunk), "
        f"{info['html_bytes'] / 1e6:.1f} MB of HTML; cpus={os.cpu_count()}"
    )
    wanted = [name.strip() for name in args.runs.split(",") if name.strip()]
    unknown = set(wanted) - {"chunked", "plain", "single"}
    if unknown:
        parser.error(f"unknown runs: {sorted(unknown)}")
    runs = [
        (
            f"chunked/{args.workers}w"
            if name == "chunked" and args.workers > 1
            else name,
            name,
            args.workers if name == "chunked" else 1,
        )
        for name in wanted
    ]
    if args.parallel and args.parallel != args.workers:
        label = f"chunked/{args.parallel}w" if args.parallel > 1 else "chunked/seq"
        runs.insert(1, (label, "chunked", args.parallel))
    results = {}
    for label, approach, workers in runs:
        load = os.getloadavg()[0]
        r = measured(approach, workdir, args.timeout, workers)
        results[label] = r
        print(
            f"{label:11s} render {r['seconds']:6.1f} s wall, {r['cpu_seconds']:6.1f} s cpu  "
            f"peak {r['tree_peak_mb']:7.1f} MB (largest process RSS {r['peak_mb']:.1f})  "
            f"pages {r['pages']}  chunks {r['chunks']}  {r['bytes'] / 1e6:.2f} MB PDF  [load before {load:.2f}]"
        )
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in r["timings"].items())
        print(f"{'':11s} phases: {phases}")
    for label, r in results.items():
        if not label.startswith("chunked"):
            continue
        line = (
            f"{label}: <= {TARGETS['chunked_seconds']:.0f} s {_verdict(r['seconds'] <= TARGETS['chunked_seconds'])}, "
            f"<= {TARGETS['chunked_mb']:.0f} MB {_verdict(r['tree_peak_mb'] <= TARGETS['chunked_mb'])}"
        )
        for base in ("plain", "single"):
            if base not in results:
                continue
            other = results[base]
            speed = other["seconds"] / r["seconds"]
            cpu = other["cpu_seconds"] / r["cpu_seconds"]
            lean = other["tree_peak_mb"] / r["tree_peak_mb"]
            line += (
                f"\n  vs {base}: {speed:.2f}x faster wall ({cpu:.2f}x cpu) "
                f"[>= {TARGETS['speedup']:.0f}x {_verdict(speed >= TARGETS['speedup'])}], "
                f"{lean:.2f}x leaner [>= {TARGETS['leaner']:.0f}x {_verdict(lean >= TARGETS['leaner'])}]"
            )
        print(line)
    pages = {r["pages"] for r in results.values()}
    if len(pages) > 1:
        print(
            f"note: page counts differ {sorted(pages)}: in a chunked report every chunk starts on a new page"
        )
    print(f"load average after the runs: {os.getloadavg()[0]:.2f} (2 CPUs shared)")
    missed = [
        label
        for label, r in results.items()
        if label.startswith("chunked")
        and label == runs[0][0]
        and not (
            r["seconds"] <= TARGETS["chunked_seconds"]
            and r["tree_peak_mb"] <= TARGETS["chunked_mb"]
            and all(
                results[b]["seconds"] / r["seconds"] >= TARGETS["speedup"]
                and results[b]["tree_peak_mb"] / r["tree_peak_mb"] >= TARGETS["leaner"]
                for b in ("plain",)
                if b in results
            )
        )
    ]
    if args.keep:
        print(f"kept {workdir}")
    else:
        for path in workdir.iterdir():
            path.unlink()
        workdir.rmdir()
    if missed:
        raise SystemExit(f"targets missed by: {', '.join(missed)}")


if __name__ == "__main__":
    main()
