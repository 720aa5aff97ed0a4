"""Builds the running service from a `ServiceConfig`: verifiers, policy store, audit log, metrics, the gRPC
server with its interceptor chain, the HTTP side (health, readiness, metrics, explain) and the watchers.

Concurrency: threads only, as the synchronous gRPC server's. Each call runs in a thread of a pool of
`grpc.workers` threads plus `grpc.watch_streams` for the long-lived WatchRevision streams (the CPU per call
is less than half of grpc.aio's; see docs/bench/2026-11-26-13-authorize-batch.md); the JWKS refresh, the
policy reloader, bundle watching, the health sync and the HTTP side (`http.py`, a thread per connection)
each run on threads of their own, and what they share with the workers is thread-safe. `serve` starts and
stops the rest from the caller's thread (the main thread under `meshgate serve`, which owns the signals).
There is no event loop: the HTTP side ran on uvicorn's until finding 25 (docs/bench/, 2026-12-04).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from meshgate.audit.log import AuditLog
from meshgate.clock import Clock, SystemClock
from meshgate.config.service import ServiceConfig, workload_api_jwt_issuers
from meshgate.errors import ConfigError
from meshgate.identity import (
    CachedX509Verifier,
    FileTrustBundles,
    L5dClientIdAuthenticator,
    WatchedTrustBundles,
    X509SvidVerifier,
)
from meshgate.identity.config import IdentityConfig
from meshgate.identity.jwtbundles import WorkloadApiJwtBundles
from meshgate.identity.watcher import BundleWatcher
from meshgate.identity.workloadapi import py_spiffe_client
from meshgate.identity.workloadbundles import WorkloadApiTrustBundles
from meshgate.model import Decision
from meshgate.oidc import TokenAuthenticator
from meshgate.oidc.keys import KeySnapshot
from meshgate.policy import PolicySnapshot, PolicyStore
from meshgate.policy.reloader import PolicyReloader
from meshgate.server import hardening
from meshgate.server import readiness as rd
from meshgate.server import state_metrics as sm
from meshgate.server.admission import EXPIRED, DeadlineGuard, LoadShedder
from meshgate.server.authn import Authenticator
from meshgate.server.chain import Chain, short_name
from meshgate.server.config import GrpcConfig
from meshgate.server.decision_memo import DecisionMemo
from meshgate.server.frames import FramesListener, bind_socket
from meshgate.server.health import HealthSync
from meshgate.server.http import HttpDeps, RunningHttp, build_routes, start_http
from meshgate.server.interceptors import AUTHENTICATE_BATCH, AUTHORIZE_BATCH, ObservingInterceptor
from meshgate.server.metrics import ServiceMetrics
from meshgate.server.revision_feed import RevisionFeed
from meshgate.server.served import ServedLog
from meshgate.server.servicer import AuthenticationServicer, AuthorizationServicer
from meshgate.server.serving_tls import ReloadingServerCredentials
from meshgate.server.unixsocket import SocketState, socket_state
from meshgate.v1 import meshgate_pb2_grpc as pb_grpc

log = logging.getLogger("meshgate")
SERVICE_NAMES = ("meshgate.v1.Authentication", "meshgate.v1.Authorization")


@dataclass
class Components:
    """Everything the transports need; built once, closed once."""

    config: ServiceConfig
    authenticator: Authenticator
    policies: PolicyStore
    reloader: PolicyReloader
    bundles: WatchedTrustBundles | None = None
    tokens: TokenAuthenticator | None = None
    certificates: CachedX509Verifier | None = None
    clock: Clock = field(default_factory=SystemClock)
    audit: AuditLog = field(default_factory=lambda: AuditLog(()))
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)
    serving_tls: ReloadingServerCredentials | None = None
    jwt_bundles: WorkloadApiJwtBundles | None = None
    memo: DecisionMemo[Decision] = field(default_factory=DecisionMemo)
    stoppers: list[Callable[[], None]] = field(default_factory=list)
    served: ServedLog = field(init=False)  # the answers broker plugins report they served, into `audit`

    def __post_init__(self) -> None:
        self.served = ServedLog(self.audit)

    def readiness(self) -> rd.Readiness:
        bundles = self.bundles.status if self.bundles is not None else None
        return rd.evaluate(rd.policy_check(self.policies.ready, self.reloader.status), bundles, self._keys())

    def _keys(self) -> list[tuple[str, KeySnapshot, str]]:
        if self.tokens is None:
            return []
        keys = self.tokens.keys
        return [
            (i.issuer, keys.snapshot(i.issuer), keys.last_error(i.issuer)) for i in self.config.oidc.issuers
        ]


def build_components(config: ServiceConfig, clock: Clock | None = None) -> Components:
    clock = clock or SystemClock()
    ident = config.identity
    bundles = _trust_bundles(ident, clock)
    certificates = None
    if bundles is not None:
        verifier = X509SvidVerifier(
            bundles, clock, max_skew_seconds=ident.max_skew_seconds, linkerd=ident.linkerd
        )
        certificates = CachedX509Verifier(verifier, clock, max_entries=ident.cache_size)
    oidc = config.oidc
    tokens = None
    jwt_bundles = None
    if workload_api_jwt_issuers(oidc):
        jwt_bundles = WorkloadApiJwtBundles(py_spiffe_client(ident.workload_api.socket))
    if oidc.issuers:
        superusers = config.policy.superusers  # no SSO token may name one
        tokens = TokenAuthenticator.from_config(
            oidc.issuers, oidc.settings, clock, superusers=superusers, jwt_authorities=jwt_bundles
        )
    mesh_header = L5dClientIdAuthenticator(ident.l5d_client_id, ident.linkerd)
    authenticator = Authenticator(certificates=certificates, tokens=tokens, mesh_header=mesh_header)
    policies = PolicyStore(clock=clock)
    reloader = PolicyReloader(
        config.policy.dir,
        policies,
        superusers=config.policy.superusers,
        naming=ident.linkerd,  # Linkerd subject patterns read against the mesh's own names
        clock=clock,
    )
    if not reloader.reload_now():
        if config.policy.require_at_start:
            raise ConfigError(
                f"policy.dir: no valid policy in {config.policy.dir} and policy.require_at_start is on: "
                f"{reloader.status.last_error}"
            )
        # Keep running, NOT_SERVING and denying everything, until a valid revision lands: the Kubernetes
        # way to say "not ready", and a git-sync fix needs no restart.
        log.error("no valid policy in %s: %s", config.policy.dir, reloader.status.last_error)
    g = config.grpc
    serving = None
    if g.tls_cert and g.tls_key and g.tls_client_ca:  # config validation: all three or none
        serving = ReloadingServerCredentials(g.tls_cert, g.tls_key, g.tls_client_ca)
    components = Components(
        config, authenticator, policies, reloader, bundles, tokens, certificates, clock,
        AuditLog.from_config(config.audit), ServiceMetrics(), serving, jwt_bundles=jwt_bundles,
    )  # fmt: skip
    _register_state_metrics(components)
    return components


def _trust_bundles(ident: IdentityConfig, clock: Clock) -> WatchedTrustBundles | None:
    if ident.workload_api.enabled:
        return WorkloadApiTrustBundles(py_spiffe_client(ident.workload_api.socket), clock=clock)
    if ident.trust_bundles:
        return FileTrustBundles.from_specs(ident.trust_bundles, clock=clock)
    return None


def _register_state_metrics(c: Components) -> None:
    sources = [sm.policy(c.reloader), sm.decision_memo(c.memo), sm.audit(c.audit), sm.served(c.served)]
    sources.append(sm.readiness(c.readiness))
    if c.certificates is not None:
        sources.append(sm.x509_cache(c.certificates))
    if c.bundles is not None:
        sources.append(sm.trust_bundles(c.bundles, c.clock))
    if c.tokens is not None:
        sources += [sm.token_cache(c.tokens), sm.jwks(c.tokens, [i.issuer for i in c.config.oidc.issuers])]
    if c.serving_tls is not None:
        sources.append(sm.serving_cert(c.serving_tls.not_after))
    c.metrics.state.sources.extend(sources)


@dataclass
class RunningServer:
    server: grpc.Server
    port: int
    health: health.HealthServicer
    feed: RevisionFeed
    health_sync: HealthSync | None = None
    workers: ThreadPoolExecutor | None = None  # the server's pool; `stop` does not end its threads
    shedder: LoadShedder | None = None  # owns the refusal lane's thread
    frames: FramesListener | None = None  # the frames socket beside a `unix:` listen (docs/frames.md)

    def stop(self, grace: float | None) -> threading.Event:
        """Stop gRPC and the frames listener together; the event is set when both have stopped."""
        stopped = self.server.stop(grace)
        if self.frames is None:
            return stopped
        frames = self.frames.stop(grace)
        both = threading.Event()

        def wait_both() -> None:
            stopped.wait()
            frames.wait()
            both.set()

        threading.Thread(target=wait_both, name="meshgate-stop", daemon=True).start()
        return both


def start_grpc(components: Components) -> RunningServer:
    """Start the gRPC port and the health sync, both on threads of their own."""
    cfg = components.config.grpc
    threads = cfg.workers + cfg.watch_streams
    workers = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="meshgate-grpc")
    shedder = LoadShedder(workers, cfg.queue_per_method, components.metrics.events)
    components.metrics.state.sources.append(sm.rpc_queues(shedder))
    chain = interceptor_chain(components, shedder)
    server = grpc.server(
        workers,
        interceptors=[chain],
        maximum_concurrent_rpcs=cfg.max_concurrent_rpcs,
        options=hardening.server_options(cfg.max_message_bytes, cfg.max_concurrent_rpcs),
    )
    feed = RevisionFeed(
        lambda: _revision_or_empty(components.policies),
        slots=cfg.watch_streams,
        per_client=cfg.watch_streams_per_client,
        reserved=cfg.watch_reserved_clients,
    )
    health_servicer = health.HealthServicer()
    sync = HealthSync(health_servicer, components.readiness, SERVICE_NAMES)

    def on_swap(snapshot: PolicySnapshot) -> None:
        # Runs in the thread that swapped. Frees the old revision's answers early; the memo never serves
        # them anyway (keyed by snapshot). The memo, the feed and `poke` are thread-safe.
        components.memo.forget()
        feed.publish(snapshot.revision, snapshot.commit)
        sync.poke()

    components.stoppers.append(components.policies.subscribe(on_swap))
    servicers = _add_servicers(server, components, feed, health_servicer)
    # Before gRPC binds: grpcio replaces whatever socket file is at its path, even another serve's.
    frames = _bind_frames(cfg, chain, shedder, *servicers)
    try:
        port = _add_port(server, components)
    except BaseException:
        if frames is not None:
            frames.stop()
        raise
    if cfg.plaintext_network:  # only with grpc.insecure_plaintext_network (config validation)
        log.warning(
            "INSECURE: gRPC on %s (port %d) takes calls from the network without mutual TLS "
            "(grpc.insecure_plaintext_network: true): anyone who can connect may ask about any principal "
            "and hold WatchRevision streams; use unix:/path, a loopback address or grpc.tls_*",
            cfg.listen, port,
        )  # fmt: skip
    server.start()
    if frames is not None:
        frames.start(mode_of=cfg.unix_socket)
    sync.refresh()
    sync.start()
    components.stoppers.append(sync.stop)
    return RunningServer(server, port, health_servicer, feed, sync, workers, shedder, frames)


def _bind_frames(
    cfg: GrpcConfig,
    chain: Chain,
    shedder: LoadShedder,
    authn: AuthenticationServicer,
    authz: AuthorizationServicer,
) -> FramesListener | None:
    """The frames listener beside a plain `unix:` listen (docs/frames.md), bound but not yet accepting: the
    broker plugin's two batch calls through the gRPC chain and the gRPC method queues."""
    path = cfg.frames_socket
    if path is None:
        return None
    behaviours = {
        AUTHENTICATE_BATCH: chain.unary(AUTHENTICATE_BATCH, authn.AuthenticateBatch),
        AUTHORIZE_BATCH: chain.unary(AUTHORIZE_BATCH, authz.AuthorizeBatch),
    }
    return FramesListener(bind_socket(path), path, behaviours, shedder.submit, cfg.max_message_bytes)


