"""A global send rate per sender: a token bucket shared by every worker.

Twilio queues what a sender cannot send at once (a long code sends about 1 segment/s, a
short code 100+/s) and messages wait there up to 10 hours; sending faster than the sender's
throughput only moves the queue to Twilio, where nobody can see or reorder it, and invites
429s. So delivery takes one token per message before the provider call.

``SMS_SEND_RATE`` (messages per second per sender; 0 turns the limit off) and
``SMS_SEND_BURST`` (bucket size, default the rate rounded up) configure it. With
``REDIS_URL`` (or ``SMS_RATE_REDIS_URL``) the bucket lives in Redis, updated atomically by
a Lua script, so all workers on all machines share it; without Redis, or when Redis does
not answer, an in-process bucket keeps each worker at the rate (the log says so once).
"""

from __future__ import annotations

import logging
import math
import threading
import time

log = logging.getLogger("portal.notifications.throttle")

# KEYS[1] bucket; ARGV rate/s, burst, now (ms). Returns ms to wait (0 = token taken).
LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then tokens = burst; ts = now end
tokens = math.min(burst, tokens + (now - ts) * rate / 1000.0)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) * 1000.0 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000.0 / rate) + 1000)
return wait
"""


class LocalBucket:
    """The same bucket, in this process only."""

    def __init__(self):
        """Empty state; buckets are created on first use."""
        self._lock = threading.Lock()
        self._state: dict[str, tuple[float, float]] = {}

    def take(self, key: str, rate: float, burst: float, now_ms: float) -> float:
        """Take a token or return the milliseconds to wait for one."""
        with self._lock:
            tokens, ts = self._state.get(key, (burst, now_ms))
            tokens = min(burst, tokens + (now_ms - ts) * rate / 1000.0)
            wait = 0.0
            if tokens >= 1:
                tokens -= 1
            else:
                wait = math.ceil((1 - tokens) * 1000.0 / rate)
            self._state[key] = (tokens, now_ms)
            return wait


_local = LocalBucket()
_clients: dict[str, object] = {}
_warned: set[str] = set()


def _redis(url: str):
    client = _clients.get(url)
    if client is None:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
        client.portal_script = client.register_script(LUA)
        _clients[url] = client
    return client


def take(config, sender: str) -> float:
    """One attempt at a token for ``sender``: 0 when taken, else milliseconds to wait."""
    rate = float(config.get("SMS_SEND_RATE") or 0)
    if rate <= 0:
        return 0.0
    burst = float(config.get("SMS_SEND_BURST") or max(1, math.ceil(rate)))
    now_ms = time.time() * 1000.0
    url = config.get("SMS_RATE_REDIS_URL") or config.get("REDIS_URL") or ""
    if url:
        try:
            client = _redis(url)
            return float(client.portal_script(keys=[f"portal:sms-rate:{sender}"],
                                              args=[rate, burst, int(now_ms)]))
        except Exception as error:
            if url not in _warned:
                _warned.add(url)
                log.warning("send-rate bucket in Redis unavailable (%s); using a "
                            "per-process bucket", error)
    return _local.take(sender, rate, burst, now_ms)


def wait_for_turn(config, sender: str, max_wait: float = 60.0) -> bool:
    """Block until ``sender`` may send one message (True), or give up after ``max_wait``
    seconds (False: the caller gives the message back rather than exceed the rate)."""
    waited = 0.0
    while True:
        wait_ms = take(config, sender)
        if wait_ms <= 0:
            return True
        pause = wait_ms / 1000.0
        if waited + pause > max_wait:
            return False
        time.sleep(pause)
        waited += pause


def sender_of(config) -> str:
    """The sender a message goes out from (the unit Twilio's throughput applies to)."""
    return (config.get("TWILIO_MESSAGING_SERVICE_SID") or config.get("TWILIO_FROM_NUMBER")
            or config.get("SMS_BACKEND", "sms"))
