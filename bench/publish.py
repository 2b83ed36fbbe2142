# SPDX-License-Identifier: AGPL-3.0-or-later
"""Publishing benchmark: N deliveries due at the same instant, published by real workers.

What runs is what production runs: posts made with ``create_post``, channels connected
with ``connect_channel`` (verified against the network), and workers started as
``python -m socialdesk worker --concurrency C`` (``run_worker_process`` with
``build_handlers``), in processes of their own. The network is the Mastodon fake of
``tests/fakes/mastodon.py``, served by its own process on 127.0.0.1 with a fixed latency
per request and its rate limits off.

Each case (backend x N):

1. a scratch database (a SQLite file in a temp dir, or a fresh PostgreSQL database that
   is dropped afterwards), migrated;
2. one user, one workspace, and ``ceil(N / 250)`` Mastodon channels: socialdesk itself
   keeps each channel under Mastodon's 300 posts per 3 hours, so one channel cannot take
   N posts at once;
3. N posts (one delivery each, channels round-robin), created with ``when="at"`` an hour
   ahead, 250 per transaction;
4. the workers start and go idle; then every publish job, delivery and post is moved to
   one due instant a moment ahead, in one transaction (what ``reschedule_post`` does,
   in bulk), so the workers meet the load the way they would at a busy minute;
5. once every delivery is settled the workers get SIGTERM, and the figures come from the
   database (due and publish instants) and from the fake (statuses and requests).

The ceiling is ``concurrency / latency``: a publish of a text-only Mastodon status is one
HTTP request (checked here by counting the requests the fake received during the run),
and a worker keeps at most ``concurrency`` of them in flight at once. The latency is measured in the
same run, by a probe that posts statuses to the fake before the workers start.

Run ``python bench/publish.py --quick`` (N=500 on both backends: about a minute on an
idle machine) or without arguments (every size on both backends). Prints a table per
case, then one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, create_engine, func, select, text, update
from sqlalchemy.engine import make_url

from socialdesk.accounts import users, workspaces
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.vault import Vault
from socialdesk.accounts.workspaces import Access
from socialdesk.config import Settings, load_settings
from socialdesk.connectors.base import Credentials
from socialdesk.publishing import deliveries as dl
from socialdesk.publishing.channels import connect_channel
from socialdesk.publishing.posts import ChannelContent, PostDraft, create_post
from socialdesk.publishing.runtime import NetworkRuntime
from socialdesk.storage import Database, normalize_database_url
from socialdesk.storage.engine import MAX_POOL_OVERFLOW, MAX_POOL_SIZE
from socialdesk.storage.migrate import upgrade
from socialdesk.storage.tables import Delivery, Job, Post
from socialdesk.storage.types import utcnow

ROOT = Path(__file__).resolve().parents[1]
SIZES = (500, 2_000, 10_000)
QUICK_SIZES = (500,)
BACKENDS = ("sqlite", "postgresql")
TARGET_RATIO = 0.8
#: Publishes in flight per worker process. What a deployment would run: a publish in
#: flight is a coroutine waiting on the network, not a thread, so 100 costs little; and
#: at 100 ms per request the lateness targets need at least this many (at 50, even a
#: perfect worker has p99 = ceil(0.99 x 500 / 50) x 0.1 s = 1.0 s at N=500).
DEFAULT_CONCURRENCY = 100
#: p99 lateness targets of the issue, by how many deliveries fall due at once.
LATENESS_TARGETS_S = {500: 1.0, 2_000: 2.0}
#: Under Mastodon's 300 statuses per 3 hours, which socialdesk enforces per channel.
POSTS_PER_CHANNEL = 250
POSTS_PER_TRANSACTION = 250
POSTGRES_URL = os.environ.get(
    "SOCIALDESK_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
STATUS_ROUTE = "POST /api/v1/statuses"
#: Stop waiting when nothing was published for this long (something is stuck).
STALL_SECONDS = 60.0


@dataclass(frozen=True)
class Options:
    sizes: tuple[int, ...]
    backends: tuple[str, ...]
    concurrency: int
    processes: int
    latency_ms: float
    poll_seconds: float | None
    log_level: str
    lead_seconds: float
    quick: bool
    keep: bool


# -- the fake network, in a process of its own -----------------------------------------------------


def serve_fake(port: int, latency_ms: float) -> None:
    """Serve the Mastodon fake (rate limits off), plus a count of the requests it received.

    ``python -m tests.fakes.mastodon --no-rate-limits`` does the same, but cannot say how
    many requests it answered; ``GET /__bench__/requests`` does.
    """
    sys.path.insert(0, str(ROOT))
    import uvicorn
    from starlette.responses import JSONResponse
    from tests.fakes.mastodon import Limits, MastodonFake, Receive, Scope, Send

    limits = Limits()
    limits.api = limits.media = limits.deletes = limits.statuses = (0, 1)
    fake = MastodonFake(
        base_url=f"http://127.0.0.1:{port}", latency=latency_ms / 1000, limits=limits
    )

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/__bench__/requests":
            by_route = Counter(f"{method} {path}" for method, path in fake.requests)
            response = JSONResponse({"total": len(fake.requests), "by_route": by_route})
            await response(scope, receive, send)
            return
        await fake(scope, receive, send)

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")


@dataclass
class FakeProcess:
    base_url: str
    process: subprocess.Popen[bytes]

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = httpx.request(method, f"{self.base_url}/__fake__/{path}", json=body, timeout=60)
        response.raise_for_status()
        return response.json()

    def requests(self) -> tuple[int, Counter[str]]:
        response = httpx.get(f"{self.base_url}/__bench__/requests", timeout=60)
        response.raise_for_status()
        body = response.json()
        return int(body["total"]), Counter({k: int(v) for k, v in body["by_route"].items()})


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def fake_server(latency_ms: float) -> Iterator[FakeProcess]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "_serve-fake", str(port), str(latency_ms)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    fake = FakeProcess(base_url=f"http://127.0.0.1:{port}", process=process)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                fake.admin("GET", "health")
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the Mastodon fake did not start") from None
                time.sleep(0.05)
        yield fake
    finally:
        _stop(process)


def probe_latency(fake: FakeProcess, samples: int = 20) -> list[float]:
    """Seconds per status created, one at a time on a kept-alive connection."""
    account = fake.admin("POST", "accounts", {"username": "latencyprobe"})
    headers = {"Authorization": f"Bearer {account['access_token']}"}
    timings = []
    with httpx.Client(base_url=fake.base_url, headers=headers, timeout=30) as client:
        client.get("/api/v1/accounts/verify_credentials").raise_for_status()
        for index in range(samples):
            started = time.perf_counter()
            response = client.post(
                "/api/v1/statuses",
                json={"status": f"latency probe {index}"},
                headers={"Idempotency-Key": secrets.token_hex(16)},
            )
            timings.append(time.perf_counter() - started)
            response.raise_for_status()
    return timings


# -- databases -------------------------------------------------------------------------------------


def postgres_problem(url: str) -> str | None:
    """Why PostgreSQL cannot be used, or None when it can."""
    engine = create_engine(normalize_database_url(url))
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        return f"PostgreSQL not reachable at {url}: {type(exc).__name__}: {exc}".splitlines()[0]
    finally:
        engine.dispose()
    return None


@contextlib.contextmanager
def scratch_database(backend: str, workdir: Path) -> Iterator[str]:
    """A URL of an empty database, dropped afterwards (the SQLite file goes with workdir)."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'socialdesk.db'}"
        return
    admin_url = normalize_database_url(POSTGRES_URL)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"socialdesk_bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def monitor_engine(url: str) -> Engine:
    """An engine that only reads: on SQLite without ``BEGIN IMMEDIATE``, so the progress
    polls never take the write lock the workers need."""
    if url.startswith("sqlite"):
        return create_engine(url)
    return create_engine(normalize_database_url(url), pool_size=1)


