"""The rate-limit key of a request: the peer, or the client that trusted proxies name."""

from __future__ import annotations

import pytest

from bot.settings import Settings
from bot.web.client_address import LOOPBACK, ClientAddress, parse_networks

BEHIND_NGINX = ClientAddress(parse_networks(LOOPBACK))


def test_a_direct_client_is_its_peer_and_cannot_name_another_address():
    assert BEHIND_NGINX.key("198.51.100.7", None) == "198.51.100.7"
    assert BEHIND_NGINX.key("198.51.100.7", "203.0.113.5") == "198.51.100.7"


def test_behind_trusted_proxies_the_first_untrusted_hop_from_the_right_is_the_client():
    assert BEHIND_NGINX.key("127.0.0.1", "203.0.113.5") == "203.0.113.5"
    # what the client wrote itself (left of its own address) is ignored
    assert BEHIND_NGINX.key("127.0.0.1", "1.2.3.4, 203.0.113.5") == "203.0.113.5"
    two_proxies = ClientAddress(parse_networks("127.0.0.1, 10.0.0.0/8"))
    assert two_proxies.key("127.0.0.1", "1.2.3.4, 203.0.113.5, 10.1.2.3") == "203.0.113.5"
    assert two_proxies.key("127.0.0.1", "garbage, 10.1.2.3") == "10.1.2.3"


def test_ipv6_clients_share_a_bucket_per_64_and_mapped_ipv4_is_ipv4():
    a = BEHIND_NGINX.key("127.0.0.1", "2001:db8:1:2::1")
    b = BEHIND_NGINX.key("127.0.0.1", "2001:db8:1:2:ffff::9")
    assert a == b == "2001:db8:1:2::/64"
    assert BEHIND_NGINX.key("::ffff:198.51.100.7", None) == "198.51.100.7"
    assert BEHIND_NGINX.key(None, "203.0.113.5") == "-"


def test_a_bad_trusted_proxies_setting_is_refused_at_start_naming_the_entry():
    with pytest.raises(ValueError, match="not-an-ip"):
        Settings(trusted_proxies="127.0.0.1, not-an-ip")
    assert Settings(trusted_proxies="").trusted_proxies == ""
