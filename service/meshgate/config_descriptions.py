"""One sentence per configuration key, for the generated reference (`docs/configuration.md`).

One key per line, `key: description`; an indented line continues the description above it.
"""

from __future__ import annotations

_TEXT = """
grpc.listen: Where the gRPC API listens: `unix:/path/to.sock` beside the broker, or `host:port`; an
  address other than loopback needs mutual TLS (`tls_*`) or `insecure_plaintext_network`, else the service
  refuses to start.
grpc.max_concurrent_rpcs: Calls served at once; further calls are refused with RESOURCE_EXHAUSTED.
grpc.workers: Threads answering unary calls (CPU-bound: a few per core); `watch_streams` adds its own.
grpc.queue_per_method: Calls of one method waiting for a worker; the next is refused at once with
  RESOURCE_EXHAUSTED (the shim asks again after a backoff), instead of waiting past its deadline.
grpc.watch_streams: WatchRevision streams served at once, each holding a thread (one per broker shim).
grpc.watch_streams_per_client: Of those, how many one client may hold: one client-certificate identity
  (mutual TLS) or one IP address; the pod's own processes (Unix socket, loopback) are not limited.
grpc.watch_reserved_clients: Client-certificate identities (e.g. the brokers' SPIFFE IDs) that each have
  one WatchRevision slot kept free while they follow none, so other clients cannot crowd a broker out.
  Needs mutual TLS.
grpc.max_message_bytes: Largest request or response message accepted.
grpc.tls_cert: Serving certificate chain (PEM). With `tls_key`, the gRPC port speaks TLS; re-read on change.
grpc.tls_key: Private key of `tls_cert` (PEM); a rotated pair must match or the old one stays in use.
grpc.tls_client_ca: CA bundle client certificates must chain to; required with `tls_cert` (always mutual TLS).
grpc.insecure_plaintext_network: INSECURE. Allow `listen` on a network address (not `unix:`, not loopback)
  without mutual TLS: anyone who reaches the port may ask about any principal, and a peer address is all
  that tells clients apart. Without it such a listener refuses to start; with it, every start logs a
  warning. Only for a network isolated by other means.
http.listen: `host:port` for /healthz, /readyz, /metrics (port 0 picks a free one); empty disables HTTP.
http.policy_endpoints: Also serve the read-only `/v1/explain` and `/v1/who-can` (they reveal the policy).
policy.dir: Folder of policy YAML files and their `*_test.yaml` suites (a git-sync checkout).
policy.superusers: Principals allowed everything, e.g. the broker's own identity; never an SSO principal
  `oidc:...` (see docs/policy.md).
policy.watch: Reload the folder when it changes (compile, run the suites, then swap); false loads once.
policy.require_at_start: No valid policy at start-up is fatal; by default serve waits for one, denying all.
identity.trust_bundles: CA bundles as `TRUST_DOMAIN=FILE` or `FILE`; re-read when the files change.
identity.max_skew_seconds: Clock skew tolerated on certificate validity.
identity.linkerd.control_plane_namespace: Namespace of Linkerd's control plane, part of its identity names.
identity.linkerd.trust_domain: The mesh's trust domain (Linkerd `identityTrustDomain`).
identity.l5d_client_id: Accept the `l5d-client-id` header from a loopback peer (see docs/identity.md).
identity.cache_size: Verified certificate chains kept (LRU); an entry lives until the chain expires.
identity.workload_api.enabled: Take trust bundles (own and federated trust domains) from the SPIFFE Workload
  API, streamed, instead of `trust_bundles` files; the last good bundles stay while the agent is unreachable.
identity.workload_api.socket: The agent's socket, `unix:///path`; empty reads `SPIFFE_ENDPOINT_SOCKET`.
identity.workload_api.start_timeout_seconds: Wait this long at start for the first bundles; after that the
  service runs not ready (every certificate refused) until they arrive.
oidc.issuers: Token issuers (SSO or Kubernetes service-account tokens); see docs/oidc.md.
oidc.issuers[].issuer: Expected `iss`, compared exactly.
oidc.issuers[].jwks_url: Where the signing keys are; set this or `discovery_url`.
oidc.issuers[].discovery_url: OpenID discovery document that names `jwks_uri`.
oidc.issuers[].audiences: Accepted `aud` values; at least one.
oidc.issuers[].algorithms: Accepted signature algorithms (asymmetric only).
oidc.issuers[].kind: `sso` (people, mapped by `principal`), `kubernetes` (service accounts) or `spiffe`
  (JWT-SVIDs: `sub` is the workload's SPIFFE ID; without a key URL, keys from the Workload API).
oidc.issuers[].leeway_seconds: Clock leeway on `exp`/`nbf`/`iat` (at most 300).
oidc.issuers[].principal: Template for the principal of an SSO token, from its claims; starts with the
  literal `oidc:` (docs/oidc.md).
oidc.issuers[].expose_claims: Claims handed to the policy as attributes, e.g. `groups`.
oidc.issuers[].trust_domain: Trust domain of the SPIFFE principal made from a Kubernetes token; for `spiffe`
  (required there) the only trust domain whose JWT-SVIDs the issuer vouches for.
oidc.issuers[].same_cluster_as: Kubernetes issuers only: another issuer of the same cluster; required when
  two issuers map into one trust domain (docs/oidc.md).
oidc.issuers[].require_kid: Refuse tokens without `kid`; false lets a single-key issuer omit it.
oidc.max_token_bytes: Longest token accepted; checked before decoding.
oidc.refresh_default_seconds: JWKS refresh interval when the response has no Cache-Control max-age.
oidc.refresh_min_seconds: Lower clamp of the JWKS refresh interval.
oidc.refresh_max_seconds: Upper clamp of the JWKS refresh interval.
oidc.retry_seconds: Next JWKS fetch after a failed one.
oidc.max_stale_seconds: Keys older than this deny every token and make the instance not ready.
oidc.unknown_kid_interval_seconds: At most one refetch per issuer per interval for an unknown `kid`.
oidc.unknown_kid_wait_seconds: How long a request waits for that refetch.
oidc.fetch_timeout_seconds: Timeout of one JWKS or discovery fetch.
oidc.max_jwks_bytes: Largest JWKS document accepted.
oidc.token_cache_size: Verified tokens kept (LRU, keyed by hash); 0 disables the cache.
oidc.token_cache_ttl_seconds: A cached verification lives min(exp, this).
oidc.max_delegation_depth: Most actors a delegated token (RFC 8693 `act`) may name, nested ones included;
  0 refuses every delegated token (docs/oidc.md).
audit.enabled: Write decision and authentication records to the configured sinks.
audit.allow_sample_rate: Share of allows and successful logins written (0..1); denials always are.
audit.queue_size: Records buffered per sink; a full queue drops (counted), it never delays a decision.
audit.stdout: One JSON line per record on standard output (for a node log collector).
audit.file.path: JSON lines file; unset disables the file sink.
audit.file.max_bytes: Rotate the file when it would grow past this size.
audit.file.backups: Rotated files kept (`audit.jsonl.1` … `.N`); `0` never rotates.
audit.pulsar.service_url: Broker URL for the topic sink (`pulsar+ssl://…`); empty disables it.
audit.pulsar.topic: Topic the records are produced to; the sink's identity needs `topic.produce` on it.
audit.pulsar.tls_cert: Client certificate the sink authenticates with (Pulsar AuthenticationTLS).
audit.pulsar.tls_key: Private key of `tls_cert`.
audit.pulsar.tls_trust_certs: CA bundle that verifies the broker's serving certificate.
audit.pulsar.batch_max_messages: A producer batch closes at this many records …
audit.pulsar.batch_delay_ms: … or after this many milliseconds.
audit.pulsar.reconnect_seconds: Wait between attempts to create the producer while the broker is away.
"""


def _parse(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    key = ""
    for line in text.strip().splitlines():
        if line.startswith("  "):
            found[key] += " " + line.strip()
        else:
            key, _, description = line.partition(": ")
            found[key] = description
    return found


DESCRIPTIONS: dict[str, str] = _parse(_TEXT)