def settled_counts(engine: Engine) -> Counter[str]:
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT state, count(*) FROM deliveries GROUP BY state")
        ).all()
    return Counter({str(state): int(count) for state, count in rows})


# -- set-up through the domain functions ---------------------------------------------------------


@dataclass
class Desk:
    access: Access
    #: socialdesk channel id -> the fake's account id
    channels: dict[uuid.UUID, str] = field(default_factory=dict)


def set_up_workspace(db: Database, *, vault: Vault, fake: FakeProcess, channel_count: int) -> Desk:
    with db.transaction() as session:
        owner = users.create_user(
            session,
            email="bench@example.com",
            password="correct horse battery staple",
            actor=Actor.cli(),
        )
        workspace = workspaces.create_workspace(
            session, name="Bench", owner=owner, actor=Actor.cli(), timezone="UTC"
        )
        desk = Desk(access=workspaces.access_for(session, user=owner, workspace_id=workspace.id))
    network = NetworkRuntime()
    try:
        for index in range(channel_count):
            account = fake.admin("POST", "accounts", {"username": f"brand{index}"})
            channel = connect_channel(
                db,
                vault=vault,
                http=network.http,
                run=network.run,
                workspace_id=workspace.id,
                network="mastodon",
                base_url=fake.base_url,
                credentials=Credentials(access_token=account["access_token"]),
                actor=Actor.cli(),
            )
            desk.channels[channel.id] = str(account["id"])
    finally:
        network.close()
    return desk


