"""The command grammar: every command, every documented example, and hostile input."""

from __future__ import annotations

import base64
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.domain.regions import vocabulary
from core.errors import AmbiguousChoice, GrammarError
from core.grammar import (
    COMMANDS,
    MAX_INPUT_CHARS,
    PROVIDER_COMMANDS,
    RENTER_COMMANDS,
    AddMachine,
    Command,
    Connect,
    Dispute,
    Earnings,
    Extend,
    GpuFilters,
    Gpus,
    Help,
    Lang,
    Machines,
    Pause,
    Price,
    Rate,
    Receipts,
    Register,
    RentArgs,
    Resume,
    SshKey,
    Start,
    Status,
    Stop,
    Templates,
    parse,
    parse_args,
)

H, D = 3600, 86400
ADDRESS = "0x52908400098527886E0F7030069857D2E4169EE7"

REGION_CODES = vocabulary()
REGION_TAIL = ". A broad region covers the ones in brackets; names like europe, germany, usa or asia work too."


def _ssh_string(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def _key(*fields: bytes) -> str:
    return base64.b64encode(b"".join(_ssh_string(f) for f in fields)).decode()


def _rsa(bits: int) -> str:
    modulus = (1 << (bits - 1)) | 1
    return _key(b"ssh-rsa", b"\x01\x00\x01", b"\x00" + modulus.to_bytes(bits // 8, "big"))


ED25519 = "AAAAC3NzaC1lZDI1NTE5AAAAIMVFUHF/A/OsygrtX0D6ptLwJy04F1IoYDH6KYj8TArb"  # ssh-keygen
ECDSA = _key(b"ecdsa-sha2-nistp256", b"nistp256", b"\x04" + bytes(64))
SK_ED25519 = _key(b"sk-ssh-ed25519@openssh.com", bytes(32), b"ssh:")


def gpus(sort: str = "price", page: int = 1, **filters: object) -> Gpus:
    return Gpus(filters=GpuFilters(**filters), sort=sort, page=page)


PARSED: list[tuple[str, Command]] = [
    # renter basics
    ("/start", Start()),
    ("/start ref_abc123", Start()),  # Telegram deep-link payload
    ("/help", Help()),
    ("/help rent", Help(topic="rent")),
    ("/help /GPUS", Help(topic="gpus")),
    ("/help ssh_key", Help(topic="sshkey")),
    # /gpus
    ("/gpus", gpus()),
    ("/gpus 4090", gpus(model="rtx4090")),
    ("/gpus rtx 4090", gpus(model="rtx4090")),
    ("/gpus a100 80gb", gpus(model="a100-80gb")),
    (
        "/gpus vram>=48 max=$1.20 region=eu rel>=95 verified sort=price page=2",
        gpus(
            page=2,
            min_vram_gb=48,
            max_price_per_hour=1_200_000,
            region="eu",
            min_reliability=95,
            verified_only=True,
        ),
    ),
    ("/gpus under $1", gpus(max_price_per_hour=1_000_000)),
    ("/gpus below 0,5", gpus(max_price_per_hour=500_000)),
    ("/gpus >=48gb", gpus(min_vram_gb=48)),
    ("/gpus >= 80GB", gpus(min_vram_gb=80)),
    ("/gpus 48gb+", gpus(min_vram_gb=48)),
    ("/gpus vram >= 24 sort = rel", gpus(sort="reliability", min_vram_gb=24)),
    ("/gpus price<=0.9/h sort=vram", gpus(sort="vram", max_price_per_hour=900_000)),
    ("/gpus rel>=99% region=US-EAST", gpus(min_reliability=99, region="us-east")),
    ("/gpus h100 \u2265 80gb", gpus(model="h100", min_vram_gb=80)),
    ("/gpus page=3", gpus(page=3)),
    # /rent
    ("/rent 4090 3h", RentArgs(model="rtx4090", duration_s=3 * H)),
    ("/rent 3h 4090", RentArgs(model="rtx4090", duration_s=3 * H)),
    ("/rent 2x h100 1d", RentArgs(model="h100", duration_s=D, count=2)),
    ("/rent x2 h100 1d", RentArgs(model="h100", duration_s=D, count=2)),
    ("/rent 2 x a6000 2 Tage", RentArgs(model="rtxa6000", duration_s=2 * D, count=2)),
    (
        "/rent h100 1d max=$2.50 region=eu",
        RentArgs(model="h100", duration_s=D, max_price_per_hour=2_500_000, region="eu"),
    ),
    ("/rent rtx 4090 for 3 hours", RentArgs(model="rtx4090", duration_s=3 * H)),
    ("/rent 4090 für 3 Stunden", RentArgs(model="rtx4090", duration_s=3 * H)),
    ("/rent 4090 1h 30m", RentArgs(model="rtx4090", duration_s=5400)),
    ("/rent 4090 1 hour and 30 minutes", RentArgs(model="rtx4090", duration_s=5400)),
    ("/rent 1.5h geforce rtx 4090", RentArgs(model="rtx4090", duration_s=5400)),
    ("/rent a100-80 1,5h", RentArgs(model="a100-80gb", duration_s=5400)),
    ("/rent A100 40GB 2d count=8", RentArgs(model="a100-40gb", duration_s=2 * D, count=8)),
    (
        "/rent 4090 1w max 0.40",
        RentArgs(model="rtx4090", duration_s=7 * D, max_price_per_hour=400_000),
    ),
    ("/rent@RigShareBot 4090 3h", RentArgs(model="rtx4090", duration_s=3 * H)),
    ("  /RENT   4090   3h  ", RentArgs(model="rtx4090", duration_s=3 * H)),
    ("/Rent 4090\n3h", RentArgs(model="rtx4090", duration_s=3 * H)),
    ("rent 4090 3h", RentArgs(model="rtx4090", duration_s=3 * H)),  # DMs and the terminal
    ("/rent ４０９０ ３h", RentArgs(model="rtx4090", duration_s=3 * H)),  # full-width forms
    ("/rent 4090\x00 3h", RentArgs(model="rtx4090", duration_s=3 * H)),  # NUL is dropped
    ("/rent 4090\u200b 3h", RentArgs(model="rtx4090", duration_s=3 * H)),
    # rentals
    ("/status", Status()),
    ("/status r12", Status(rental_ref="12")),
    ("/status #12", Status(rental_ref="12")),
    ("/status 012", Status(rental_ref="12")),
    ("/extend 2h", Extend(duration_s=2 * H)),
    ("/extend 12 2h", Extend(duration_s=2 * H, rental_ref="12")),
    ("/extend 2h #12", Extend(duration_s=2 * H, rental_ref="12")),
    ("/extend 3 hours", Extend(duration_s=3 * H)),
    ("/extend r7 1 Tag", Extend(duration_s=D, rental_ref="7")),
    ("/stop", Stop()),
    ("/stop R12", Stop(rental_ref="12")),
    ("/receipts", Receipts(export_csv=False)),
    ("/receipts csv", Receipts(export_csv=True)),
    ("/receipts export", Receipts(export_csv=True)),
    ("/dispute", Dispute()),
    ("/dispute r12 GPU  fell off the bus", Dispute(rental_ref="12", reason="GPU fell off the bus")),
    ("/dispute it was slow", Dispute(reason="it was slow")),
    ("/rate 5", Rate(rental_ref=None, stars=5)),
    ("/rate 12 4 great box", Rate(rental_ref="12", stars=4, comment="great box")),
    ("/rate r3 ★★★★ solid", Rate(rental_ref="3", stars=4, comment="solid")),
    ("/rate 4/5", Rate(rental_ref=None, stars=4)),
    ("/rate 5 stars Fast!", Rate(rental_ref=None, stars=5, comment="Fast!")),
    ("/rate #9 ⭐️⭐️⭐️", Rate(rental_ref="9", stars=3)),
    ("/connect", Connect()),
    ("/connect switch", Connect(action="switch")),
    ("/connect Disconnect", Connect(action="disconnect")),
    ("/sshkey", SshKey()),
    (f"/sshkey ssh-ed25519 {ED25519} me@laptop", SshKey(f"ssh-ed25519 {ED25519} me@laptop")),
    (f"/sshkey ssh-ed25519 {ED25519}", SshKey(f"ssh-ed25519 {ED25519}")),
    (f"/sshkey   ssh-ed25519  {ED25519}  a  b ", SshKey(f"ssh-ed25519 {ED25519} a b")),
    (f"/sshkey ssh-rsa {_rsa(3072)} x", SshKey(f"ssh-rsa {_rsa(3072)} x")),
    (f"/sshkey ecdsa-sha2-nistp256 {ECDSA}", SshKey(f"ecdsa-sha2-nistp256 {ECDSA}")),
    (
        f"/sshkey sk-ssh-ed25519@openssh.com {SK_ED25519}",
        SshKey(f"sk-ssh-ed25519@openssh.com {SK_ED25519}"),
    ),
    (f"/key ssh-ed25519 {ED25519}", SshKey(f"ssh-ed25519 {ED25519}")),
    ("/lang", Lang()),
    ("/lang de", Lang(lang="de")),
    ("/lang Deutsch", Lang(lang="de")),
    ("/lang german", Lang(lang="de")),
    ("/lang english", Lang(lang="en")),
    ("/language EN", Lang(lang="en")),
    # providers
    ("/register", Register()),
    (f"/register {ADDRESS}", Register(payout_address=ADDRESS.lower())),
    ("/addmachine box1", AddMachine(machine="box1")),
    ("/add_machine Box-1.a region=EU", AddMachine(machine="Box-1.a", region="eu")),
    ("/addmachine box1 region=us-east", AddMachine(machine="box1", region="us-east")),
    ("/addmachine box1 region=EU_West", AddMachine(machine="box1", region="eu-west")),
    ("/addmachine box1 region=Deutschland", AddMachine(machine="box1", region="eu-central")),
    ("/machines", Machines()),
    ("/price box1 0.65", Price(machine="box1", price_per_hour=650_000)),
    ("/price box1 4090 $0.65", Price(machine="box1", price_per_hour=650_000, model="rtx4090")),
    ("/price box1 $0.65 4090", Price(machine="box1", price_per_hour=650_000, model="rtx4090")),
    ("/price box1 rtx 4090 0,65/h", Price(machine="box1", price_per_hour=650_000, model="rtx4090")),
    ("/price box1 h100 2 USDC", Price(machine="box1", price_per_hour=2_000_000, model="h100")),
    ("/pause", Pause()),
    ("/pause box1", Pause(machine="box1")),
    ("/resume", Resume()),
    ("/resume box1", Resume(machine="box1")),
    ("/earnings", Earnings()),
    # instances: a listing by number, templates, images, ports, disk; /templates; filters
    ("/rent #17 3h", RentArgs(model=None, duration_s=3 * H, listing=17)),
    ("/rent 2x h100 #17 1d", RentArgs(model="h100", duration_s=D, count=2, listing=17)),
    ("/rent 4090 3h image=pytorch", RentArgs(model="rtx4090", duration_s=3 * H, template="pytorch")),
    ("/rent 4090 3h template=Jupyter", RentArgs(model="rtx4090", duration_s=3 * H, template="jupyter")),
    ("/rent 4090 3h image=GHCR.io/me/train:V2",
     RentArgs(model="rtx4090", duration_s=3 * H, image="ghcr.io/me/train:V2")),
    ("/rent 4090 3h IMAGE = ubuntu:22.04",
     RentArgs(model="rtx4090", duration_s=3 * H, image="docker.io/library/ubuntu:22.04")),
    ("/rent 4090 3h image=127.0.0.1:5000/x:1",
     RentArgs(model="rtx4090", duration_s=3 * H, image="127.0.0.1:5000/x:1")),
    ("/rent 4090 3h ports=8080,6006 disk=200gb",
     RentArgs(model="rtx4090", duration_s=3 * H, ports=(6006, 8080), disk_gb=200)),
    ("/rent 16x h100 1d", RentArgs(model="h100", duration_s=D, count=16)),
    ("/templates", Templates()),
    ("/templates 4090", Templates(model="rtx4090")),
    ("/templates #17", Templates(listing=17)),
    ("/gpus ram>=64 disk>=200 cuda>=12.4 cpu>=8",
     gpus(min_ram_gb=64, min_disk_gb=200, min_cuda=1204, min_cpu_cores=8)),
    ("/gpus h100 cuda >= 12", gpus(model="h100", min_cuda=1200)),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), PARSED, ids=[t for t, _ in PARSED])
def test_parses(text: str, expected: Command) -> None:
    assert parse(text) == expected


TRY_RENT = "try: /rent 4090 3h"
KEY_HELP = "paste the one line of your ~/.ssh/id_ed25519.pub (it starts with ssh-ed25519)"
NOT_A_KEY = f"That doesn't look like an SSH public key — {KEY_HELP}"
DAMAGED_KEY = f"That SSH key is damaged or incomplete — {KEY_HELP}"
KNOWN = "known models include RTX 3090, RTX 4080, RTX 4090, RTX 5090, RTX A6000, RTX 6000 Ada"
RSA_1024 = _rsa(1024)
TRUNCATED_BLOB = base64.b64encode(b"\x00\x00\x00\xffssh").decode()  # claims 255 bytes, has 3

REJECTED: list[tuple[str, str]] = [
    # the message itself
    ("", "Send a command, like /rent 4090 3h — or /help for the list"),
    (" \n\t ", "Send a command, like /rent 4090 3h — or /help for the list"),
    ("hello", "Commands start with / — try /rent 4090 3h, or /help for the list"),
    ("/", "Type a command after the /, like /rent 4090 3h — or send /help"),
    ("/rnet 4090 3h", "Unknown command /rnet — did you mean /rent? Or send /help"),
    ("/xyzzy", "Unknown command /xyzzy — send /help for the list"),
    ("/" + "a" * 200, "Unknown command /" + "a" * 39 + "… — send /help for the list"),
    ("/rent 4090 3h " + "x" * 1000, "That is too long (1,014 characters); a command fits in 1,000"),
    ("/rent " + "4" * 10_000, "That is too long (10,006 characters); a command fits in 1,000"),
    # /rent
    ("/rent", "Which GPU and for how long? Try: /rent 4090 3h"),
    ("/rent for", "Which GPU and for how long? Try: /rent 4090 3h"),
    ("/rent 4090", "For how long? Try: /rent rtx4090 3h"),
    ("/rent 3h", "Which GPU? Try: /rent 4090 3h"),
    ("/rent 4900 3h", "Unknown GPU '4900' — did you mean RTX 4090?"),
    ("/rent 4090 3y", "'3y' is not a duration — try 3h, 90m or 1h30m"),
    ("/rent 4090 3", "'3' has no unit — try 3h or 3m"),
    ("/rent 4090 0h", "0h is too short — the minimum is 10 minutes"),
    ("/rent 4090 -3h", "-3h: a duration can't be negative"),
    ("/rent 4090 999999d", "999999d is too long — the maximum is 30 days"),
    (
        "/rent 4090 99999999999999999999999h",
        "99999999999999999999999h is too long — the maximum is 30 days",
    ),
    ("/rent 4090 3h 2h", "'3h 2h': give each unit once, largest first, like 1h 30m"),
    ("/rent 4090 3h for 2 days", "Two durations, '3h' and '2 days' — give one, like /rent 4090 3h"),
    ("/rent 4090 3h 3090", "One GPU model at a time — '4090' or '3090'? Try: /rent 4090 3h"),
    (
        "/rent 4090 3h region=e",
        "Unknown region 'e' — use one of: " + REGION_CODES + REGION_TAIL,
    ),
    ("/rent 4090 3h region=eu region=us", "'region=us': region is given twice — keep one"),
    ("/rent 4090 3h max=abc", "'abc' is not an amount; write it like 0.65 or $0.65"),
    ("/rent 4090 3h max=0", "A price must be more than $0 — '0' is not"),
    ("/rent 4090 3h max=", "'max=' needs a value — try: /rent 4090 3h"),
    ("/rent 17x 4090 3h", "'17' is not a valid number of GPUs — use 1 to 16"),
    ("/rent 0x 4090 3h", "'0' is not a valid number of GPUs — use 1 to 16"),
    ("/rent 2x 3x 4090 3h", "'3x': count is given twice — keep one"),
    ("/rent 4090 3h foo=bar", "Unknown option 'foo' — try: /rent 4090 3h"),
    ("/rent 4090 3h verified", "'verified' doesn't fit here — try: /rent 4090 3h"),
    ("/rent 4090 3h sort=price", "'sort=price' doesn't fit here — try: /rent 4090 3h"),
    ("/rent 4090 3h foo", f"'foo' isn't a GPU, a duration or an option — {TRY_RENT}"),
    ("/rent 4090 3h 🚀", f"'🚀' isn't a GPU, a duration or an option — {TRY_RENT}"),
    ("/rent 🚀🚀 3h", f"Unknown GPU '🚀🚀' — {KNOWN}; see /gpus."),
    (
        "/rent '; DROP TABLE rentals;--",
        f"Unknown GPU ''; drop table rentals;--' — {KNOWN}; see /gpus.",
    ),
    (
        "/rent <script>alert(1)</script> 3h",
        f"Unknown GPU '<script>alert(1)</script>' — {KNOWN}; see /gpus.",
    ),
    ("/rent ٤٠٩٠ 3h", f"Unknown GPU '٤٠٩٠' — {KNOWN}; see /gpus."),  # only ASCII digits count
    # /gpus
    ("/gpus sort=cheap", "Can't sort by 'cheap' — use sort=price, rel or vram"),
    ("/gpus page=0", "'0' is not a valid page — use 1 to 10000"),
    (
        "/gpus page=99999999999999999999",
        "'99999999999999999999' is not a valid page — use 1 to 10000",
    ),
    ("/gpus rel>=101", "'101' is not a valid reliability — use 0 to 100"),
    ("/gpus vram>=abc", "'abc' is not a valid memory size — use 1 to 4096"),
    ("/gpus count=2", "'count=2' doesn't fit here — try: /gpus 4090 max=$1.20 region=eu"),
    ("/gpus 4090 3090", "'3090' isn't a GPU or a filter — try: /gpus 4090 max=$1.20 region=eu"),
    # rentals
    ("/status foo", "'foo' is not a rental number — use the number /status shows, like /status 12"),
    ("/status #0", "'#0' is not a rental number — use the number /status shows, like /status 12"),
    ("/status 1 2", "/status takes one rental number at most, like /status 12"),
    ("/stop r12 r13", "/stop takes one rental number at most, like /stop 12"),
    ("/extend", "How much longer? Try /extend 2h (or /extend 12 2h for rental 12)"),
    ("/extend 12", "How much longer? Try /extend 2h (or /extend 12 2h for rental 12)"),
    ("/extend abc", "'abc' is not a duration — try 3h, 90m or 1h30m"),
    ("/extend 0h", "0h is too short — the minimum is 10 minutes"),
    ("/receipts pdf", "/receipts shows your receipts; /receipts csv exports them as a file"),
    ("/dispute r1 " + "x" * 600, "That reason is too long — keep it under 500 characters"),
    ("/rate", "How many stars, 1 to 5? Try /rate 5 or /rate 12 4 great box"),
    ("/rate 6", "Stars go from 1 to 5 — '6' is not one; try /rate 5"),
    ("/rate 0", "Stars go from 1 to 5 — '0' is not one; try /rate 5"),
    ("/rate great", "Stars go from 1 to 5 — 'great' is not one; try /rate 5"),
    ("/rate 12 ★★★★★★", "Stars go from 1 to 5 — '★★★★★★' is not one; try /rate 5"),
    ("/rate 5 " + "y" * 600, "That comment is too long — keep it under 500 characters"),
    ("/connect foo", "/connect links your wallet; /connect switch or /connect disconnect"),
    ("/lang fr", "I speak English and German — try /lang en or /lang de"),
    ("/lang de en", "I speak English and German — try /lang en or /lang de"),
    # ssh keys
    ("/sshkey ssh-ed25519", NOT_A_KEY),
    ("/sshkey ssh-ed25519 notbase64!!", NOT_A_KEY),
    ("/sshkey ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMVFUHF", NOT_A_KEY),  # bad padding
    (f"/sshkey SSH-ED25519 {ED25519}", NOT_A_KEY),
    (f'/sshkey command="rm -rf /" ssh-ed25519 {ED25519}', NOT_A_KEY),
    (f'/sshkey no-pty,command="sh" ssh-ed25519 {ED25519}', NOT_A_KEY),
    (
        f"/sshkey ssh-ed25519 {ED25519} a\nssh-ed25519 {ED25519}",
        f"Send one key on a single line — {KEY_HELP}",
    ),
    (f"/sshkey ssh-ed25519 {ED25519}\rx", f"Send one key on a single line — {KEY_HELP}"),
    (f"/sshkey ssh-rsa {ED25519}", DAMAGED_KEY),  # the blob says ssh-ed25519
    (f"/sshkey ssh-ed25519 {_key(b'ssh-ed25519', bytes(31))}", DAMAGED_KEY),
    (f"/sshkey ssh-ed25519 {_key(b'ssh-ed25519', bytes(32), b'x')}", DAMAGED_KEY),
    (f"/sshkey ssh-ed25519 {TRUNCATED_BLOB}", DAMAGED_KEY),
    (f"/sshkey ecdsa-sha2-nistp256 {_key(b'ecdsa-sha2-nistp256', b'nistp384', b'x')}", DAMAGED_KEY),
    (f"/sshkey ssh-rsa {RSA_1024}", "That RSA key has 1024 bits; 2048 at least — or use ed25519"),
    (
        "/sshkey ssh-dss AAAAB3NzaC1kc3M=",
        "DSA keys are no longer safe — make one with: ssh-keygen -t ed25519",
    ),
    (
        "/sshkey -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n",
        "That is a PRIVATE key — never share it. Send the .pub file instead.",
    ),
    (
        f"/sshkey ssh-ed25519 {ED25519} {'c' * 120}",
        "The comment after the key is too long — keep it under 100 characters",
    ),
    (
        f"/sshkey ssh-ed25519 {ED25519} {'c' * 5000}",
        "That is too long (5,089 characters); a command fits in 4,096",
    ),
    # providers
    ("/register 0x123", "'0x123' is not a wallet address — it is 0x and 40 hex characters"),
    ("/register 0x" + "0" * 40, "That is the zero address; payouts sent there are lost forever"),
    (
        "/register 0xZZ08400098527886E0F7030069857D2E4169EE7",
        "'0xZZ08400098527886E0F7030069857D2E4169E…' is not a wallet address — it is 0x and 40 hex characters",
    ),
    (
        f"/register {ADDRESS} {ADDRESS}",
        f"'{ADDRESS[:39]}…' is not a wallet address — it is 0x and 40 hex characters",
    ),
    ("/addmachine", "Name the machine, and optionally its region: /addmachine box1 region=eu"),
    (
        "/addmachine box1 eu extra",
        "Name the machine, and optionally its region: /addmachine box1 region=eu",
    ),
    (
        "/addmachine my box",
        "A machine name is one word, and a region is written region=…: "
        "/addmachine my-box or /addmachine my region=eu",
    ),
    (
        "/addmachine bad/name",
        "'bad/name' is not a machine name — use 1 to 32 letters, digits, '.', '_' or '-'",
    ),
    (
        "/addmachine " + "n" * 33,
        f"'{'n' * 33}' is not a machine name — use 1 to 32 letters, digits, '.', '_' or '-'",
    ),
    (
        "/addmachine box1 region=Mars",
        "Unknown region 'mars' — use one of: " + REGION_CODES + REGION_TAIL,
    ),
    ("/machines x", "/machines takes nothing after it — just send /machines"),
    ("/earnings now", "/earnings takes nothing after it — just send /earnings"),
    ("/price", "Which machine and what price? Try /price box1 0.65 (dollars per GPU-hour)"),
    ("/price box1", "What price per GPU-hour? Try /price box1 0.65"),
    (
        "/price 0.65",
        "Which machine? Try /price box1 0.65 (dollars per GPU-hour) — /machines lists yours",
    ),
    ("/price box1 0", "A price must be more than $0 — '0' is not"),
    ("/price box1 abc", "'abc' is not an amount; write it like 0.65 or $0.65"),
    ("/price box1 " + "9" * 30, f"'{'9' * 30}' is not an amount; write it like 0.65 or $0.65"),
    ("/price box1 4900 0.65", "Unknown GPU '4900' — did you mean RTX 4090?"),
    ("/pause a b", "/pause takes one machine name, or none for all: /pause box1"),
    (
        "/resume bad/name",
        "'bad/name' is not a machine name — use 1 to 32 letters, digits, '.', '_' or '-'",
    ),
    ("/help rnet", "No help on 'rnet' — did you mean /help rent?"),
    ("/help zzzzzz", "No help on 'zzzzzz' — send /help for everything"),
    ("/rent #17", "For how long? Try: /rent #17 3h"),
    ("/rent #1 #2 3h", "One listing at a time — #1 or #2?"),
    ("/rent 4090 3h ports=22", "Port 22 is the instance's own SSH, always there — leave it out"),
    ("/rent 4090 3h ports=80,80", "Port 80 is named twice — name it once"),
    ("/rent 4090 3h ports=0", "'0' is not a port number — use 1 to 65535, like ports=8080,6006"),
    ("/rent 4090 3h ports=70000",
     "'70000' is not a port number — use 1 to 65535, like ports=8080,6006"),
    ("/rent 4090 3h ports=1,2,3,4,5,6,7,8,9",
     "At most 8 ports can be published — you named 9"),
    ("/rent 4090 3h ports=", "'ports=' needs a value — try: /rent 4090 3h"),
    ("/rent 4090 3h disk=0", "'0' is not a valid disk size in GB — use 1 to 100000"),
    ("/rent 4090 3h disk=-20", "'-20' is not a valid disk size in GB — use 1 to 100000"),
    ("/rent 4090 3h disk=1000000",
     "'1000000' is not a valid disk size in GB — use 1 to 100000"),
    ("/rent 4090 3h image=Big/Name",
     "'Big/Name' is not an image — name a template (image=pytorch) or an image like "
     "ghcr.io/me/train:v2"),
    ("/rent 4090 3h image=", "Which image? Name a template (image=pytorch) or an image like "
     "ghcr.io/me/train:v2"),
    ("/rent 4090 3h template=a_b",
     "'a_b' is not a template name — use letters, digits and dashes, like template=pytorch "
     "(/templates lists them)"),
    ("/rent 4090 3h image=pytorch template=jupyter",
     "One image or template at a time — like image=pytorch or template=jupyter"),
    ("/gpus cuda>=new", "'new' is not a CUDA version — write it like cuda>=12.4"),
    ("/gpus ram>=0", "'0' is not a valid memory size — use 1 to 65536"),
    ("/templates 4090 #3",
     "/templates takes a GPU model or a listing number, like /templates 4090 or /templates #17"),
    ("/gpus ports=80", "'ports=80' doesn't fit here — try: /gpus 4090 max=$1.20 region=eu"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), REJECTED, ids=[t[:40] for t, _ in REJECTED])
def test_rejects_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(GrammarError) as caught:
        parse(text)
    assert caught.value.user_message == message
    assert not isinstance(caught.value, AmbiguousChoice)


@pytest.mark.parametrize("text", ["/rent a100 3h", "/gpus a100", "/price box1 a100 1.10"])
def test_ambiguous_gpu_asks_which_one(text: str) -> None:
    with pytest.raises(AmbiguousChoice) as caught:
        parse(text)
    assert caught.value.user_message == "'a100' matches several GPUs — which one?"
    assert caught.value.choices == ["A100 40GB", "A100 80GB"]
    choice = caught.value.choices[1]
    assert parse(f"/rent {choice} 3h") == RentArgs(model="a100-80gb", duration_s=3 * H)


def test_sshkey_accepts_a_long_rsa_key_beyond_the_normal_limit() -> None:
    line = f"ssh-rsa {_rsa(8192)} me@big"
    assert len(line) > MAX_INPUT_CHARS
    assert parse(f"/sshkey {line}") == SshKey(public_key=line)


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("rent", "4090 3h", RentArgs(model="rtx4090", duration_s=3 * H)),
        ("/RENT", " 3h  4090 ", RentArgs(model="rtx4090", duration_s=3 * H)),
        ("gpus", "", gpus()),
        ("ssh_key", "", SshKey()),
        ("add-machine", "box1", AddMachine(machine="box1")),
        ("extend", "2h", Extend(duration_s=2 * H)),
    ],
)
def test_parse_args_for_front_ends_that_split_the_name(
    name: str, args: str, expected: Command
) -> None:
    assert parse_args(name, args) == expected


