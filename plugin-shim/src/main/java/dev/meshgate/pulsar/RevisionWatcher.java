package dev.meshgate.pulsar;

import dev.meshgate.proto.v1.RevisionEvent;
import io.grpc.stub.StreamObserver;
import java.io.Closeable;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Follows the service's WatchRevision stream. Each revision goes to the decision cache first (so stale
 * answers are gone), then to the listeners (session revocation). When the stream breaks the cache is
 * suspended and the watcher reconnects with exponential backoff, starting again from the first target.
 * All state changes run on one thread, in stream order.
 */
final class RevisionWatcher implements Closeable {

    static final long INITIAL_BACKOFF_MILLIS = 50;
    static final long MAX_BACKOFF_MILLIS = 2_000;

    /** Told about every change of the active revision after the first one. */
    @FunctionalInterface
    interface Listener {
        void revisionChanged(String previous, String current);
    }

    private static final Logger LOG = LoggerFactory.getLogger(RevisionWatcher.class);

    private final MeshgateClient client;
    private final DecisionCache cache;
    private final ShimMetrics metrics;
    private final List<Listener> listeners = new CopyOnWriteArrayList<>();
    private final ScheduledExecutorService thread =
            Executors.newSingleThreadScheduledExecutor(Daemons.named("meshgate-revision-watch"));
    private int attempt;
    private long backoffMillis = INITIAL_BACKOFF_MILLIS;
    private boolean connected;
    private String lastKnown;
    private volatile boolean closed;

    RevisionWatcher(MeshgateClient client, DecisionCache cache, ShimMetrics metrics) {
        this.client = client;
        this.cache = cache;
        this.metrics = metrics;
    }

    void start() {
        thread.execute(this::connect);
    }

    void addListener(Listener listener) {
        listeners.add(listener);
    }

    void removeListener(Listener listener) {
        listeners.remove(listener);
    }

    private void connect() {
        if (closed) {
            return;
        }
        int target = attempt++;
        try {
            client.watchRevision(target, new Observer(target));
        } catch (RuntimeException e) {
            disconnected(target, e);
        }
    }

    private void revision(int target, String revision) {
        if (!connected) {
            LOG.info("meshgate: following policy revisions from {} (active: '{}')", client.targetName(target),
                    revision);
            connected = true;
            metrics.streamConnected(true);
        }
        attempt = 0;
        backoffMillis = INITIAL_BACKOFF_MILLIS;
        cache.activate(revision);
        metrics.revision(revision);
        String previous = lastKnown;
        lastKnown = revision;
        if (previous != null && !previous.equals(revision)) {
            LOG.info("meshgate: policy revision {} -> {}", previous, revision);
            metrics.revisionChanged();
            for (Listener listener : listeners) {
                notify(listener, previous, revision);
            }
        }
    }

    private static void notify(Listener listener, String previous, String revision) {
        try {
            listener.revisionChanged(previous, revision);
        } catch (RuntimeException e) {
            LOG.error("meshgate: revision listener failed", e);
        }
    }

    private void disconnected(int target, Throwable error) {
        cache.suspend();
        metrics.revision(null);
        metrics.streamConnected(false);
        if (closed) {
            return;
        }
        if (connected) {
            LOG.warn("meshgate: revision stream from {} broke ({}); decision cache off until it is back",
                    client.targetName(target), error == null ? "completed" : GrpcErrors.describe(error));
            connected = false;
        }
        metrics.error("watch_revision", error == null ? FailureReason.SERVICE_ERROR : GrpcErrors.reason(error));
        thread.schedule(this::connect, backoffMillis, TimeUnit.MILLISECONDS);
        backoffMillis = Math.min(backoffMillis * 2, MAX_BACKOFF_MILLIS);
    }

    @Override
    public void close() {
        closed = true;
        thread.shutdownNow();
    }

    /** Moves every stream callback onto the watcher thread. */
    private final class Observer implements StreamObserver<RevisionEvent> {
        private final int target;

        Observer(int target) {
            this.target = target;
        }

        @Override
        public void onNext(RevisionEvent event) {
            submit(() -> revision(target, event.getRevision()));
        }

        @Override
        public void onError(Throwable error) {
            submit(() -> disconnected(target, error));
        }

        @Override
        public void onCompleted() {
            submit(() -> disconnected(target, null));
        }

        private void submit(Runnable task) {
            try {
                thread.execute(task);
            } catch (RejectedExecutionException e) {
                // The watcher is closed; the stream dies with the channel.
            }
        }
    }
}
