# SPDX-License-Identifier: AGPL-3.0-or-later
from __future__ import annotations

import os
import uuid

import pytest
import redis

from socialdesk.errors import TooManyAttempts
from socialdesk.web.security import LoginThrottle, setup_token
from tests.conftest import require

REDIS_URL = os.environ.get("SOCIALDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        require(f"Redis not reachable at {REDIS_URL}: {exc}")
    finally:
        client.close()
    return REDIS_URL


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_login_throttle_per_email(backend: str) -> None:
    url = _redis_url() if backend == "redis" else None
    throttle = LoginThrottle(limit="3/minute", redis_url=url)
    email = f"{uuid.uuid4().hex}@example.com"
    for _ in range(3):
        throttle.hit(ip="10.0.0.1", email=email)
    with pytest.raises(TooManyAttempts) as caught:
        throttle.hit(ip="10.0.0.2", email=email.upper())
    assert 1 <= caught.value.retry_after <= 60
    # Another account from the same address is still allowed.
    throttle.hit(ip="10.0.0.1", email=f"other-{email}")
    throttle.reset(email=email)
    throttle.hit(ip="10.0.0.3", email=email)


def test_redis_throttle_is_shared_between_processes() -> None:
    url = _redis_url()
    email = f"{uuid.uuid4().hex}@example.com"
    first, second = (
        LoginThrottle(limit="2/minute", redis_url=url),
        LoginThrottle(limit="2/minute", redis_url=url),
    )
    first.hit(ip="10.0.0.1", email=email)
    second.hit(ip="10.0.0.1", email=email)
    with pytest.raises(TooManyAttempts):
        first.hit(ip="10.0.0.1", email=email)


def test_setup_token_depends_on_the_secret() -> None:
    assert setup_token("a" * 40) == setup_token("a" * 40)
    assert setup_token("a" * 40) != setup_token("b" * 40)
    assert len(setup_token("a" * 40)) == 32
