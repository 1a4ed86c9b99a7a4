"""The Redis client under an incident: every waiting lookup has a thread of its own."""

from __future__ import annotations

import threading

import pytest

from otabot.service.redis_store import RedisLink, connect

pytestmark = pytest.mark.redis


def test_more_threads_than_connections_wait_their_turn_instead_of_failing(
    redis_url: str,
) -> None:
    """200 threads at once through a pool of 4: each command waits for a connection, none
    fails, and the link never takes Redis for gone."""
    client = connect(redis_url, max_connections=4)
    link = RedisLink(client)
    start = threading.Barrier(200)
    answers: list[object] = []
    lock = threading.Lock()

    def ping() -> None:
        start.wait(10)
        answer = link.attempt(lambda c: c.incr("otabot:test:pool"), None)
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=ping) for _ in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    try:
        assert None not in answers and len(answers) == 200
        assert int(client.get("otabot:test:pool") or 0) == 200
        assert not link.degraded and link.failures == 0
    finally:
        client.delete("otabot:test:pool")
        client.close()
