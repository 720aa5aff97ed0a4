"""The Pulsar topic sink: a batching producer on the audit sink's own thread (needs `pulsar-client`).

The producer is created lazily and re-created after a failure, waiting `reconnect_seconds` between
attempts; meanwhile records wait in the sink's bounded queue (overflow is counted there). The broker
authenticates the sink like any client, so its identity needs `topic.produce` on the audit topic.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import pulsar

from meshgate.audit.config import PulsarSinkConfig

log = logging.getLogger(__name__)


class PulsarWriter:
    def __init__(self, config: PulsarSinkConfig) -> None:
        self._config = config
        self._client: Any = None
        self._producer: Any = None
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._unacked_failures = 0

    def write(self, lines: Sequence[str]) -> None:
        """Send a batch and wait until the broker has it; raises when any record was not acknowledged."""
        producer = self._connect()
        if producer is None:
            raise RuntimeError("audit pulsar sink closed before a producer could be created")
        before = self._unacked_failures
        for line in lines:
            producer.send_async(line.encode(), self._on_sent)
        try:
            producer.flush()
        except Exception:
            self._reset()
            raise
        lost = self._unacked_failures - before
        if lost:
            self._reset()
            raise RuntimeError(f"{lost} audit records were not acknowledged by {self._config.service_url}")

    def _on_sent(self, result: Any, _message_id: Any) -> None:
        if result != pulsar.Result.Ok:
            with self._lock:
                self._unacked_failures += 1

    def _connect(self) -> Any:
        while self._producer is None and not self._closing.is_set():
            try:
                self._producer = self._create_producer()
                log.info("audit sink producing to %s", self._config.topic)
            except Exception as err:
                log.warning("audit sink: cannot produce to %s yet: %s", self._config.topic, err)
                self._reset()
                self._closing.wait(self._config.reconnect_seconds)
        return self._producer

    def _create_producer(self) -> Any:
        c = self._config
        auth = pulsar.AuthenticationTLS(str(c.tls_cert), str(c.tls_key)) if c.tls_cert and c.tls_key else None
        self._client = pulsar.Client(
            c.service_url,
            authentication=auth,
            tls_trust_certs_file_path=str(c.tls_trust_certs) if c.tls_trust_certs else None,
            tls_validate_hostname=c.service_url.startswith("pulsar+ssl://"),
            operation_timeout_seconds=10,
            connection_timeout_ms=5000,
        )
        return self._client.create_producer(
            c.topic,
            producer_name=None,
            batching_enabled=True,
            batching_max_messages=c.batch_max_messages,
            batching_max_publish_delay_ms=c.batch_delay_ms,
            block_if_queue_full=True,
            send_timeout_millis=10_000,
        )

    def _reset(self) -> None:
        client, self._client, self._producer = self._client, None, None
        if client is not None:
            try:
                client.close()
            except Exception as err:
                log.debug("audit sink: closing the client failed: %s", err)

    def interrupt(self) -> None:
        """Stop waiting for the broker; called from the shutting-down thread."""
        self._closing.set()

    def close(self) -> None:
        self._closing.set()
        self._reset()