def test_parse_args_errors() -> None:
    with pytest.raises(GrammarError, match="^Unknown command /rnet — did you mean /rent"):
        parse_args("rnet", "4090 3h")
    with pytest.raises(GrammarError, match=r"^That is too long \(5,000 characters\)"):
        parse_args("rent", "x" * 5000)
    with pytest.raises(GrammarError, match="^0h is too short"):
        parse_args("rent", "4090 0h")


def test_registry_is_complete_and_split_by_role() -> None:
    assert set(RENTER_COMMANDS) | set(PROVIDER_COMMANDS) == set(COMMANDS)
    assert not set(RENTER_COMMANDS) & set(PROVIDER_COMMANDS)
    for name, cls in COMMANDS.items():
        assert cls.name == name and issubclass(cls, Command)
        assert name.isascii() and name.isalnum() and name.islower()  # valid Telegram command


def test_commands_are_frozen() -> None:
    command = parse("/rent 4090 3h")
    with pytest.raises(AttributeError):
        command.model = "h100"  # type: ignore[misc]


def test_hostile_input_is_fast() -> None:
    started = time.perf_counter()
    for text in (
        "/rent " + "4090 " * 199,
        "/rent " + "a" * 994,
        "/gpus " + "max=" * 248,
        "/rent " + "1h " * 330,
        "/rent " + "\ufdfa" * 990,  # NFKC grows this 18-fold
        "/sshkey ssh-rsa " + "A" * 4000,
        "/" + "\x00" * 999,
    ):
        with pytest.raises(GrammarError):
            parse(text)
    assert time.perf_counter() - started < 2.0