def create_posts(
    db: Database, *, settings: Settings, desk: Desk, count: int, at: dt.datetime
) -> None:
    """``count`` scheduled posts, one delivery each, spread over the channels in turn."""
    channel_ids = list(desk.channels)
    workspace_id = desk.access.workspace.id
    for start in range(0, count, POSTS_PER_TRANSACTION):
        with db.transaction(workspace_id=workspace_id) as session:
            for index in range(start, min(start + POSTS_PER_TRANSACTION, count)):
                create_post(
                    session,
                    settings=settings,
                    access=desk.access,
                    actor=Actor.cli(),
                    draft=PostDraft(
                        text=f"Benchmark post {index + 1} of {count}: what goes out at the "
                        "top of the hour #socialdesk",
                        channels=[ChannelContent(channel_id=channel_ids[index % len(channel_ids)])],
                        when="at",
                        at=at,
                    ),
                )


def make_all_due_at(db: Database, due_at: dt.datetime) -> None:
    """Move every scheduled delivery (its job, its post) to ``due_at``, in one transaction."""
    with db.transaction() as session:
        session.execute(
            update(Job)
            .where(Job.kind == dl.PUBLISH_KIND, Job.state == "queued")
            .values(due_at=due_at)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update(Delivery)
            .where(Delivery.state == dl.PENDING)
            .values(due_at=due_at)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update(Post)
            .where(Post.status == "scheduled")
            .values(scheduled_at=due_at)
            .execution_options(synchronize_session=False)
        )


# -- workers: `socialdesk worker`, one process each ------------------------------------------------


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log: Path


def start_workers(
    options: Options, *, processes: int, url: str, settings: Settings, workdir: Path
) -> list[WorkerProcess]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALDESK_")}
    env.update(
        SOCIALDESK_DATA_DIR=str(settings.data_dir),
        SOCIALDESK_DATABASE_URL=url,
        SOCIALDESK_SECRET_KEY=settings.resolved_secret_key(),
        SOCIALDESK_LOG_LEVEL=options.log_level,
    )
    if options.poll_seconds is not None:
        env["SOCIALDESK_WORKER_POLL_SECONDS"] = str(options.poll_seconds)
    started = []
    for index in range(processes):
        log = workdir / f"worker-{index}.log"
        with log.open("wb") as handle:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "socialdesk",
                    "worker",
                    "--concurrency",
                    str(options.concurrency),
                ],
                cwd=workdir,  # no stray .env from the caller's directory
                env=env,
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        started.append(WorkerProcess(process=process, log=log))
    # The worker says "worker ... started: N slots" at INFO; above INFO, give it a moment.
    says_started = options.log_level in ("DEBUG", "INFO")
    deadline = time.monotonic() + (60 if says_started else 3)
    for worker in started:
        while not says_started or " started: " not in worker.log.read_text(errors="replace"):
            if worker.process.poll() is not None or time.monotonic() > deadline:
                if says_started or worker.process.poll() is not None:
                    tail = worker.log.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"a worker did not start:\n{tail}")
                break
            time.sleep(0.05)
    return started


