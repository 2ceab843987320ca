"""Who is on the other end of a request, for rate limits: the peer, or the client a trusted
reverse proxy names.

Behind the nginx of docs/production.md every request comes from the proxy's address, so a
limit keyed on the peer would put all users into one bucket (and a few junk posts would lock
everybody out). ``X-Forwarded-For`` is believed only as far as it was written by proxies we
trust: walking it from the right, every hop that is a trusted proxy is skipped, and the first
address that is not is the client. Anything left of that was written by the client itself and
is ignored, so a client cannot choose its own bucket. IPv6 clients are keyed by their /64:
one host gets a whole /64 and could otherwise take a fresh bucket per request.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
LOOPBACK = ("127.0.0.0/8", "::1/128")


def parse_networks(spec: str | Iterable[str]) -> tuple[IpNetwork, ...]:
    """``"127.0.0.1, 10.0.0.0/8"`` → networks; raises ValueError naming a bad entry."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    networks = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or network: {item!r}") from None
    return tuple(networks)


@dataclass(frozen=True)
class ClientAddress:
    trusted_proxies: tuple[IpNetwork, ...] = ()

    def key(self, peer: str | None, forwarded_for: str | None) -> str:
        """The rate-limit key of a request from ``peer`` with that X-Forwarded-For header."""
        client = _address(peer)
        if client is None:
            return "-"
        if forwarded_for and self._trusted(client):
            for hop in reversed(forwarded_for.split(",")):
                address = _address(hop.strip())
                if address is None:
                    break  # garbage a client wrote: the last good hop is as far as we go
                client = address
                if not self._trusted(address):
                    break
        return _bucket(client)

    def _trusted(self, address: IpAddress) -> bool:
        return any(address in network for network in self.trusted_proxies)


def _address(text: str | None) -> IpAddress | None:
    if not text:
        return None
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "192.0.2.1:443"
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _bucket(address: IpAddress) -> str:
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)
