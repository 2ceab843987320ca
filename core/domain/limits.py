"""How much of an agent's report the service's columns hold: one home for each limit.

The table definitions (``core.db.tables``) size their columns with these and the wire models
(``core.wire``) bound the same fields with them, so what the agent API accepts always fits the
database: a value that does not is refused at the edge with a 4xx for its sender, instead of
failing a shared transaction on PostgreSQL (SQLite does not enforce string lengths at all).
``tests/core/test_wire_limits.py`` walks both and fails if a wire limit exceeds its column.
"""

from __future__ import annotations

INT32_MAX = 2**31 - 1  # an Integer column (PostgreSQL INTEGER): ids, ports, counts
INT64_MAX = 2**63 - 1  # a BigInteger column (times, money) and any int kept inside JSON text
EPOCH_MAX = 2**40  # a Unix time in seconds (year 36812): bounds every time an agent sends

MAX_AGENT_VERSION = 32
MAX_CPU_MODEL = 128
MAX_DRIVER_VERSION = 64
MAX_CUDA_VERSION = 32
MAX_GPU_UUID = 96
MAX_GPU_NAME = 128
MAX_HOST = 255  # a DNS name or an IP address literal
MAX_FINGERPRINT = 128
MAX_TEMPLATE_NAME = 32
MAX_TEMPLATE_TITLE = 128
MAX_IMAGE_REF = 255
MAX_USERNAME = 32
MAX_JUPYTER_TOKEN = 128
MAX_EVIDENCE_KIND = 16

MAX_REQUEST_KEY = 80  # a chat request's key ("telegram:<bot id>:<update id>"), kept with a quote