def interceptor_chain(components: Components, shedder: LoadShedder | None = None) -> Chain:
    """The server's one chain: admission (a full queue is refused at once), recovery, observing, then the
    deadline check as a worker starts the call (`chain.py`)."""

    def dropped(method: str) -> None:
        if shedder is not None:
            shedder.shed(short_name(method), EXPIRED)

    observing = ObservingInterceptor(components.metrics.events, components.audit, components.clock)
    return Chain(observing, DeadlineGuard(dropped), admission=shedder, streams=True)


def stop_grpc(running: RunningServer, grace: float | None = None) -> None:
    """Stop at once (tests, or after `graceful_shutdown`): end the watch streams, stop, wait for the stop."""
    stopped = running.stop(grace)
    running.feed.close()
    stopped.wait((grace or 0.0) + hardening.STOP_SLACK_SECONDS)
    _release_workers(running)


def _release_workers(running: RunningServer) -> None:
    if running.workers is not None:
        running.workers.shutdown(wait=False, cancel_futures=True)  # idle once the server has stopped
    if running.shedder is not None:
        running.shedder.close()


def _add_servicers(
    server: grpc.Server, c: Components, feed: RevisionFeed, health_servicer: health.HealthServicer
) -> tuple[AuthenticationServicer, AuthorizationServicer]:
    authn = AuthenticationServicer(c.authenticator)
    authz = AuthorizationServicer(c.policies, c.authenticator, feed, c.memo, c.served)
    pb_grpc.add_AuthenticationServicer_to_server(authn, server)
    pb_grpc.add_AuthorizationServicer_to_server(authz, server)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    return authn, authz


