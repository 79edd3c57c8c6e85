"""A lean open-loop HTTP/1.1 load client on asyncio streams (keep-alive connections, paced sends).

Why not `requests` in threads: on a 2-core box the load generator shares the CPU with the server under test. 400
threads of `requests` cost ~1-2 ms of CPU per request and GIL hand-offs that showed up as server latency. This
client costs a small fraction of that, so the figures measure the server (wrk2 does the same in C; it is not
packaged for Debian).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass(frozen=True)
class Answer:
    status: int  # 0 = connection error or timeout
    body: bytes
    seconds: float  # from the moment the request was due (open loop: a late send counts against the server)


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def roundtrip(self, host: str, request: Request) -> tuple[int, bytes, bool]:
        head = [f"{request.method} {request.path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(request.body)}"]
        head += [f"{name}: {value}" for name, value in request.headers.items()]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + request.body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("closed by the server")
        status = int(status_line.split()[1])
        length, keep_alive = 0, True
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            lowered = name.strip().lower()
            if lowered == "content-length":
                length = int(value.strip())
            elif lowered == "connection" and value.strip().lower() == "close":
                keep_alive = False
        body = await self.reader.readexactly(length) if length else b""
        return status, body, keep_alive

    def close(self) -> None:
        self.writer.close()


class Pool:
    """Idle keep-alive connections; a new one is opened when none is idle (as many as the load needs)."""

    def __init__(self, base_url: str, timeout: float) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.timeout = timeout
        self.idle: list[_Connection] = []
        self.opened = 0

    async def send(self, request: Request) -> tuple[int, bytes]:
        reused = bool(self.idle)
        connection = self.idle.pop() if reused else await self._open()
        try:
            status, body, keep_alive = await asyncio.wait_for(
                connection.roundtrip(f"{self.host}:{self.port}", request), self.timeout
            )
        except (ConnectionError, asyncio.IncompleteReadError):
            connection.close()
            if not reused:
                raise
            # The server closed an idle keep-alive connection as we reused it (gunicorn's keepalive timeout, a
            # worker recycled): retry once on a new connection, as every HTTP client (and Shopify) does.
            connection = await self._open()
            status, body, keep_alive = await asyncio.wait_for(
                connection.roundtrip(f"{self.host}:{self.port}", request), self.timeout
            )
        except BaseException:
            connection.close()
            raise
        if keep_alive:
            self.idle.append(connection)
        else:
            connection.close()
        return status, body

    async def _open(self) -> _Connection:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        self.opened += 1
        return _Connection(reader, writer)

    def close(self) -> None:
        for connection in self.idle:
            connection.close()
        self.idle.clear()


async def _paced(base_url: str, requests: Sequence[Request], rate: float, timeout: float) -> list[Answer]:
    pool = Pool(base_url, timeout)
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.2
    answers: list[Answer | None] = [None] * len(requests)

    async def one(index: int, request: Request) -> None:
        due = start + index / rate
        await asyncio.sleep(max(0.0, due - loop.time()))
        try:
            status, body = await pool.send(request)
        except (TimeoutError, OSError, ValueError, asyncio.IncompleteReadError):
            status, body = 0, b""
        answers[index] = Answer(status, body, loop.time() - due)

    await asyncio.gather(*(one(i, r) for i, r in enumerate(requests)))
    pool.close()
    return [a for a in answers if a is not None]


def send_paced(base_url: str, requests: Sequence[Request], rate: float, timeout: float = 10.0) -> list[Answer]:
    """Send `requests` at `rate` per second (open loop) and return every answer in order."""
    return asyncio.run(_paced(base_url, requests, rate, timeout))


async def _bursts(base_url: str, clients: Sequence[Sequence[Request]], timeout: float) -> list[Answer]:
    answers: list[Answer] = []

    async def client(requests: Sequence[Request]) -> None:
        pool = Pool(base_url, timeout)  # one connection per merchant, as a browser tab keeps one
        for request in requests:
            started = time.perf_counter()
            try:
                status, body = await pool.send(request)
            except (TimeoutError, OSError, ValueError, asyncio.IncompleteReadError):
                status, body = 0, b""
            answers.append(Answer(status, body, time.perf_counter() - started))
        pool.close()

    await asyncio.gather(*(client(requests) for requests in clients))
    return answers


def send_concurrently(base_url: str, clients: Sequence[Sequence[Request]], timeout: float = 30.0) -> list[Answer]:
    """Each client sends its requests one after the other; all clients at once (closed loop)."""
    return asyncio.run(_bursts(base_url, clients, timeout))
