# SPDX-License-Identifier: AGPL-3.0-or-later
"""A worker process for the multi-process tests of tests/test_worker.py.

Run as a script (``python tests/worker_helpers.py --url ... --dir ...``): it runs
:func:`socialdesk.worker.run_worker_process`, as ``socialdesk worker`` does, with two test
job kinds whose handlers leave a trace in files under ``--dir``, so the test can see
which process ran which job how often, even if the process is killed.

- ``test.record`` appends ``<job id> <owner> <attempt>`` to ``runs-<pid>.log``.
- ``test.block`` writes ``started-<job id>-<attempt>`` (holding the owner), then sleeps
  ``--block-seconds``: a job that is still running when the test kills the process.

With ``--barrier``, the process writes ``ready-<pid>`` and waits for a ``go`` file before
it starts claiming, so all processes of a test compete for the queue at the same time.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from socialdesk.storage import Database
from socialdesk.worker import Handler, JobContext, run_worker_process

RECORD_KIND = "test.record"
BLOCK_KIND = "test.block"


def runs_from(directory: Path) -> list[tuple[int, str, int]]:
    """Every ``(job id, owner, attempt)`` that the ``test.record`` handler wrote."""
    runs = []
    for log in sorted(directory.glob("runs-*.log")):
        for line in log.read_text(encoding="utf-8").splitlines():
            job_id, owner, attempt = line.split(" ")
            runs.append((int(job_id), owner, int(attempt)))
    return runs


def wait_for(
    predicate: Callable[[], object], *, timeout: float, what: str, interval: float = 0.02
) -> None:
    """Poll ``predicate`` until it is true; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def _handlers(directory: Path, *, work_seconds: float, block_seconds: float) -> dict[str, Handler]:
    log = directory / f"runs-{os.getpid()}.log"

    def record(context: JobContext) -> None:
        line = f"{context.job.id} {context.owner} {context.job.attempts}\n".encode()
        # One write of an O_APPEND file: lines of concurrent threads never interleave.
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
        time.sleep(work_seconds)

    def block(context: JobContext) -> None:
        marker = directory / f"started-{context.job.id}-{context.job.attempts}"
        marker.write_text(context.owner, encoding="utf-8")
        time.sleep(block_seconds)

    return {RECORD_KIND: record, BLOCK_KIND: block}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--lease", type=float, default=30.0)
    parser.add_argument("--poll", type=float, default=0.05)
    parser.add_argument("--once", action="store_true")
    parser.add_argument("--barrier", action="store_true")
    parser.add_argument("--work-seconds", type=float, default=0.0)
    parser.add_argument("--block-seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(process)d %(threadName)s %(name)s %(message)s"
    )
    directory: Path = args.dir
    db = Database.from_url(args.url, pool_size=args.concurrency + 2)
    try:
        if args.barrier:
            (directory / f"ready-{os.getpid()}").touch()
            wait_for((directory / "go").exists, timeout=60, what="the go file")
        handlers = _handlers(
            directory, work_seconds=args.work_seconds, block_seconds=args.block_seconds
        )
        ran = run_worker_process(
            db,
            handlers,
            concurrency=args.concurrency,
            once=args.once,
            lease_seconds=args.lease,
            poll_seconds=args.poll,
        )
        logging.getLogger("worker_helpers").info("ran %s jobs", ran)
    finally:
        db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