def wait_until_idle(engine: Engine, timeout: float = 30.0) -> None:
    """Let the periodic jobs every worker enqueues at start (prune, reconcile) run first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            busy = connection.execute(
                select(func.count())
                .select_from(Job)
                .where(
                    Job.kind != dl.PUBLISH_KIND,
                    Job.state.in_(("queued", "running")),
                    Job.due_at <= utcnow(),
                )
            ).scalar_one()
        if not busy:
            return
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds used so far: by some processes, and by the whole machine."""

    monotonic: float
    by_pid: dict[int, float]
    #: (busy, stolen by the hypervisor) over every core, or None without /proc/stat
    machine: tuple[float, float] | None

    @classmethod
    def take(cls, pids: Iterable[int]) -> CpuSample:
        by_pid = {pid: seconds for pid in pids if (seconds := _process_cpu(pid)) is not None}
        try:
            line = Path("/proc/stat").read_text().splitlines()[0].split()
            user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in line[1:9])
            ticks = os.sysconf("SC_CLK_TCK")
            machine = ((user + nice + system + irq + softirq) / ticks, steal / ticks)
        except (OSError, ValueError, IndexError):
            machine = None
        return cls(monotonic=time.monotonic(), by_pid=by_pid, machine=machine)


def cores_used(before: CpuSample, after: CpuSample, pids: Iterable[int]) -> float | None:
    """How many cores ``pids`` kept busy on average between two samples."""
    wall = after.monotonic - before.monotonic
    pids = [pid for pid in pids if pid in after.by_pid]
    if wall <= 0 or not pids:
        return None
    used = sum(after.by_pid[pid] - before.by_pid.get(pid, 0.0) for pid in pids)
    return round(used / wall, 2)


def machine_cores(before: CpuSample, after: CpuSample) -> tuple[float | None, float | None]:
    """(busy, stolen) cores of the whole machine between two samples."""
    wall = after.monotonic - before.monotonic
    if wall <= 0 or before.machine is None or after.machine is None:
        return None, None
    busy = (after.machine[0] - before.machine[0]) / wall
    stolen = (after.machine[1] - before.machine[1]) / wall
    return round(busy, 2), round(stolen, 2)


