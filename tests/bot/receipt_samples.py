"""One settled one-hour rental's receipt (RTX 4090 at $0.35/h, 12 % fee), the sample the
notification and receipt text tests render."""

from __future__ import annotations

from typing import Any

TX = "0x" + "ab" * 32

SETTLED: dict[str, Any] = {
    "gpu_name": "RTX 4090",
    "gpu_count": 1,
    "state": "settled",
    "started_at": 1_790_000_000,
    "ended_at": 1_790_003_600,
    "seconds_billed": 3600,
    "price_per_hour": 350_000,
    "deposit": 1_050_000,
    "billed": 350_000,
    "fee": 42_000,
    "fee_bps": 1200,
    "provider_net": 308_000,
    "refund": 700_000,
}
