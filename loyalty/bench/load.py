"""The load generator: raw HTTP/1.1 keep-alive connections on one asyncio loop.

Run as ``python -m loyalty.bench.load '<spec as JSON>'`` in its own process, so its cost is not
charged to the server; it prints one JSON result on standard output. It imports nothing of the
application and builds each request with a format string and ``orjson``: a request costs the
client a few microseconds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

KINDS = ("orders", "keyed", "points", "batch", "health")
SINGLE = ("orders", "keyed")  # one order a request; "keyed" sends an Idempotency-Key


@dataclass(frozen=True)
class Spec:
    """One measurement: ``clients`` connections sending ``kind`` requests for ``seconds``."""

    host: str
    port: int
    token: str
    kind: str
    clients: int
    seconds: float
    warmup: float
    members: int
    store_code: str
    run_id: str
    occurred_at: str
    batch_size: int = 1000


@dataclass
class Result:
    """What the clients saw in the measured window (warm-up excluded)."""

    requests: int = 0
    units: int = 0
    errors: int = 0
    seconds: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    loop: str = "asyncio"
    total_units: int = 0


@dataclass
class Tally:
    """Raw samples: (finished at, latency ns, status, units done)."""

    samples: list[tuple[float, int, int, int]] = field(default_factory=list)


def order_body(spec: Spec, client: int, seq: int) -> dict[str, Any]:
    amount = random.randint(1_000, 50_000)
    return {
        "order_id": f"{spec.run_id}-{client}-{seq}",
        "member_id": random.randint(1, spec.members),
        "store_code": spec.store_code,
        "occurred_at": spec.occurred_at,
        "amount": amount,
        "payment_method": "card",
        "lines": [
            {"sku": f"SKU{amount % 97}", "category": "food", "quantity": 1, "amount": amount}
        ],
    }


def post(spec: Spec, path: str, body: bytes, key: str = "") -> bytes:
    extra = f"Idempotency-Key: {key}\r\n" if key else ""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {spec.host}\r\nAuthorization: Bearer {spec.token}\r\n"
        f"{extra}Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def build(spec: Spec, client: int, seq: int) -> bytes:
    """The next request of one client."""
    if spec.kind == "health":
        return f"GET /healthz HTTP/1.1\r\nHost: {spec.host}\r\n\r\n".encode()
    if spec.kind == "points":
        member = random.randint(1, spec.members)
        return (
            f"GET /v1/members/{member}/points HTTP/1.1\r\nHost: {spec.host}\r\n"
            f"Authorization: Bearer {spec.token}\r\n\r\n"
        ).encode()
    if spec.kind in SINGLE:
        body = order_body(spec, client, seq)
        key = body["order_id"] if spec.kind == "keyed" else ""
        return post(spec, "/v1/orders", orjson.dumps(body), key)
    orders = [order_body(spec, client, seq * spec.batch_size + i) for i in range(spec.batch_size)]
    return post(spec, "/v1/orders/batch", orjson.dumps({"orders": orders}))


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        return status, await read_chunked(reader)
    return status, await reader.readexactly(int(headers.get("content-length", "0")))


async def read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        parts.append(await reader.readexactly(size + 2))
        if size == 0:
            return b"".join(p[:-2] for p in parts)


def units_done(spec: Spec, status: int, body: bytes) -> int:
    """Orders posted (a batch answers 200 with a status per order), or requests answered."""
    if spec.kind != "batch":
        return 1 if status in (200, 201) else 0
    if status != 200:
        return 0
    return sum(1 for r in orjson.loads(body)["results"] if r["status"] == 201)


async def client(spec: Spec, n: int, stop_at: float, tally: Tally) -> None:
    """Send requests one after another on a keep-alive connection until ``stop_at``.

    A dropped connection counts as a failed request (status 0) and is opened again.
    """
    numbers = itertools.count()
    while time.perf_counter() < stop_at:
        reader, writer = await asyncio.open_connection(spec.host, spec.port)
        try:
            await _session(spec, n, numbers, stop_at, tally, (reader, writer))
        except (asyncio.IncompleteReadError, ConnectionError):
            tally.samples.append((time.perf_counter(), 0, 0, 0))
        finally:
            writer.close()


Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _session(
    spec: Spec,
    n: int,
    numbers: Iterator[int],
    stop_at: float,
    tally: Tally,
    streams: Streams,
) -> None:
    """Requests on one connection; ``numbers`` keeps order ids unique across reconnections."""
    reader, writer = streams
    while time.perf_counter() < stop_at:
        request = build(spec, n, next(numbers))
        start = time.perf_counter_ns()
        writer.write(request)
        status, body = await read_response(reader)
        latency = time.perf_counter_ns() - start
        tally.samples.append((time.perf_counter(), latency, status, units_done(spec, status, body)))


def summarise(spec: Spec, tally: Tally, window: tuple[float, float]) -> Result:
    begin, end = window
    kept = [s for s in tally.samples if begin <= s[0] <= end]
    latencies = sorted(s[1] for s in kept if s[2])
    statuses: dict[str, int] = {}
    for s in kept:
        statuses[str(s[2])] = statuses.get(str(s[2]), 0) + 1
    ok = 201 if spec.kind in SINGLE else 200
    return Result(
        requests=len(kept),
        units=sum(s[3] for s in kept),
        errors=sum(1 for s in kept if s[2] != ok),
        seconds=end - begin,
        p50_ms=percentile(latencies, 0.50) / 1e6,
        p99_ms=percentile(latencies, 0.99) / 1e6,
        statuses=statuses,
        total_units=sum(s[3] for s in tally.samples),
    )


def percentile(values: list[int], q: float) -> float:
    if not values:
        return 0.0
    return float(values[min(len(values) - 1, int(q * len(values)))])


async def run(spec: Spec) -> Result:
    start = time.perf_counter()
    begin, stop_at = start + spec.warmup, start + spec.warmup + spec.seconds
    tally = Tally()
    await asyncio.gather(*(client(spec, n, stop_at, tally) for n in range(spec.clients)))
    return summarise(spec, tally, (begin, stop_at))


def main() -> None:
    spec = Spec(**orjson.loads(sys.argv[1]))
    try:
        import uvloop

        result, loop = uvloop.run(run(spec)), "uvloop"
    except ImportError:
        result, loop = asyncio.run(run(spec)), "asyncio"
    result.loop = loop
    sys.stdout.write(orjson.dumps(dataclasses.asdict(result)).decode())


if __name__ == "__main__":
    main()