def postgres_backends(engine: Engine) -> list[int]:
    """Process ids of the PostgreSQL backends serving the scratch database."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect() as connection:
        return [
            int(pid)
            for pid in connection.execute(
                text(
                    "SELECT pid FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalars()
        ]


# -- one case --------------------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class Run:
    """What was seen while the workers published, besides what the database keeps."""

    due_at: dt.datetime
    outcome: str
    requests: int
    routes: Counter[str]
    cpu: dict[str, float | None]
    load_average: float
    log_levels: Counter[str]


def publish_all(
    options: Options,
    *,
    processes: int,
    size: int,
    url: str,
    settings: Settings,
    db: Database,
    monitor: Engine,
    fake: FakeProcess,
    workdir: Path,
) -> Run:
    """Start the workers, make everything due at once, wait until it is all settled."""
    workers = start_workers(
        options, processes=processes, url=url, settings=settings, workdir=workdir
    )
    worker_pids = [worker.process.pid for worker in workers]
    try:
        wait_until_idle(monitor)
        requests_before, routes_before = fake.requests()
        watched = [*worker_pids, fake.process.pid, *postgres_backends(monitor)]
        before = CpuSample.take(watched)
        load_average = os.getloadavg()[0]
        due_at = utcnow() + dt.timedelta(seconds=options.lead_seconds)
        make_all_due_at(db, due_at)
        if utcnow() > due_at:
            print("  ! the due instant passed before every delivery was moved to it")
        outcome = wait_for_deliveries(monitor, size, due_at=due_at)
        backends = postgres_backends(monitor)
        after = CpuSample.take([*worker_pids, fake.process.pid, *backends])
        requests_after, routes_after = fake.requests()
    finally:
        for worker in workers:
            _stop(worker.process)
    busy, stolen = machine_cores(before, after)
    cpu = {
        "workers": cores_used(before, after, worker_pids),
        "fake": cores_used(before, after, [fake.process.pid]),
        "postgresql": cores_used(before, after, backends),
        "machine": busy,
        "stolen": stolen,
    }
    measured = sum(cpu[k] or 0.0 for k in ("workers", "fake", "postgresql"))
    cpu["others"] = round(busy - measured, 2) if busy is not None else None
    cpu["worker_seconds"] = round(
        sum(after.by_pid.get(pid, 0.0) - before.by_pid.get(pid, 0.0) for pid in worker_pids), 3
    )
    levels = Counter[str]()
    for worker in workers:
        for line in worker.log.read_text(errors="replace").splitlines():
            for level in ("WARNING", "ERROR"):
                if f" {level} " in line:
                    levels[level] += 1
    return Run(
        due_at=due_at,
        outcome=outcome,
        requests=requests_after - requests_before,
        routes=routes_after - routes_before,
        cpu=cpu,
        load_average=load_average,
        log_levels=levels,
    )


def run_case(options: Options, backend: str, size: int) -> dict[str, Any]:
    processes = options.processes if backend == "postgresql" else 1
    concurrency = processes * options.concurrency
    case_started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix=f"socialdesk-bench-{backend}-{size}-"))
    try:
        with (
            fake_server(options.latency_ms) as fake,
            scratch_database(backend, workdir) as url,
        ):
            settings = load_settings(
                data_dir=workdir / "data",
                database_url=url,
                secret_key=secrets.token_urlsafe(48),
                log_level=options.log_level,
            )
            db = Database.from_url(url)
            monitor = monitor_engine(url)
            try:
                upgrade(db.engine)
                setup_started = time.perf_counter()
                desk = set_up_workspace(
                    db,
                    vault=Vault(settings),
                    fake=fake,
                    channel_count=math.ceil(size / POSTS_PER_CHANNEL),
                )
                create_posts(
                    db,
                    settings=settings,
                    desk=desk,
                    count=size,
                    at=utcnow() + dt.timedelta(hours=1),
                )
                setup_seconds = time.perf_counter() - setup_started
                latencies = probe_latency(fake)
                run = publish_all(
                    options,
                    processes=processes,
                    size=size,
                    url=url,
                    settings=settings,
                    db=db,
                    monitor=monitor,
                    fake=fake,
                    workdir=workdir,
                )
                figures = collect(db, fake, desk, due_at=run.due_at, size=size)
            finally:
                monitor.dispose()
                db.dispose()
    finally:
        if options.keep:
            print(f"  (kept {workdir})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    latency = statistics.median(latencies)
    ceiling = concurrency / latency
    published = figures["published"]
    makespan = figures["makespan_s"]
    throughput = published / makespan if makespan else 0.0
    target = LATENESS_TARGETS_S.get(size)
    worker_seconds = run.cpu.pop("worker_seconds") or 0.0
    case: dict[str, Any] = {
        "backend": backend,
        "n": size,
        "processes": processes,
        "concurrency": concurrency,
        "outcome": run.outcome,
        "latency_ms": round(latency * 1000, 2),
        "latency_p90_ms": round(percentile(latencies, 0.9) * 1000, 2),
        "ceiling": round(ceiling, 1),
        "throughput": round(throughput, 1),
        "ratio": round(throughput / ceiling, 3),
        "target_ratio": TARGET_RATIO,
        **figures,
        "ideal_makespan_s": round(math.ceil(size / concurrency) * latency, 3),
        "ideal_p99_lateness_s": round(math.ceil(0.99 * size / concurrency) * latency, 3),
        "p99_target_s": target,
        "p99_ok": None if target is None else figures["lateness_p99_s"] <= target,
        "requests": run.requests,
        "status_requests": run.routes.get(STATUS_ROUTE, 0),
        "requests_per_publish": round(run.requests / published, 3) if published else None,
        "cpu_cores": run.cpu,
        "worker_cpu_ms_per_publish": (
            round(worker_seconds / published * 1000, 2) if published else None
        ),
        # A worker process runs Python on one core at a time (the GIL): at this CPU cost
        # per publish, this is the most one process could publish with a core to itself.
        "per_process_bound": round(published / worker_seconds, 1) if worker_seconds else None,
        "cores": os.cpu_count(),
        "load_average_1m": round(run.load_average, 2),
        "worker_log_warnings": run.log_levels["WARNING"],
        "worker_log_errors": run.log_levels["ERROR"],
        "setup_s": round(setup_seconds, 2),
        "case_s": round(time.perf_counter() - case_started, 2),
    }
    case["ok"] = bool(
        case["exactly_once"] and case["ratio"] >= TARGET_RATIO and case["p99_ok"] is not False
    )
    return case


def wait_for_deliveries(engine: Engine, size: int, *, due_at: dt.datetime) -> str:
    """Poll until every delivery is settled; "done", or why the wait was given up."""
    last_published = -1
    last_progress = time.monotonic()
    while True:
        counts = settled_counts(engine)
        settled = sum(counts[state] for state in dl.DONE_STATES) + counts[dl.HELD]
        if settled >= size:
            return "done"
        if counts[dl.PUBLISHED] != last_published:
            last_published = counts[dl.PUBLISHED]
            last_progress = time.monotonic()
        elif utcnow() > due_at and time.monotonic() - last_progress > STALL_SECONDS:
            return f"stalled: {dict(counts)} after {STALL_SECONDS:.0f}s without progress"
        time.sleep(0.2)


def collect(
    db: Database, fake: FakeProcess, desk: Desk, *, due_at: dt.datetime, size: int
) -> dict[str, Any]:
    """What the database and the fake say happened."""
    with db.transaction() as session:
        deliveries = session.execute(
            select(
                Delivery.id,
                Delivery.state,
                Delivery.due_at,
                Delivery.published_at,
                Delivery.attempts,
                Delivery.external_id,
            )
        ).all()
        started = {
            str(payload.get("delivery_id")): (started_at, attempts)
            for payload, started_at, attempts in session.execute(
                select(Job.payload, Job.started_at, Job.attempts).where(Job.kind == dl.PUBLISH_KIND)
            )
        }
    states = Counter(row.state for row in deliveries)
    published = [row for row in deliveries if row.state == dl.PUBLISHED and row.published_at]
    lateness = [(row.published_at - row.due_at).total_seconds() for row in published]
    claim_wait = []
    service = []
    for row in published:
        claimed = started.get(str(row.id))
        if claimed is not None and claimed[0] is not None:
            claim_wait.append((claimed[0] - row.due_at).total_seconds())
            service.append((row.published_at - claimed[0]).total_seconds())
    # A claim stamps every job it takes with the same started_at: one value, one claim.
    claims = len({started_at for started_at, _ in started.values() if started_at is not None})
    first = min((row.published_at for row in published), default=None)
    last = max((row.published_at for row in published), default=None)

    statuses = [
        status
        for status in fake.admin("GET", "statuses")["statuses"]
        if str(status["account_id"]) in set(desk.channels.values()) and not status["deleted"]
    ]
    status_ids = {str(status["id"]) for status in statuses}
    keys = {status["idempotency_key"] for status in statuses}
    external_ids = [str(row.external_id) for row in published]
    exactly_once = (
        len(statuses) == size
        and len(keys) == size
        and len(published) == size
        and len(set(external_ids)) == size
        and set(external_ids) == status_ids
    )
    return {
        "published": len(published),
        "states": dict(states),
        "statuses_on_fake": len(statuses),
        "exactly_once": exactly_once,
        "unpublished": size - len(published),
        "delivery_attempts": sum(row.attempts for row in deliveries),
        "job_attempts": sum(attempts for _, attempts in started.values()),
        "makespan_s": round((last - due_at).total_seconds(), 3) if last else None,
        "first_publish_s": round((first - due_at).total_seconds(), 3) if first else None,
        "first_claim_s": round(min(claim_wait), 3) if claim_wait else None,
        "claims": claims,
        "jobs_per_claim": round(len(started) / claims, 2) if claims else None,
        "lateness_p50_s": round(percentile(lateness, 0.5), 3),
        "lateness_p99_s": round(percentile(lateness, 0.99), 3),
        "lateness_max_s": round(max(lateness), 3) if lateness else None,
        "claim_wait_p50_s": round(percentile(claim_wait, 0.5), 3),
        "claim_wait_p99_s": round(percentile(claim_wait, 0.99), 3),
        "service_p50_ms": round(percentile(service, 0.5) * 1000, 1),
        "service_p99_ms": round(percentile(service, 0.99) * 1000, 1),
        "channels": len(desk.channels),
    }


# -- output ----------------------------------------------------------------------------------------


def _mark(ok: bool | None) -> str:
    return "" if ok is None else ("ok" if ok else "MISSED")


def print_case(case: dict[str, Any]) -> None:
    n = case["n"]
    target = case["p99_target_s"]
    cpu = case["cpu_cores"]
    print(
        f"\n{case['backend']} · N={n:,} due at once · {case['processes']} worker process(es),"
        f" {case['concurrency']} publishes in flight in all · {case['channels']} channels"
        f" · {case['outcome']}"
    )
    rows = [
        (
            "published",
            f"{case['published']:,} of {n:,}; statuses on the fake {case['statuses_on_fake']:,};"
            f" exactly once: {'yes' if case['exactly_once'] else 'NO'}; states {case['states']}",
        ),
        (
            "requests",
            f"{case['requests']:,} during the run ({case['status_requests']:,} {STATUS_ROUTE})"
            f" = {case['requests_per_publish']} per publish; attempts: deliveries"
            f" {case['delivery_attempts']:,}, jobs {case['job_attempts']:,}; claimed in"
            f" {case['claims']:,} claims ({case['jobs_per_claim']} jobs each)",
        ),
        (
            "latency",
            f"{case['latency_ms']} ms median, {case['latency_p90_ms']} ms p90 (probe, idle fake)",
        ),
        (
            "throughput",
            f"{case['throughput']:.1f}/s vs ceiling {case['ceiling']:.1f}/s"
            f" ({case['concurrency']} / {case['latency_ms'] / 1000:.4f} s)"
            f" = {case['ratio']:.2f} (target {TARGET_RATIO})"
            f" {_mark(case['ratio'] >= TARGET_RATIO)}",
        ),
        (
            "makespan",
            f"{case['makespan_s']} s (ideal {case['ideal_makespan_s']} s); first claim"
            f" {case['first_claim_s']} s, first publish {case['first_publish_s']} s after due",
        ),
        (
            "lateness",
            f"p50 {case['lateness_p50_s']} s, p99 {case['lateness_p99_s']} s,"
            f" max {case['lateness_max_s']} s (ideal p99 {case['ideal_p99_lateness_s']} s"
            + (f"; target ≤ {target} s) {_mark(case['p99_ok'])}" if target else ")"),
        ),
        (
            "where",
            f"waiting for a slot p50 {case['claim_wait_p50_s']} s, p99 {case['claim_wait_p99_s']}"
            f" s; claim → published p50 {case['service_p50_ms']} ms, p99"
            f" {case['service_p99_ms']} ms",
        ),
        (
            "cpu",
            f"cores busy: workers {cpu['workers']} ({case['worker_cpu_ms_per_publish']} ms"
            f" per publish), PostgreSQL {cpu['postgresql']}, fake {cpu['fake']}; whole machine"
            f" {cpu['machine']} of {case['cores']} (others {cpu['others']}, stolen"
            f" {cpu['stolen']}); load average {case['load_average_1m']}",
        ),
        (
            "bound",
            f"at that CPU cost one worker process publishes at most"
            f" {case['per_process_bound']}/s with a core to itself",
        ),
        (
            "worker log",
            f"{case['worker_log_warnings']} warnings, {case['worker_log_errors']} errors",
        ),
        ("time", f"set-up {case['setup_s']} s, whole case {case['case_s']} s"),
    ]
    for label, value in rows:
        print(f"  {label:<11} {value}")


def summary(options: Options, cases: list[dict[str, Any]], postgres: str | None) -> dict[str, Any]:
    worst = min(cases, key=lambda case: case["ratio"]) if cases else None
    checked = [case for case in cases if case["p99_target_s"] is not None]
    return {
        "bench": "publish",
        "quick": options.quick,
        "cases": cases,
        "throughput": worst["throughput"] if worst else None,
        "ceiling": worst["ceiling"] if worst else None,
        "ratio": worst["ratio"] if worst else None,
        "worst_case": f"{worst['backend']} N={worst['n']}" if worst else None,
        "target_ratio": TARGET_RATIO,
        "p99_lateness_s": max((case["lateness_p99_s"] for case in checked), default=None),
        "p99_lateness_targets_s": {str(k): v for k, v in LATENESS_TARGETS_S.items()},
        "p99_lateness_ok": all(case["p99_ok"] for case in checked) if checked else None,
        "exactly_once": all(case["exactly_once"] for case in cases) if cases else None,
        "ok": bool(cases) and all(case["ok"] for case in cases),
        "worker_cpu_ms_per_publish": max(
            (case["worker_cpu_ms_per_publish"] or 0.0 for case in cases), default=None
        ),
        "load_average_1m": max((case["load_average_1m"] for case in cases), default=None),
        "concurrency_per_process": options.concurrency,
        "postgresql_processes": options.processes,
        "latency_ms_requested": options.latency_ms,
        "poll_seconds": options.poll_seconds,
        "postgresql": "used" if postgres is None else f"skipped: {postgres}",
        "cores": os.cpu_count(),
    }


def parse(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="N=500 only (under a minute)")
    parser.add_argument("--sizes", help="deliveries due at once, e.g. 500,2000")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="sqlite,postgresql")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help="jobs in flight per worker (socialdesk worker --concurrency)",
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="worker processes on PostgreSQL (SQLite: 1)"
    )
    parser.add_argument("--latency-ms", type=float, default=100.0, help="the fake's latency")
    parser.add_argument(
        "--poll-seconds",
        type=float,
        default=None,
        help="SOCIALDESK_WORKER_POLL_SECONDS for the workers (default: the settings' default)",
    )
    parser.add_argument("--log-level", default="INFO", help="the workers' log level")
    parser.add_argument(
        "--lead-seconds", type=float, default=2.0, help="from moving the due times to due"
    )
    parser.add_argument("--keep", action="store_true", help="keep each case's temp dir")
    args = parser.parse_args(argv)
    if args.sizes:
        sizes = tuple(int(part) for part in args.sizes.split(",") if part.strip())
    else:
        sizes = QUICK_SIZES if args.quick else SIZES
    backends = tuple(part.strip() for part in args.backends.split(",") if part.strip())
    unknown = set(backends) - set(BACKENDS)
    if unknown or not backends:
        parser.error(f"--backends takes {', '.join(BACKENDS)}")
    if args.concurrency < 1 or args.processes < 1 or any(size < 1 for size in sizes):
        parser.error("--concurrency, --processes and --sizes must be positive")
    return Options(
        sizes=sizes,
        backends=backends,
        concurrency=args.concurrency,
        processes=args.processes,
        latency_ms=args.latency_ms,
        poll_seconds=args.poll_seconds,
        log_level=args.log_level.upper(),
        lead_seconds=args.lead_seconds,
        quick=args.quick,
        keep=args.keep,
    )


def postgres_connection_warning(options: Options) -> str | None:
    """Whether the workers may open more connections than PostgreSQL still accepts."""
    # However large its concurrency, a process opens at most the engine's capped pool.
    needed = options.processes * (MAX_POOL_SIZE + MAX_POOL_OVERFLOW) + 2
    engine = create_engine(normalize_database_url(POSTGRES_URL))
    try:
        with engine.connect() as connection:
            allowed = int(connection.execute(text("SHOW max_connections")).scalar_one())
            used = int(
                connection.execute(text("SELECT count(*) FROM pg_stat_activity")).scalar_one()
            )
    finally:
        engine.dispose()
    if needed <= allowed - used:
        return None
    return (
        f"the workers may open up to {needed} connections; PostgreSQL accepts"
        f" {allowed - used} more (max_connections {allowed}, {used} in use)"
    )


def main(argv: Sequence[str] | None = None) -> None:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["_serve-fake"]:
        serve_fake(int(arguments[1]), float(arguments[2]))
        return
    options = parse(arguments)
    postgres = None
    backends = list(options.backends)
    if "postgresql" in backends:
        postgres = postgres_problem(POSTGRES_URL)
        if postgres is not None:
            print(f"PostgreSQL skipped: {postgres}")
            backends.remove("postgresql")
        elif (warning := postgres_connection_warning(options)) is not None:
            print(f"warning: {warning}")
    started = time.perf_counter()
    cases = []
    for backend in backends:
        for size in options.sizes:
            case = run_case(options, backend, size)
            print_case(case)
            cases.append(case)
    result = summary(options, cases, postgres)
    result["total_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
