# SPDX-License-Identifier: AGPL-3.0-or-later
"""Inbox ingest benchmark: N items stored with deduplication, beside a plain bulk insert.

What runs is what production runs: ``socialdesk.inbox.ingest.ingest_items``, the function
the sync job calls for each page a connector returns (contacts upserted, conversations
created and their times recomputed, items inserted with ``ON CONFLICT DO NOTHING``, the
cursor stored), one transaction per page, as the sync job does.

Each backend (SQLite file, fresh PostgreSQL database):

1. a scratch database, migrated; one workspace and one channel;
2. N generated items (10 per conversation, 5,000 distinct authors, texts of 40-140
   characters), in pages of ``--page`` items; each page also carries again the last
   ``--replay`` share of the previous page, as a poller that re-reads an overlap or a
   network that redelivers does. The run checks that exactly N items were stored;
3. the **baseline**: the same N rows (same columns and values) inserted by a plain
   ``executemany`` into a scratch table without constraints, one transaction per page:
   what the database does with those rows when nothing is checked, deduplicated or linked;
4. the analysis step (VADER sentiment, fastText language, priority), measured apart on a
   sample: it runs after storing, in the same job, so the network never waits for it.

``items_per_s`` = N / the time to ingest every page (replays included);
``ratio`` = items_per_s / baseline_items_per_s. The issue's target is >= 10,000 items/s
on PostgreSQL. Prints a table, then one JSON line.

Run ``python bench/inbox.py --quick`` (N=20,000: well under a minute) or without
arguments (N=100,000).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    create_engine,
    func,
    select,
    text,
)
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from socialdesk.connectors.base import InboundAuthor, InboundItem, InboundKind
from socialdesk.inbox.analysis import analyze_pending
from socialdesk.inbox.ingest import ChannelRef, ingest_items
from socialdesk.storage import Database, normalize_database_url
from socialdesk.storage.migrate import upgrade
from socialdesk.storage.tables import Channel, InboxItem, VaultSecret, Workspace
from socialdesk.text.analyzer import DefaultAnalyzer

POSTGRES_URL = os.environ.get(
    "SOCIALDESK_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
TARGET_ITEMS_PER_S = 10_000
BACKENDS = ("sqlite", "postgresql")
T0 = dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)
WORDS = [
    "order",
    "refund",
    "love",
    "great",
    "terrible",
    "shipping",
    "late",
    "thanks",
    "help",
    "support",
    "account",
    "app",
    "broken",
    "awesome",
    "price",
    "release",
    "update",
    "question",
    "when",
    "where",
    "why",
    "please",
    "fix",
    "crash",
    "login",
    "waiting",
    "amazing",
    "worst",
    "best",
    "team",
    "product",
    "feature",
    "bug",
    "issue",
    "hello",
    "again",
    "still",
]


@dataclass(frozen=True)
class Options:
    items: int
    page: int
    replay: float
    backends: tuple[str, ...]
    analysis_sample: int
    analyze_every: int


def generate(count: int, *, seed: int = 7) -> list[InboundItem]:
    rng = random.Random(seed)
    authors = [
        InboundAuthor(
            external_id=f"author-{n}",
            handle=f"user{n}.example",
            display_name=f"User {n}",
            followers=rng.randint(0, 200_000),
        )
        for n in range(5000)
    ]
    items = []
    for n in range(count):
        words = rng.randint(6, 22)
        items.append(
            InboundItem(
                external_id=f"item-{n}",
                kind=InboundKind.REPLY if n % 10 else InboundKind.COMMENT,
                author=authors[rng.randrange(len(authors))],
                text="@acme " + " ".join(rng.choice(WORDS) for _ in range(words)),
                created_at=T0 + dt.timedelta(seconds=n),
                conversation_id=f"conv-{n // 10}",
                url=f"https://social.example/item-{n}",
                in_reply_to=f"item-{n - 1}" if n % 10 else None,
                our_post_id=f"post-{n // 10}",
                extra={"cid": f"bafy{n}"},
            )
        )
    return items


def pages(items: Sequence[InboundItem], size: int, replay: float) -> list[list[InboundItem]]:
    out: list[list[InboundItem]] = []
    overlap = int(size * replay)
    for start in range(0, len(items), size):
        page = list(items[start : start + size])
        if start and overlap:
            page = list(items[start - overlap : start]) + page
        out.append(page)
    return out


@contextlib.contextmanager
def scratch_database(backend: str, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    admin = create_engine(normalize_database_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    name = f"socialdesk_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield (
            make_url(normalize_database_url(POSTGRES_URL))
            .set(database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def postgres_problem() -> str | None:
    try:
        engine = create_engine(normalize_database_url(POSTGRES_URL))
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # reported, not raised: SQLite still runs
        return f"{type(exc).__name__}: {exc}"
    return None


def set_up(db: Database) -> ChannelRef:
    with db.transaction() as session:
        workspace = Workspace(name="Bench")
        session.add(workspace)
        session.flush()
        secret = VaultSecret(workspace_id=workspace.id, purpose="bench", ciphertext="x")
        session.add(secret)
        session.flush()
        channel = Channel(
            workspace_id=workspace.id,
            network="mastodon",
            external_id="bench",
            handle="acme@social.example",
            base_url="https://social.example",
            credentials_secret_id=secret.id,
            extra={},
        )
        session.add(channel)
        session.flush()
        return ChannelRef(id=channel.id, workspace_id=workspace.id, network="mastodon")


def scratch_table(metadata: MetaData) -> Table:
    """The columns of inbox_items, without its constraints and indexes."""
    return Table(
        "bench_plain_items",
        metadata,
        Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
        Column("workspace_id", Uuid),
        Column("channel_id", Uuid),
        Column("conversation_id", Uuid),
        Column("external_id", String(300)),
        Column("kind", String(16)),
        Column("contact_id", Uuid),
        Column("author_handle", String(300)),
        Column("text", Text),
        Column("created_at", DateTime(timezone=True)),
        Column("received_at", DateTime(timezone=True)),
        Column("url", String(1000)),
        Column("in_reply_to", String(300)),
        Column("our_post_external_id", String(300)),
        Column("from_us", Boolean),
        Column("priority", Integer),
        Column("hidden", Boolean),
        Column("liked", Boolean),
        Column("deleted", Boolean),
        Column("extra", JSON),
    )


def plain_rows(channel: ChannelRef, page: Sequence[InboundItem]) -> list[dict[str, Any]]:
    now = dt.datetime.now(dt.UTC)
    conversation = uuid.uuid4()
    return [
        {
            "workspace_id": channel.workspace_id,
            "channel_id": channel.id,
            "conversation_id": conversation,
            "external_id": item.external_id,
            "kind": item.kind.value,
            "contact_id": None,
            "author_handle": item.author.handle,
            "text": item.text,
            "created_at": item.created_at,
            "received_at": now,
            "url": item.url,
            "in_reply_to": item.in_reply_to,
            "our_post_external_id": item.our_post_id,
            "from_us": item.from_us,
            "priority": 0,
            "hidden": False,
            "liked": False,
            "deleted": False,
            "extra": dict(item.extra),
        }
        for item in page
    ]


def run_backend(options: Options, backend: str, items: list[InboundItem]) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="socialdesk-bench-inbox-") as tmp,
        scratch_database(backend, Path(tmp)) as url,
    ):
        db = Database.from_url(url)
        try:
            upgrade(db.engine)
            channel = set_up(db)
            batches = pages(items, options.page, options.replay)
            received = sum(len(p) for p in batches)

            started = time.perf_counter()
            stored = 0
            for number, page in enumerate(batches):
                with db.transaction() as session:
                    result = ingest_items(
                        session,
                        channel=channel,
                        items=page,
                        cursor=f"cursor-{number}",
                        save_sync_cursor=True,
                    )
                stored += result.stored
            if (
                backend == "postgresql"
                and options.analyze_every
                and (number % options.analyze_every == options.analyze_every - 1)
            ):
                # What autovacuum does in a running deployment (its first ANALYZE comes
                # after 50 rows + 10%): without statistics the planner takes a table of
                # 100,000 items for a few dozen rows. Timed with the ingest, so counted.
                with db.engine.begin() as connection:
                    connection.execute(
                        text("ANALYZE inbox_items, inbox_conversations, inbox_contacts")
                    )
            ingest_s = time.perf_counter() - started
            with db.transaction() as session:
                in_table = session.scalar(select(func.count()).select_from(InboxItem))
            if stored != len(items) or in_table != len(items):
                raise SystemExit(f"{backend}: stored {stored} ({in_table}), not {len(items)}")

            # The same page again: a replay costs one SELECT.
            started = time.perf_counter()
            replays = 0
            for page in batches[: max(1, len(batches) // 10)]:
                with db.transaction() as session:
                    replays += len(page)
                    assert ingest_items(session, channel=channel, items=page).stored == 0
            replay_s = time.perf_counter() - started

            metadata = MetaData()
            plain = scratch_table(metadata)
            metadata.create_all(db.engine)
            unique_pages = pages(items, options.page, 0.0)
            started = time.perf_counter()
            for page in unique_pages:
                with db.engine.begin() as connection:
                    connection.execute(plain.insert(), plain_rows(channel, page))
            baseline_s = time.perf_counter() - started

            analyzer = DefaultAnalyzer()
            analyzer.sentiment("warm up")
            analyzer.language("warm up the model")
            started = time.perf_counter()
            with db.transaction() as session:
                analysed = analyze_pending(
                    session, analyzer=analyzer, limit=options.analysis_sample
                )
            analysis_s = time.perf_counter() - started
        finally:
            db.dispose()
    return {
        "backend": backend,
        "items": len(items),
        "received": received,
        "pages": len(batches),
        "ingest_s": round(ingest_s, 3),
        "items_per_s": round(len(items) / ingest_s),
        "received_per_s": round(received / ingest_s),
        "replayed_items_per_s": round(replays / replay_s) if replay_s else None,
        "baseline_s": round(baseline_s, 3),
        "baseline_items_per_s": round(len(items) / baseline_s),
        "ratio": round(baseline_s / ingest_s, 3),
        "analysis_items_per_s": round(analysed / analysis_s) if analysis_s else None,
    }


def print_case(case: dict[str, Any]) -> None:
    print(
        f"{case['backend']:<11} {case['items']:>8} items ({case['received']} received in"
        f" {case['pages']} pages): ingest {case['items_per_s']:>8,} items/s"
        f"  | plain bulk insert {case['baseline_items_per_s']:>8,} rows/s"
        f"  | ratio {case['ratio']:.2f}"
        f"  | replayed page {case['replayed_items_per_s'] or 0:>8,} items/s"
        f"  | analysis {case['analysis_items_per_s'] or 0:>6,} items/s"
    )


def parse(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="N=20,000 (well under a minute)")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=500, help="items per page")
    parser.add_argument("--replay", type=float, default=0.2, help="share of a page sent again")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--analysis-sample", type=int, default=5000)
    parser.add_argument(
        "--analyze-every",
        type=int,
        default=20,
        help="PostgreSQL: ANALYZE the inbox tables every this many pages (0: never)",
    )
    args = parser.parse_args(argv)
    return Options(
        items=20_000 if args.quick else args.items,
        page=args.page,
        replay=args.replay,
        backends=tuple(b for b in args.backends.split(",") if b),
        analysis_sample=2000 if args.quick else args.analysis_sample,
        analyze_every=args.analyze_every,
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(argv)
    items = generate(options.items)
    postgres = postgres_problem() if "postgresql" in options.backends else None
    cases = []
    for backend in options.backends:
        if backend == "postgresql" and postgres is not None:
            print(f"postgresql  skipped: {postgres}")
            continue
        case = run_backend(options, backend, items)
        print_case(case)
        cases.append(case)
    by_backend = {case["backend"]: case for case in cases}
    headline = by_backend.get("postgresql") or by_backend.get("sqlite") or {}
    summary = {
        "bench": "inbox",
        "backend": headline.get("backend"),
        "items": options.items,
        "items_per_s": headline.get("items_per_s"),
        "baseline_items_per_s": headline.get("baseline_items_per_s"),
        "ratio": headline.get("ratio"),
        "target_items_per_s": TARGET_ITEMS_PER_S,
        "meets_target": (
            None
            if "postgresql" not in by_backend
            else by_backend["postgresql"]["items_per_s"] >= TARGET_ITEMS_PER_S
        ),
        "page": options.page,
        "replay": options.replay,
        "analyze_every": options.analyze_every,
        "postgresql_skipped": postgres,
        "cases": by_backend,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
