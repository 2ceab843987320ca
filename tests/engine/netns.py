"""A private network for one harness: the provider host's namespace, its LAN link and a "WAN".

::

    host namespace                 provider namespace rs-XXXXXX         wan namespace rs-XXXXXX-w
    rs-XXXXXX  10.213.n.1/30 <-veth-> lan0 10.213.n.2/30
    ("the provider's LAN",          default via 10.213.n.1
     where renters come from)      ip_forward=1
                                   wan0 192.0.2.2/24 <-veth-> eth0 192.0.2.1/24 (TEST-NET-1)

The engines run inside the provider namespace, so their bridges and iptables rules never touch
the host. 192.0.2.1 stands for "somewhere on the internet": a container can be shown to reach
it while private ranges (the LAN at .1) are refused. The host never forwards what comes out of
the namespace (forwarding is switched off on the host end of the veth), so nothing leaves the
machine even where the host has ``ip_forward`` on.

Namespaces are entered with ``nsenter --net=`` and never ``ip netns exec``: the latter remounts
/sys in a private mount namespace and hides the cgroup v1 hierarchies dockerd needs.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import ipaddress
import os
import secrets
import socket
import subprocess
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.engine.daemons import HarnessError, kill_pids

LAN_POOL = ipaddress.IPv4Network("10.213.0.0/16")
WAN_ADDRESS = "192.0.2.1"
WAN_PEER_ADDRESS = "192.0.2.2"
WAN_PREFIX = 24
NETNS_DIR = Path("/run/netns")
_CLONE_NEWNET = 0x40000000
# Two harnesses starting at once must not pick the same /30.
_ALLOCATION_LOCK = Path("/run/lock/rigshare-test-netns.lock")


@dataclass(frozen=True)
class ProviderNetwork:
    netns: str  # the provider host's namespace; engines and the registry run in it
    wan_netns: str
    host_veth: str  # host end of the LAN link (named like the namespace)
    lan_address: str  # host end: the provider's LAN, where renters come from
    host_address: str  # namespace end: the provider host renters connect to
    lan_network: str
    wan_address: str = WAN_ADDRESS


def netns_path(name: str) -> Path:
    return NETNS_DIR / name


def in_netns(netns: str | None, argv: Sequence[str]) -> list[str]:
    """``argv`` run inside ``netns`` (None: the host's own namespace)."""
    if netns is None:
        return list(argv)
    return ["nsenter", f"--net={netns_path(netns)}", "--", *argv]


def run_in_netns(
    netns: str | None, argv: Sequence[str], *, timeout: float = 60.0, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` inside ``netns`` and capture its output as text."""
    return subprocess.run(
        in_netns(netns, argv), capture_output=True, text=True, timeout=timeout, check=check
    )


def socket_in_netns(netns: str, family: int = socket.AF_INET) -> socket.socket:
    """A TCP socket created inside ``netns``, for use from this process.

    A socket keeps the namespace it was created in, so a short-lived thread enters the
    namespace (setns affects only the calling thread), creates the socket and ends; the caller
    then connects it to addresses only that namespace can reach (its 127.0.0.1, for example).
    """
    made: list[socket.socket | BaseException] = []

    def create() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            with netns_path(netns).open("rb") as ns:
                if libc.setns(ns.fileno(), _CLONE_NEWNET) != 0:
                    errno = ctypes.get_errno()
                    raise OSError(errno, f"setns {netns}: {os.strerror(errno)}")
            made.append(socket.socket(family, socket.SOCK_STREAM))
        except BaseException as exc:  # handed to the caller's thread
            made.append(exc)

    thread = threading.Thread(target=create, name=f"setns-{netns}")
    thread.start()
    thread.join()
    if isinstance(made[0], BaseException):
        raise made[0]
    return made[0]


def create_provider_network() -> ProviderNetwork:
    """Build both namespaces and links; HarnessError (after cleaning up) when a step fails."""
    name = f"rs-{secrets.token_hex(3)}"
    wan = f"{name}-w"
    _ip("netns", "add", name)
    try:
        _ip("netns", "add", wan)
        with _allocation_lock():
            lan = _free_slash30()
            lan_address, host_address = (str(a) for a in lan.hosts())
            _ip("link", "add", name, "type", "veth", "peer", "name", "lan0", "netns", name)
            _ip("addr", "add", f"{lan_address}/30", "dev", name)
        # Set before the link is up so that not one packet from the namespace is forwarded.
        Path(f"/proc/sys/net/ipv4/conf/{name}/forwarding").write_text("0")
        _ip("link", "set", name, "up")
        _ipn(name, "link", "set", "lo", "up")
        _ipn(name, "addr", "add", f"{host_address}/30", "dev", "lan0")
        _ipn(name, "link", "set", "lan0", "up")
        _ipn(name, "route", "add", "default", "via", lan_address)
        _ipn(name, "link", "add", "wan0", "type", "veth", "peer", "name", "eth0", "netns", wan)
        _ipn(name, "addr", "add", f"{WAN_PEER_ADDRESS}/{WAN_PREFIX}", "dev", "wan0")
        _ipn(name, "link", "set", "wan0", "up")
        _ipn(wan, "link", "set", "lo", "up")
        _ipn(wan, "addr", "add", f"{WAN_ADDRESS}/{WAN_PREFIX}", "dev", "eth0")
        _ipn(wan, "link", "set", "eth0", "up")
        _ipn(wan, "route", "add", "default", "via", WAN_PEER_ADDRESS)
        _check(in_netns(name, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]))
    except BaseException:
        _delete(name, wan, name)
        raise
    return ProviderNetwork(
        netns=name,
        wan_netns=wan,
        host_veth=name,
        lan_address=lan_address,
        host_address=host_address,
        lan_network=str(lan),
    )


def delete_provider_network(network: ProviderNetwork) -> None:
    """Kill whatever still runs in the namespaces, then delete them and the host's veth end."""
    _delete(network.netns, network.wan_netns, network.host_veth)


def pids_in_netns(netns: str) -> list[int]:
    """Processes whose network namespace is ``netns`` (all of them were started by us)."""
    try:
        target = os.stat(netns_path(netns))
    except FileNotFoundError:
        return []
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ns = os.stat(entry / "ns" / "net")
        except OSError:
            continue
        if (ns.st_dev, ns.st_ino) == (target.st_dev, target.st_ino):
            found.append(int(entry.name))
    return found


def _delete(netns: str, wan_netns: str, host_veth: str) -> None:
    for name in (netns, wan_netns):
        kill_pids(pids_in_netns(name))
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
    # Deleting the namespace deletes lan0 and with it its peer; this covers a half-built one.
    subprocess.run(["ip", "link", "del", host_veth], capture_output=True, check=False)


def _free_slash30() -> ipaddress.IPv4Network:
    used = _host_networks()
    candidates = list(LAN_POOL.subnets(new_prefix=30))
    for _ in range(64):
        candidate = candidates[secrets.randbelow(len(candidates))]
        if not any(candidate.overlaps(network) for network in used):
            return candidate
    raise HarnessError(f"no free /30 in {LAN_POOL} after 64 tries")


def _host_networks() -> list[ipaddress.IPv4Network]:
    networks = []
    addresses = _check(["ip", "-4", "-o", "addr", "show"]).splitlines()
    for line in addresses:
        fields = line.split()
        networks.append(ipaddress.IPv4Interface(fields[fields.index("inet") + 1]).network)
    for line in _check(["ip", "-4", "route", "show", "table", "all"]).splitlines():
        destination = line.split()[0]
        if destination[0].isdigit():
            networks.append(ipaddress.IPv4Network(destination, strict=False))
    return networks


@contextlib.contextmanager
def _allocation_lock() -> Iterator[None]:
    _ALLOCATION_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with _ALLOCATION_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _ip(*args: str) -> str:
    return _check(["ip", *args])


def _ipn(netns: str, *args: str) -> str:
    return _check(["ip", "-n", netns, *args])


def _check(argv: list[str]) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise HarnessError(f"{' '.join(argv)}: exit {result.returncode}: {result.stderr.strip()}")
    return result.stdout