_NAMES = sorted(set(COMMANDS) | {"gpu", "key", "ssh_key", "RENT", "Rent@Bot"})
_TOKENS = st.one_of(
    st.sampled_from(
        [
            "4090",
            "rtx",
            "a100",
            "80gb",
            "3h",
            "1,5h",
            "-3h",
            "0h",
            "2x",
            "x9",
            "max=$1",
            "max=",
            "region=eu",
            "vram>=48",
            ">=48gb",
            "<$1",
            "rel>=95",
            "sort=vram",
            "page=0",
            "verified",
            "for",
            "hours",
            "and",
            "r12",
            "#0",
            "★★★",
            "ssh-ed25519",
            ED25519,
            "0x" + "a" * 40,
            "under",
            "=",
            ">",
            "$",
            ",",
            ".",
            "\x00",
            "\n",
            "９",
            "٣",
        ]
    ),  # fmt: skip
    st.text(max_size=12),
    st.from_regex(r"[0-9.,$x]{1,30}[a-z%]{0,3}", fullmatch=True),
)
_COMMAND_TEXT = st.builds(
    lambda slash, name, tokens: f"{slash}{name} " + " ".join(tokens),
    st.sampled_from(["/", "", "／"]),
    st.sampled_from(_NAMES),
    st.lists(_TOKENS, max_size=8),
)


def _only_commands_or_grammar_errors(text: str) -> None:
    try:
        result = parse(text)
    except GrammarError as exc:
        assert exc.user_message and len(exc.user_message) < 300
        assert "\x00" not in exc.user_message
    else:
        assert isinstance(result, Command) and result.name in COMMANDS


@given(st.text(max_size=200))
@settings(max_examples=400, deadline=None)
def test_any_text_gives_a_command_or_a_grammar_error(text: str) -> None:
    _only_commands_or_grammar_errors(text)


@given(_COMMAND_TEXT)
@settings(max_examples=1000, deadline=None)
def test_command_like_text_gives_a_command_or_a_grammar_error(text: str) -> None:
    _only_commands_or_grammar_errors(text)


@given(st.sampled_from(sorted(COMMANDS)), st.text(max_size=100))
@settings(max_examples=400, deadline=None)
def test_parse_args_gives_a_command_or_a_grammar_error(name: str, args: str) -> None:
    try:
        result = parse_args(name, args)
    except GrammarError:
        return
    assert result.name == name
