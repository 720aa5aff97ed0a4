package dev.meshgate.pulsar;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the broker log says about one target's frames transport: at INFO once, that it is used or that there is no
 * frames socket; at WARN, at most once per {@link FailureLog#INTERVAL_MILLIS}, that a working one failed.
 */
final class FramesLog {

    private static final Logger LOG = LoggerFactory.getLogger(MeshgateClient.class);
    private static final long INTERVAL_NANOS = TimeUnit.MILLISECONDS.toNanos(FailureLog.INTERVAL_MILLIS);

    private final String target;
    private final String path;
    private final AtomicBoolean used = new AtomicBoolean();
    private final AtomicBoolean absent = new AtomicBoolean();
    private final LogWindow failures = new LogWindow();

    FramesLog(String target, String path) {
        this.target = target;
        this.path = path;
    }

    void used() {
        if (used.compareAndSet(false, true)) {
            LOG.info("meshgate: asking {} its AuthenticateBatch and AuthorizeBatch calls over {} (the frames"
                    + " transport, {}=auto; docs/frames.md)", target, path, MeshgateConfig.FRAMES);
        }
    }

    /** A connect failed: before frames were ever used, the service has none (an older one, grpc.frames: false). */
    void connectFailed(Throwable cause) {
        if (used.get()) {
            failed("cannot connect to " + path + " (" + cause + ")");
        } else if (absent.compareAndSet(false, true)) {
            LOG.info("meshgate: no frames socket at {} ({}): asking {} over gRPC, looking again at most every {} ms",
                    path, cause, target, MeshgateClient.RECONNECT_CHECK_MILLIS);
        }
    }

    void failed(String what) {
        long count = failures.due(System.nanoTime(), INTERVAL_NANOS);
        if (count > 0) {
            LOG.warn("meshgate: {}; asking {} over gRPC until the frames socket accepts again (looked for at most"
                    + " every {} ms); {} such failure(s) since the last such line (at most one per {} s)", what, target,
                    MeshgateClient.RECONNECT_CHECK_MILLIS, count, FailureLog.INTERVAL_MILLIS / 1000);
        }
    }
}
