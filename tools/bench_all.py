"""Run every package's benchmark and the competitor comparison; write docs/benchmarks.md.

    hatch run bench:all                       # everything, writes docs/benchmarks.md
    hatch run bench:all --only session        # one section, printed to stdout
    hatch run bench:all --quick --output /tmp/bench.md

Each benchmark runs as its own subprocess with this interpreter, from the repository
root, at the script's own default size (about three minutes in all on two cores; with
``--quick``, passed on to the scripts that take it, about two). One Redis server serves
them all: its URL goes in ``PUREGRAM_REDIS_URL`` and, to scripts that take one, as
``--redis-url`` or ``--url``. It is started through ``tools/redis_harness.py`` unless
``--redis-url`` or ``PUREGRAM_REDIS_URL`` names one, and flushed between sections when
this script started it. A script that is missing, fails or times out becomes a section
that says so, with the end of its error output; the others still run, and the exit
status is 1. Every ratio table of a page written to a file is also drawn as an SVG bar
chart in ``charts/`` beside it (``tools/bench_charts.py``), linked under the table.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib
import importlib.metadata
import os
import platform
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make tools/ importable as a package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.bench_charts import add_charts

__all__ = ["SECTIONS", "Section", "main", "shift_headings"]

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "docs" / "benchmarks.md"
COMMAND = "hatch run bench:all"


@dataclass(frozen=True)
class Section:
    name: str
    title: str
    script: str
    about: str
    # The comparison is the page's headline and takes about a minute: never --quick.
    quick: bool = True


SECTIONS = (
    Section(
        "storage-core",
        "`puregram.storage`, in memory",
        "packages/storage-core/benchmarks/bench_memory.py",
        "`MemoryStorage`, `LruMemoryStorage` and `enhance_storage` against a plain `dict`.",
    ),
    Section(
        "storage-redis",
        "`puregram.storage_redis`",
        "packages/storage-redis/benchmarks/bench_redis.py",
        "`RedisStorage` against bare redis-py commands on the same server.",
    ),
    Section(
        "storage-redis-iteration",
        "`puregram.storage_redis` iteration: memory and time per key",
        "packages/storage-redis/benchmarks/bench_iteration_memory.py",
        "`keys()`/`entries()` against a raw `SCAN` loop over 15,000 keys of 2,000 and of "
        "20 characters, on one server and a 3-primary cluster: tracemalloc peak, µs per key.",
    ),
    Section(
        "storage-sqlite",
        "`puregram.storage_sqlite`",
        "packages/storage-sqlite/benchmarks/bench_sqlite.py",
        "`SqliteStorage` against bare `sqlite3` statements on the same kind of file.",
    ),
    Section(
        "storage-sqlite-scale",
        "`puregram.storage_sqlite` at scale: the event loop and value sizes",
        "packages/storage-sqlite/benchmarks/bench_scale.py",
        "200 concurrent session updates over a 100k-row file against aiosqlite, with a 1 ms "
        "ticker measuring how late the loop runs it; a handler that awaits nothing; "
        "batched sweeps; has/keys/touch with 100 B and 100 KB values.",
    ),
    Section(
        "storage-postgres",
        "`puregram.storage_postgres`",
        "packages/storage-postgres/benchmarks/bench_postgres.py",
        "`PostgresStorage` against bare asyncpg statements on the same pool, asyncpg "
        "against psycopg 3, and py-key-value-aio's PostgreSQL store; on a server the "
        "harness starts (tools/postgres_harness.py).",
    ),
    Section(
        "session",
        "`puregram.session`",
        "packages/session/benchmarks/bench_session.py",
        "The session middleware per update against the same work written by hand; its "
        "Redis round trips are in the next section.",
    ),
    Section(
        "rate-limit",
        "`puregram.rate_limit`",
        "packages/rate-limit/benchmarks/bench_rate_limit.py",
        "Hits through the limiter over each store against that store's bare counter.",
    ),
    Section(
        "aiogram",
        "`puregram.aiogram`",
        "packages/aiogram/benchmarks/bench_aiogram.py",
        "`FsmStorage` over `RedisStorage` against aiogram's own `RedisStorage`, and over "
        "SQLite against aiogram-sqlite-storage, interleaved in one run.",
    ),
    Section(
        "ptb",
        "`puregram.ptb`",
        "packages/ptb/benchmarks/bench_ptb.py",
        "Bot start-up with 100,000 stored users against PicklePersistence, and listing one "
        "namespace of 10,000 keys among 100,000 and 1,000,000 others.",
    ),
    Section(
        "competitors",
        "against the stores a Python bot author would pick instead",
        "tools/bench_competitors.py",
        "Our stores beside aiogram's FSM storages, py-key-value-aio and aiocache, one "
        "value, one process, one run.",
        quick=False,
    ),
)

ROUND_TRIPS = "Round trips per session update"
DRIFT_NOTE = (
    "These machines drift 20-50 % between runs (shared CPUs, frequency scaling, other "
    "jobs), so an absolute µs figure says little on its own. Compare only numbers from "
    "the same table: every ratio here is between two things measured in the same "
    "process, in the same run, interleaved round by round, best round of each."
)


@dataclass
class Outcome:
    section: Section
    ok: bool
    seconds: float
    body: str
    command: str


def shift_headings(markdown: str, top: int) -> str:
    """Move every ATX heading down so the highest one sits at level ``top`` (fenced code
    blocks untouched), so a script's ``# Title`` nests under this page's sections."""
    fence = False
    levels: list[int] = []
    lines = markdown.splitlines()
    for line in lines:
        if line.lstrip().startswith("```"):
            fence = not fence
        elif not fence and (match := re.match(r"(#{1,6}) ", line)):
            levels.append(len(match.group(1)))
    shift = top - min(levels) if levels else 0
    if shift <= 0:
        return markdown
    out: list[str] = []
    fence = False
    for line in lines:
        if line.lstrip().startswith("```"):
            fence = not fence
        elif not fence and re.match(r"#{1,6} ", line):
            line = "#" * shift + line
        out.append(line)
    return "\n".join(out)


def lift_table(markdown: str, needle: str) -> tuple[str, str | None]:
    """Cut out the first table whose header row contains ``needle`` (any case), with the
    paragraph right above it; return (what is left, the cut) or (markdown, None)."""
    lines = markdown.splitlines()
    for index, line in enumerate(lines):
        is_header = line.startswith("|") and (index == 0 or not lines[index - 1].startswith("|"))
        if not (is_header and needle.lower() in line.lower()):
            continue
        end = index
        while end < len(lines) and lines[end].startswith("|"):
            end += 1
        start = index
        if start >= 2 and not lines[start - 1].strip():
            above = start - 1
            while above > 0 and lines[above - 1].strip() and not lines[above - 1].startswith("|"):
                above -= 1
            if above < start - 1:
                start = above
        cut = "\n".join(lines[start:end])
        rest = "\n".join(lines[:start] + lines[end:])
        return re.sub(r"\n{3,}", "\n\n", rest).strip(), cut
    return markdown, None


def _arguments_for(script: Path, *, quick: bool, redis_url: str | None) -> list[str]:
    """The options a script takes, judged from its source: running ``--help`` on a script
    without argparse would run the whole benchmark instead."""
    source = script.read_text(encoding="utf-8", errors="replace")
    args: list[str] = []
    if quick and '"--quick"' in source:
        args.append("--quick")
    for option in ("--redis-url", "--url"):
        if redis_url and f'"{option}"' in source:
            args += [option, redis_url]
            break
    return args


def _tail(text: str, lines: int = 15) -> str:
    kept = text.strip().splitlines()[-lines:]
    return "\n".join(kept)


def run_section(section: Section, *, quick: bool, redis_url: str | None, timeout: float) -> Outcome:
    script = ROOT / section.script
    if not script.is_file():
        return Outcome(section, False, 0.0, f"missing: `{section.script}` does not exist.", "")
    args = _arguments_for(script, quick=section.quick and quick, redis_url=redis_url)
    shown = ["URL" if arg == redis_url else arg for arg in args]
    command = " ".join(["python", section.script, *shown])
    env = dict(os.environ)
    if redis_url:
        env["PUREGRAM_REDIS_URL"] = redis_url
    # Scripts import tools.redis_harness and friends: the root must be importable.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    _progress(f"{section.name}: {command}")
    start = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, str(script), *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        seconds = time.monotonic() - start
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        body = f"missing: timed out after {timeout:.0f} s.\n\n```text\n{_tail(stderr)}\n```"
        return Outcome(section, False, seconds, body, command)
    seconds = time.monotonic() - start
    _progress(f"{section.name}: exit {done.returncode} after {seconds:.0f} s")
    if done.returncode != 0:
        body = (
            f"missing: the script exited with status {done.returncode}.\n\n"
            f"```text\n{_tail(done.stderr or done.stdout)}\n```"
        )
        return Outcome(section, False, seconds, body, command)
    if not done.stdout.strip():
        return Outcome(section, False, seconds, "missing: the script printed nothing.", command)
    body = done.stdout.strip()
    if redis_url:
        # The port is new on every run: keep it out of the page so reruns diff cleanly.
        body = body.replace(redis_url, re.sub(r":\d+(?=/|$)", ":PORT", redis_url))
    return Outcome(section, True, seconds, shift_headings(body, 3), command)


# --- the machine ------------------------------------------------------------------------


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _redis_version(url: str) -> str:
    try:
        client: Any = importlib.import_module("redis").Redis.from_url(url)
        try:
            return str(client.info("server").get("redis_version", "unknown"))
        finally:
            client.close()
    except Exception as exc:  # noqa: BLE001 - the page says why instead
        return f"unknown ({type(exc).__name__}: {exc})"


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _git_commit() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return done.stdout.strip()


_OURS = {
    "puregram-storage": "puregram.storage",
    "puregram-storage-redis": "`puregram.storage_redis`",
    "puregram-storage-sqlite": "`puregram.storage_sqlite`",
    "puregram-session": "`puregram.session`",
    "puregram-rate-limit": "`puregram.rate_limit`",
}


def _our_version(distribution: str) -> str:
    """The installed version, else the one in the source tree (not installed yet)."""
    installed = _version(distribution)
    if installed != "not installed":
        return installed
    try:
        about: Any = importlib.import_module(f"{_OURS[distribution]}.__about__")
    except ImportError:
        return "not installed"
    return f"{about.__version__} (source tree)"


def machine(redis_url: str | None, redis_error: str) -> list[tuple[str, str]]:
    ours = ", ".join(f"{name} {_our_version(name)}" for name in _OURS)
    theirs = ", ".join(
        f"{name} {_version(name)}"
        for name in ("redis", "aiogram", "py-key-value-aio", "aiocache", "diskcache")
    )
    return [
        ("CPU", f"{os.cpu_count()} cores, {_cpu_model()}"),
        ("OS", platform.platform()),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("SQLite", f"{sqlite3.sqlite_version} (the `sqlite3` module's library)"),
        (
            "Redis",
            f"{_redis_version(redis_url)}, on loopback"
            if redis_url
            else f"not available: {redis_error}",
        ),
        ("our packages", ours),
        ("other libraries", theirs),
    ]


# --- the page ---------------------------------------------------------------------------


def render(
    outcomes: Sequence[Outcome],
    *,
    argv: Sequence[str],
    facts: list[tuple[str, str]],
    started: datetime.datetime,
    seconds: float,
) -> str:
    command = " ".join([COMMAND, *argv])
    lines = [
        "# Benchmarks",
        "",
        "<!-- Written by tools/bench_all.py; edit that script, not this page. -->",
        "",
        "## How this page was made",
        "",
        f"`{command}` ran every benchmark below on one machine, each in its own process, "
        f"in {_duration(seconds)}, on {started:%Y-%m-%d} at {started:%H:%M} UTC "
        f"(commit `{_git_commit()}`). Run it again to get numbers for your machine.",
        "",
        DRIFT_NOTE,
        "",
        "Nothing here is asserted by a test; the tables are for reading.",
        "",
        "| | |",
        "| --- | --- |",
    ]
    lines += [f"| {key} | {value} |" for key, value in facts]
    lines += [
        "",
        "| section | script | result | time |",
        "| --- | --- | --- | ---: |",
    ]
    for outcome in outcomes:
        result = "ok" if outcome.ok else "**missing**"
        lines.append(
            f"| [{outcome.section.name}](#{_anchor(outcome.section)}) "
            f"| `{outcome.command or outcome.section.script}` | {result} "
            f"| {outcome.seconds:.0f} s |"
        )
    if any(outcome.section.name == "session" for outcome in outcomes):
        lines += ["", f"[{ROUND_TRIPS}](#round-trips-per-session-update) has its own section."]
    lines.append("")
    for outcome in outcomes:
        body, round_trips = outcome.body, None
        if outcome.section.name == "session" and outcome.ok:
            body, round_trips = lift_table(body, "round trips")
        lines += [f"## {_heading(outcome.section)}", "", outcome.section.about, "", body, ""]
        if outcome.section.name == "session":
            lines += [
                f"## {ROUND_TRIPS}",
                "",
                "Commands the Redis server received per update through the session "
                "middleware over `RedisStorage`, counted by the server itself "
                "(`CONFIG RESETSTAT`, then `INFO commandstats`): the cost that stays the "
                "same on any machine.",
                "",
                round_trips
                or "missing: the session benchmark printed no round-trip table (see above).",
                "",
            ]
    return "\n".join(lines).rstrip() + "\n"


def _heading(section: Section) -> str:
    return f"{section.name}: {section.title}"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} seconds" if seconds < 120 else f"{seconds / 60:.1f} minutes"


def _anchor(section: Section) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[^\w\- ]", "", _heading(section).lower())
    return text.replace(" ", "-")


# --- running ----------------------------------------------------------------------------


@contextlib.contextmanager
def _redis_server(explicit: str | None) -> Iterator[tuple[str | None, bool, str]]:
    """(url, owned, error): the given server, else one the harness starts and stops, else
    no server and why (the Redis sections then say they could not run)."""
    url = explicit or os.environ.get("PUREGRAM_REDIS_URL")
    if url:
        yield url, False, ""
        return
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    try:
        harness = importlib.import_module("tools.redis_harness").HARNESS
        server = harness.new_server()
    except Exception as exc:  # noqa: BLE001 - run what can run without Redis
        error = f"{type(exc).__name__}: {exc}"
        _progress(f"no Redis server: {error}")
        yield None, False, error
        return
    try:
        yield str(server.url), True, ""
    finally:
        harness.release(server)


def _flush(url: str) -> None:
    with contextlib.suppress(Exception):
        client: Any = importlib.import_module("redis").Redis.from_url(url)
        try:
            client.flushall()
            client.config_resetstat()
        finally:
            client.close()


def _progress(message: str) -> None:
    print(f"bench_all: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    names = [section.name for section in SECTIONS]
    parser = argparse.ArgumentParser(prog="bench_all", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--only",
        action="append",
        choices=names,
        metavar="NAME",
        help=f"run only this section (repeatable): {', '.join(names)}",
    )
    parser.add_argument(
        "--output",
        default=None,
        help=f"where to write the page ('-' for stdout); default {DEFAULT_OUTPUT.relative_to(ROOT)}"
        ", or stdout with --only",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="pass --quick to the package benchmarks that take it (noisier numbers)",
    )
    parser.add_argument(
        "--redis-url",
        default=None,
        help="use this server (default: PUREGRAM_REDIS_URL, else start one)",
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds per benchmark (default 600)"
    )
    args = parser.parse_args(argv)
    argv_list = list(sys.argv[1:] if argv is None else argv)
    chosen = [section for section in SECTIONS if not args.only or section.name in args.only]
    output = args.output or ("-" if args.only else str(DEFAULT_OUTPUT))

    started = datetime.datetime.now(datetime.timezone.utc)
    clock = time.monotonic()
    outcomes: list[Outcome] = []
    with _redis_server(args.redis_url) as (url, owned, redis_error):
        facts = machine(url, redis_error)
        for section in chosen:
            if owned and url:
                _flush(url)
            outcomes.append(
                run_section(section, quick=args.quick, redis_url=url, timeout=args.timeout)
            )
    page = render(
        outcomes,
        argv=argv_list,
        facts=facts,
        started=started,
        seconds=time.monotonic() - clock,
    )
    if output == "-":
        sys.stdout.write(page)
    else:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        page = add_charts(page, Path(output).parent / "charts")
        Path(output).write_text(page, encoding="utf-8")
        _progress(f"wrote {output}")
    missing = [outcome.section.name for outcome in outcomes if not outcome.ok]
    if missing:
        _progress(f"missing sections: {', '.join(missing)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
