"""A gRPC listener the network can reach needs mutual TLS, or an explicit, loudly logged opt-out; watch
slots are shared out per client."""

from __future__ import annotations

from pathlib import Path

import pytest
from meshgate.config.service import load_config, parse_config
from meshgate.errors import ConfigError
from meshgate.server.config import is_local_listen

BASE = Path("/etc/meshgate")
TLS = {"tls_cert": "tls.crt", "tls_key": "tls.key", "tls_client_ca": "ca.crt"}


@pytest.mark.parametrize(
    "listen", ["0.0.0.0:50051", "[::]:50051", ":50051", "10.0.0.5:50051", "meshgate.pulsar.svc:50051"]
)
def test_a_plaintext_network_listener_refuses_to_start(listen: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config({"grpc": {"listen": listen}}, BASE)
    assert refused.value.message == (
        f"grpc.listen: {listen!r} is reachable from the network without mutual TLS, so anyone who can "
        "connect may ask about any principal and hold the WatchRevision streams; listen on unix:/path "
        "(beside the broker) or a loopback address, or set grpc.tls_cert, grpc.tls_key and "
        "grpc.tls_client_ca; only on a network isolated by other means, set "
        "grpc.insecure_plaintext_network: true"
    )


def test_the_environment_cannot_slip_past_the_check() -> None:
    with pytest.raises(ConfigError, match="reachable from the network without mutual TLS"):
        load_config(None, env={"MESHGATE_GRPC__LISTEN": "0.0.0.0:50051"})


@pytest.mark.parametrize(
    "listen",
    ["unix:/var/run/meshgate/meshgate.sock", "unix-abstract:meshgate", "127.0.0.1:0", "127.0.0.2:1",
     "[::1]:1", "localhost:50051"],
)  # fmt: skip
def test_local_listeners_need_no_tls(listen: str) -> None:
    assert is_local_listen(listen)
    assert not parse_config({"grpc": {"listen": listen}}, BASE).grpc.plaintext_network


def test_a_network_listener_with_mutual_tls_or_the_opt_out_starts() -> None:
    secured = parse_config({"grpc": {"listen": "0.0.0.0:50051", **TLS}}, BASE).grpc
    assert not secured.plaintext_network
    opted_out = parse_config({"grpc": {"listen": "0.0.0.0:50051", "insecure_plaintext_network": True}}, BASE)
    assert opted_out.grpc.plaintext_network and opted_out.grpc.insecure_plaintext_network


@pytest.mark.parametrize(
    ("grpc", "message"),
    [
        ({"watch_reserved_clients": ["spiffe://td/ns/pulsar/sa/broker"]},
         "grpc.watch_reserved_clients: names client-certificate identities, so it needs mutual TLS "
         "(grpc.tls_cert, grpc.tls_key, grpc.tls_client_ca)"),
        ({"watch_reserved_clients": ["a", "b"], "watch_streams": 1, **TLS},
         "grpc.watch_reserved_clients: 2 reserved clients need at least as many grpc.watch_streams "
         "(it is 1)"),
        ({"watch_streams_per_client": 0}, "grpc.watch_streams_per_client: must be an integer in [1, 1024]"),
        ({"insecure_plaintext_network": "yes"}, "grpc.insecure_plaintext_network: must be true or false"),
    ],
)  # fmt: skip
def test_watch_and_exposure_settings_name_the_key(grpc: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"grpc": grpc}, BASE)
    assert err.value.message == message