def _add_port(server: grpc.Server, c: Components) -> int:
    listen = c.config.grpc.listen
    _refuse_a_live_socket(c.config.grpc.unix_socket, listen)
    try:
        if c.serving_tls is None:
            return server.add_insecure_port(listen)
        return server.add_secure_port(listen, c.serving_tls.credentials())
    except RuntimeError as err:  # grpcio's only signal that the bind failed
        raise ConfigError(
            f"grpc.listen: cannot listen on {listen}: the address is in use (another meshgate serve?) "
            "or not available here; stop the other process or choose another address"
        ) from err


def _refuse_a_live_socket(path: Path | None, listen: str) -> None:
    """grpcio replaces a `unix:` socket file even while another process answers on it (unixsocket.py)."""
    if path is None:
        return
    try:
        live = socket_state(path) is SocketState.LIVE
    except OSError as error:
        raise ConfigError(f"grpc.listen: cannot check {listen}: {error}") from error
    if live:
        raise ConfigError(
            f"grpc.listen: cannot listen on {listen}: another process answers there (another meshgate "
            "serve?); stop the other process or choose another address"
        )


def _revision_or_empty(policies: PolicyStore) -> tuple[str, str]:
    snapshot = policies.get()
    return (snapshot.revision, snapshot.commit) if snapshot else ("", "")


