"""The config sections this service adds for operations: fail fast, name the key, env overrides nest."""

from __future__ import annotations

from pathlib import Path

import pytest
from meshgate.config.service import load_config, parse_config
from meshgate.errors import ConfigError

BASE = Path("/etc/meshgate")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"grpc": {"tls_cert": "c.pem"}}, "grpc.tls_cert and grpc.tls_key: set both or neither"),
        ({"grpc": {"tls_client_ca": "ca.pem"}}, "grpc.tls_client_ca: set it together with grpc.tls_cert"),
        ({"grpc": {"tls_cert": "c.pem", "tls_key": "k.pem"}}, "grpc.tls_client_ca: set it together with"),
        ({"http": {"listen": "9090"}}, "http.listen: '9090' must be host:port"),
        ({"http": {"port": 1}}, "http.port: unknown key"),
        ({"audit": {"allow_sample_rate": 2}}, "audit.allow_sample_rate: must be a number in [0, 1]"),
        ({"audit": {"queue_size": 0}}, "audit.queue_size: must be an integer in [1, 1000000]"),
        ({"audit": {"file": {"rotate": True}}}, "audit.file.rotate: unknown key"),
        ({"audit": {"file": "x"}}, "audit.file: must be a mapping"),
        (
            {"audit": {"pulsar": {"service_url": "http://b:8080"}}},
            "audit.pulsar.service_url: must start with",
        ),
        ({"audit": {"pulsar": {"tls_key": "k"}}}, "audit.pulsar.tls_cert and audit.pulsar.tls_key"),
        (
            {"identity": {"trust_bundles": ["a.pem"], "workload_api": {"enabled": True}}},
            "identity.workload_api.enabled: trust bundles come either from the SPIFFE Workload API or from",
        ),
        (
            {"identity": {"workload_api": {"socket": "/run/spire/agent.sock"}}},
            "identity.workload_api.socket: '/run/spire/agent.sock' is not a unix: address",
        ),
        ({"identity": {"workload_api": {"watch": True}}}, "identity.workload_api.watch: unknown key"),
    ],
)
def test_invalid_values_name_the_key(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(raw, BASE)
    assert message in str(err.value)


def test_paths_are_relative_to_the_config_file() -> None:
    config = parse_config(
        {
            "grpc": {"tls_cert": "tls/tls.crt", "tls_key": "tls/tls.key", "tls_client_ca": "/ca/ca.crt"},
            "audit": {"file": {"path": "audit.jsonl"}, "pulsar": {"service_url": "pulsar+ssl://b:6651"}},
        },
        BASE,
    )
    assert config.grpc.tls_cert == BASE / "tls/tls.crt" and config.grpc.tls_client_ca == Path("/ca/ca.crt")
    assert config.audit.file.path == BASE / "audit.jsonl"
    assert config.audit.sinks == ("file", "pulsar")


def test_env_overrides_reach_nested_keys() -> None:
    env = {
        "MESHGATE_AUDIT__FILE__PATH": "/var/log/meshgate/audit.jsonl",
        "MESHGATE_AUDIT__ALLOW_SAMPLE_RATE": "0.25",
        "MESHGATE_HTTP__LISTEN": "0.0.0.0:9090",
    }
    config = load_config(None, env=env)
    assert config.audit.file.path == Path("/var/log/meshgate/audit.jsonl")
    assert config.audit.allow_sample_rate == 0.25
    assert config.http.listen == "0.0.0.0:9090"


def test_env_override_into_a_scalar_is_an_error() -> None:
    with pytest.raises(
        ConfigError, match=r"audit\.stdout: must be a mapping \(set by MESHGATE_AUDIT__STDOUT__X\)"
    ):
        load_config(None, env={"MESHGATE_AUDIT__STDOUT": "true", "MESHGATE_AUDIT__STDOUT__X": "1"})
