"""Plain HTTP/1.1 keep-alive load for the agent API benchmark (cheap enough that the
client is not what gets measured)."""

from __future__ import annotations

import asyncio
import json
import time

from tests.support import heartbeat


class Agents:
    """Pre-built requests: agent i's heartbeat with a seq that grows each time it beats."""

    def __init__(self, tokens: list[str]) -> None:
        beat = heartbeat(["rtx4090"], seq=0, sent_at=0).model_dump(mode="json")
        body = json.dumps(beat, separators=(",", ":"))
        self._head = body.split('"seq":0', 1)
        self._tokens = tokens
        self._seq = [0] * len(tokens)

    def request(self, i: int) -> bytes:
        self._seq[i] += 1
        body = f'{self._head[0]}"seq":{self._seq[i]}{self._head[1]}'.encode()
        return (
            f"POST /agent/v1/heartbeat HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {self._tokens[i]}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body


async def exchange(reader, writer, request: bytes) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def closed_loop(port: int, agents: Agents, order: list[int], conns: int) -> tuple:
    """Send one request per entry of ``order`` over ``conns`` connections, back to back."""
    latencies: list[float] = []
    errors = 0
    cursor = iter(order)

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for i in cursor:
                t = time.perf_counter()
                if await exchange(reader, writer, agents.request(i)) != 200:
                    errors += 1
                latencies.append(time.perf_counter() - t)
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conns)))
    return len(latencies) / (time.perf_counter() - start), latencies, errors


async def open_loop(port: int, agents: Agents, n: int, seconds: float, rate: int) -> tuple:
    """Offer ``rate`` beats/s for ``seconds``; latency counts from each scheduled time."""
    total = int(seconds * rate)
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter() + 0.2
    queue: asyncio.Queue = asyncio.Queue()

    async def scheduler() -> None:
        for k in range(total):
            due = start + k / rate
            delay = due - time.perf_counter()
            if delay > 0.001:
                await asyncio.sleep(delay)
            queue.put_nowait((due, k % n))

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while True:
                due, i = await queue.get()
                if await exchange(reader, writer, agents.request(i)) != 200:
                    errors += 1
                latencies.append(time.perf_counter() - due)
                queue.task_done()
        finally:
            writer.close()

    workers = [asyncio.create_task(worker()) for _ in range(128)]
    await scheduler()
    await queue.join()
    elapsed = time.perf_counter() - start
    for w in workers:
        w.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    return total / elapsed, latencies, errors


async def hold_polls(port: int, tokens: list[str]) -> None:
    """Every agent keeps a command long-poll open, as real agents do (wait 25 s; the first
    waits are spread so the polls do not all expire together). Prints READY once every
    agent has been answered once (connected and authenticated)."""
    answered = 0

    async def poller(k: int, token: str) -> None:
        nonlocal answered
        await asyncio.sleep(k / 2_000)  # agents connect over a few seconds, not all at once
        waits = [0.0, 5 + 20 * k / len(tokens)]
        while True:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(1)
                continue
            try:
                while True:
                    wait = waits[0] if waits else 25.0
                    request = (
                        f"GET /agent/v1/commands?after=0&wait={wait:.2f} HTTP/1.1\r\n"
                        f"Host: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"
                    ).encode()
                    await exchange(reader, writer, request)
                    if waits and waits.pop(0) == 0.0:
                        answered += 1
                        if answered == len(tokens):
                            print("READY", flush=True)
            except (OSError, asyncio.IncompleteReadError):
                await asyncio.sleep(1)  # reconnect, as the agent does
            finally:
                writer.close()

    await asyncio.gather(*(poller(k, t) for k, t in enumerate(tokens)))
