"""Builds the running service from a `ServiceConfig`: verifiers, policy store, gRPC server, watchers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from meshgate.authn import Authenticator
from meshgate.authz import Authorizer
from meshgate.clock import Clock, SystemClock
from meshgate.config import ServiceConfig
from meshgate.identity import (
    CachedX509Verifier,
    FileTrustBundles,
    L5dClientIdAuthenticator,
    X509SvidVerifier,
)
from meshgate.identity.watcher import BundleWatcher
from meshgate.oidc import TokenAuthenticator
from meshgate.policy import PolicySnapshot, PolicyStore
from meshgate.policy.reloader import PolicyReloader
from meshgate.server.servicer import AuthenticationServicer, AuthorizationServicer, RevisionFeed
from meshgate.v1 import meshgate_pb2_grpc as pb_grpc

# The asyncio health servicer is exported as `health.aio` behind a version check that mypy cannot follow.
AsyncHealthServicer = health.aio.HealthServicer  # type: ignore[attr-defined]

log = logging.getLogger("meshgate")
SERVICE_NAMES = ("meshgate.v1.Authentication", "meshgate.v1.Authorization")


@dataclass
class Components:
    """Everything the transports need; built once, closed once."""

    config: ServiceConfig
    authenticator: Authenticator
    policies: PolicyStore
    reloader: PolicyReloader
    bundles: FileTrustBundles | None = None
    tokens: TokenAuthenticator | None = None
    stoppers: list[Callable[[], None]] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def build_components(config: ServiceConfig, clock: Clock | None = None) -> Components:
    clock = clock or SystemClock()
    bundles = (
        FileTrustBundles.from_specs(config.identity.trust_bundles, clock=clock)
        if (config.identity.trust_bundles)
        else None
    )
    certificates = None
    if bundles is not None:
        verifier = X509SvidVerifier(
            bundles, clock, max_skew_seconds=config.identity.max_skew_seconds, linkerd=config.identity.linkerd
        )
        certificates = CachedX509Verifier(verifier, clock, max_entries=config.identity.cache_size)
    tokens = (
        TokenAuthenticator.from_config(config.oidc.issuers, config.oidc.settings, clock)
        if config.oidc.issuers
        else None
    )
    mesh_header = L5dClientIdAuthenticator(config.identity.l5d_client_id, config.identity.linkerd)
    authenticator = Authenticator(certificates=certificates, tokens=tokens, mesh_header=mesh_header)
    policies = PolicyStore(clock=clock)
    reloader = PolicyReloader(
        config.policy.dir,
        policies,
        superusers=config.policy.superusers,
        naming=config.identity.linkerd,  # Linkerd subject patterns read against the mesh's own names
        clock=clock,
    )
    if not reloader.reload_now():
        # Keep running, NOT_SERVING and denying everything, until a valid revision lands: the Kubernetes
        # way to say "not ready", and a git-sync fix needs no restart.
        log.error("no valid policy in %s: %s", config.policy.dir, reloader.status.last_error)
    return Components(config, authenticator, policies, reloader, bundles, tokens)


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    health: Any
    feed: RevisionFeed


async def start_grpc(components: Components) -> RunningServer:
    cfg = components.config.grpc
    server = grpc.aio.server(
        maximum_concurrent_rpcs=cfg.max_concurrent_rpcs,
        options=[
            ("grpc.max_receive_message_length", cfg.max_message_bytes),
            ("grpc.max_send_message_length", cfg.max_message_bytes),
        ],
    )
    feed = RevisionFeed(lambda: _revision_or_empty(components.policies))
    health_servicer = AsyncHealthServicer()
    loop = asyncio.get_running_loop()

    def on_swap(snapshot: PolicySnapshot) -> None:
        loop.call_soon_threadsafe(feed.publish, snapshot.revision)
        asyncio.run_coroutine_threadsafe(_set_serving(health_servicer, True), loop)

    unsubscribe = components.policies.subscribe(on_swap)
    components.stoppers.append(unsubscribe)
    authorizer = Authorizer(components.policies)
    pb_grpc.add_AuthenticationServicer_to_server(AuthenticationServicer(components.authenticator), server)
    pb_grpc.add_AuthorizationServicer_to_server(
        AuthorizationServicer(authorizer, components.authenticator, feed), server
    )
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    port = server.add_insecure_port(cfg.listen)
    await server.start()
    await _set_serving(health_servicer, components.policies.ready)
    return RunningServer(server, port, health_servicer, feed)


def _revision_or_empty(policies: PolicyStore) -> str:
    snapshot = policies.get()
    return snapshot.revision if snapshot else ""


async def _set_serving(servicer: Any, ready: bool) -> None:
    status = health_pb2.HealthCheckResponse.SERVING if ready else health_pb2.HealthCheckResponse.NOT_SERVING
    for name in ("", *SERVICE_NAMES):
        await servicer.set(name, status)


async def start_background(components: Components) -> None:
    """Policy and trust-bundle watching, token key refresh; stopped by `close_components`."""
    if components.config.policy.watch:
        task = asyncio.create_task(components.reloader.run(), name="policy-reloader")
        components.stoppers.append(components.reloader.stop)
        components.tasks.append(task)
    if components.tokens is not None:
        await components.tokens.start(wait=True)
    if components.bundles is not None:
        watcher = BundleWatcher(components.bundles)
        watcher.start()
        components.stoppers.append(watcher.stop)


async def close_components(components: Components) -> None:
    for stop in reversed(components.stoppers):
        stop()
    for task in components.tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=5)
    if components.tokens is not None:
        await components.tokens.close()


async def serve(config: ServiceConfig, *, ready: Callable[[int], None] | None = None) -> None:
    """Run until cancelled: the gRPC server on `config.grpc.listen`, plus watchers."""
    components = build_components(config)
    await start_background(components)
    running = await start_grpc(components)
    log.info(
        "meshgate serving gRPC on %s (port %d), policy revision %s",
        config.grpc.listen,
        running.port,
        components.policies.current().revision,
    )
    if ready is not None:
        ready(running.port)
    try:
        await running.server.wait_for_termination()
    finally:
        await _set_serving(running.health, False)
        await running.server.stop(grace=5)
        await close_components(components)