def start_background(components: Components) -> None:
    """Policy and trust-bundle watching, token key refresh; stopped by `close_components`."""
    if components.config.policy.watch:
        components.reloader.start()
        components.stoppers.append(components.reloader.stop)
    wait = components.config.identity.workload_api.start_timeout_seconds
    if components.jwt_bundles is not None:
        components.jwt_bundles.start()
        components.stoppers.append(components.jwt_bundles.stop)
        components.jwt_bundles.wait_first(wait)  # else the JWKS retry picks them up
    if components.tokens is not None:
        components.tokens.start(wait=True)
    bundles = components.bundles
    if isinstance(bundles, FileTrustBundles):
        watcher = BundleWatcher(bundles)
        watcher.start()
        components.stoppers.append(watcher.stop)
    elif isinstance(bundles, WorkloadApiTrustBundles):
        bundles.start()
        components.stoppers.append(bundles.stop)
        if not bundles.wait_first(wait):
            log.error(
                "not ready: %s after %gs; every certificate is refused until they arrive",
                bundles.status.last_error,
                wait,
            )


def start_http_side(components: Components) -> RunningHttp | None:
    """The HTTP port from `http.listen` (None when it is empty)."""
    cfg = components.config.http
    if not cfg.listen:
        return None
    deps = HttpDeps(
        components.readiness, components.metrics.registry, components.policies, cfg.policy_endpoints
    )
    return start_http(cfg, build_routes(deps))


