"""A small PNG chart of a machine's last hour: GPU load and temperature, one point a minute.

Pure Python (zlib only): an 8-bit palette image, lines drawn with Bresenham's algorithm.
Front ends send the bytes as a photo next to the /status text (which carries the numbers;
the picture has no text, so it needs no font and no translation).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from functools import lru_cache

WIDTH, HEIGHT = 360, 120
PAD = 6
WINDOW_S = 3600
# palette index -> RGB
BACKGROUND, GRID, LOAD, TEMP, AXIS = range(5)
PALETTE = bytes(
    (
        *(250, 250, 250),  # background
        *(222, 222, 222),  # grid lines at 25/50/75
        *(38, 150, 80),  # load (% of the GPU busy): green
        *(230, 120, 30),  # temperature (°C on the same 0..100 scale): orange
        *(150, 150, 150),  # frame
    )
)

Point = tuple[int, int]  # (unix minute, value)
Sample = tuple[int, Sequence[Sequence[int | None]]]  # (unix minute, [[load %, temp °C], ...])


def status_chart(history: Sequence[Sample], now: int) -> bytes | None:
    """The PNG of the hour before ``now`` (mean load and hottest GPU per minute), or None
    when fewer than two minutes were sampled (no line to draw)."""
    load: list[Point] = []
    temp: list[Point] = []
    for minute, gpus in history:
        if minute < now - WINDOW_S or minute > now:
            continue
        loads = [g[0] for g in gpus if len(g) > 0 and g[0] is not None]
        temps = [g[1] for g in gpus if len(g) > 1 and g[1] is not None]
        if loads:
            load.append((minute, sum(loads) // len(loads)))
        if temps:
            temp.append((minute, max(temps)))
    if max(len(load), len(temp)) < 2:
        return None
    return _render(tuple(load), tuple(temp), now)


@lru_cache(maxsize=512)  # many /status refreshes show the same minutes
def _render(load: tuple[Point, ...], temp: tuple[Point, ...], now: int) -> bytes:
    # the x axis is minutes, so ``now`` only matters to the minute
    return _draw(load, temp, now // 60 * 60)


def _draw(load: tuple[Point, ...], temp: tuple[Point, ...], now: int) -> bytes:
    rows = [bytearray([BACKGROUND]) * WIDTH for _ in range(HEIGHT)]
    inner_h = HEIGHT - 2 * PAD
    for pct in (25, 50, 75):
        y = _y(pct, inner_h)
        rows[y][PAD : WIDTH - PAD] = bytes([GRID]) * (WIDTH - 2 * PAD)
    for x in range(PAD, WIDTH - PAD):
        rows[PAD][x] = rows[HEIGHT - PAD - 1][x] = AXIS
    for y in range(PAD, HEIGHT - PAD):
        rows[y][PAD] = rows[y][WIDTH - PAD - 1] = AXIS
    start = now - WINDOW_S
    for series, colour in ((temp, TEMP), (load, LOAD)):
        points = [(_x(m - start), _y(v, inner_h)) for m, v in series]
        for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
            _line(rows, x0, y0, x1, y1, colour)
            _line(rows, x0, y0 + 1, x1, y1 + 1, colour)  # two pixels thick
    return _png(rows)


def _x(offset_s: int) -> int:
    inner = WIDTH - 2 * PAD - 1
    return PAD + max(0, min(inner, offset_s * inner // WINDOW_S))


def _y(value: int, inner_h: int) -> int:
    value = max(0, min(100, value))
    return PAD + (inner_h - 1) - value * (inner_h - 1) // 100


def _line(rows: list[bytearray], x0: int, y0: int, x1: int, y1: int, colour: int) -> None:
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
    err = dx + dy
    while True:
        if 0 <= y0 < HEIGHT and 0 <= x0 < WIDTH:
            rows[y0][x0] = colour
        if x0 == x1 and y0 == y1:
            return
        e2 = 2 * err
        if e2 >= dy:
            err += dy
            x0 += sx
        if e2 <= dx:
            err += dx
            y0 += sy


def _png(rows: list[bytearray]) -> bytes:
    raw = b"".join(b"\x00" + bytes(r) for r in rows)  # filter type 0 on every row
    header = struct.pack(">IIBBBBB", WIDTH, HEIGHT, 8, 3, 0, 0, 0)  # 8-bit palette
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"PLTE", PALETTE)
        + _chunk(b"IDAT", zlib.compress(raw, 6))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