def close_components(components: Components) -> None:
    """Stop what `start_background` and `start_grpc` started, newest first, then the audit log."""
    for stop in reversed(components.stoppers):
        stop()
    components.reloader.join(5)
    if components.tokens is not None:
        components.tokens.close()
    components.audit.close()


def _announce_when_policy_serves(c: Components, announce: Callable[[], None]) -> None:
    """Say "ready" only once a policy serves: before that every decision is denied, and an operator who
    read "ready" would look for the fault everywhere but the policy folder."""
    first = threading.Lock()  # taken by the first caller and never released: one announcement

    def once(_: PolicySnapshot | None = None) -> None:
        if first.acquire(blocking=False):
            announce()

    unsubscribe = c.policies.subscribe(once)  # before the check: a swap in between is not missed
    if c.policies.ready:
        unsubscribe()
        once()
        return
    c.stoppers.append(unsubscribe)
    log.warning(
        "not ready: waiting for a policy at %s (policy.dir); every decision is denied until one loads. "
        "Latest attempt: %s",
        c.config.policy.dir, c.reloader.status.last_error or "none yet",
    )  # fmt: skip


def serve(
    config: ServiceConfig, wait: Callable[[], object], *, ready: Callable[[int], None] | None = None
) -> None:
    """Run the gRPC server on `config.grpc.listen`, the HTTP side and the watchers until `wait()` returns,
    then stop them in order."""
    components = build_components(config)
    try:
        start_background(components)
        running = start_grpc(components)
    except BaseException:
        close_components(components)
        raise
    try:
        http = start_http_side(components)
    except BaseException:
        stop_grpc(running)
        close_components(components)
        raise
    log.info(
        "meshgate serving gRPC on %s (port %d%s), HTTP %s, policy revision %s",
        config.grpc.listen, running.port, ", TLS" if components.serving_tls else "",
        f"on port {http.port}" if http else "off", components.reloader.status.revision or "none",
    )  # fmt: skip
    if ready is not None:
        _announce_when_policy_serves(components, lambda: ready(running.port))
    try:
        wait()  # the servers run on their own threads
    finally:
        # NOT_SERVING (HealthSync can no longer flip it back) → drain → HTTP stopped → stop(grace), watch
        # streams ended at once: no in-flight call fails.
        stop_http = http.stop if http is not None else None
        hardening.graceful_shutdown(
            running, running.health, before_stop=stop_http, end_streams=running.feed.close
        )
        _release_workers(running)
        close_components(components)
