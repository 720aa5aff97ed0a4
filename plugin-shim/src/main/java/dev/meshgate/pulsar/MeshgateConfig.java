package dev.meshgate.pulsar;

import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.pulsar.broker.ServiceConfiguration;

/**
 * The shim's settings, read from broker.conf with {@code getProperty} and validated once at start.
 * A bad value stops the broker with a message naming the key; nothing falls back silently.
 * Every key, with its default, is listed in the README table "Broker plugin configuration".
 *
 * @param targets service addresses tried in order on UNAVAILABLE (the local sidecar first)
 * @param deadlineMillis the budget of an authorization question off the connect path (admin operations)
 * @param connectDeadlineMillis the budget of a question a client's connect path asks (topic lookup, produce,
 *     consume, subscribe): in a reconnect storm every client asks these at once
 * @param authnDeadlineMillis the budget of an authentication (a connect)
 * @param cacheMaxEntries decision cache bound; 0 turns the cache off
 * @param staleIfErrorSeconds the stale-if-error window; used only with {@link FailMode#STALE_IF_ERROR}
 * @param prefetchOnLookup on a {@code topic.lookup} cache miss, ask for {@code topic.produce} in the same call
 * @param maxCallsInFlight batch calls outstanding per RPC (AuthorizeBatch, AuthenticateBatch); more questions queue
 * @param maxBatchSize questions per coalesced call
 * @param callStallMillis how long a batch call is out before another may go beside it (0: whenever a slot is free)
 * @param auditReportMillis how often the answers the shim served itself are reported for the audit trail
 * @param auditBufferEntries how many such answers (entries: a run of identical allows is one) wait for a report
 * @param frames whether the two batch calls go over the frames socket beside a Unix target (docs/frames.md)
 */
public record MeshgateConfig(List<String> targets, long deadlineMillis, long connectDeadlineMillis,
                             long authnDeadlineMillis,
                             long cacheMaxEntries, long cacheTtlSeconds, FailMode failMode,
                             long staleIfErrorSeconds, TlsFiles tls, Set<String> superUserRoles,
                             boolean prefetchOnLookup, int maxCallsInFlight, int maxBatchSize,
                             long callStallMillis, long auditReportMillis, int auditBufferEntries,
                             FramesMode frames) {

    public static final String TARGETS = "meshgateTargets";
    public static final String TARGETS_DEFAULT = "127.0.0.1:50051";
    public static final String DEADLINE_MILLIS = "meshgateDeadlineMillis";
    public static final long DEADLINE_MILLIS_DEFAULT = 100;
    public static final String CONNECT_DEADLINE_MILLIS = "meshgateConnectDeadlineMillis";
    /**
     * Three times the p99 of the shim's answers in a restart storm (about 1 s: 300 clients on a shared 2-CPU
     * machine at load average 10-18; docs/shim.md, "Deadlines and retries"), so the first attempt (three
     * quarters of the budget) covers that p99 twice over.
     */
    public static final long CONNECT_DEADLINE_MILLIS_DEFAULT = 3000;
    public static final String AUTHN_DEADLINE_MILLIS = "meshgateAuthnDeadlineMillis";
    /** A connect is the first question of a reconnect storm: sized like {@link #CONNECT_DEADLINE_MILLIS_DEFAULT}. */
    public static final long AUTHN_DEADLINE_MILLIS_DEFAULT = 3000;
    public static final String CACHE_MAX_ENTRIES = "meshgateCacheMaxEntries";
    public static final long CACHE_MAX_ENTRIES_DEFAULT = 10_000;
    public static final String CACHE_TTL_SECONDS = "meshgateCacheTtlSeconds";
    public static final long CACHE_TTL_SECONDS_DEFAULT = 300;
    public static final String FAIL_MODE = "meshgateFailMode";
    public static final FailMode FAIL_MODE_DEFAULT = FailMode.DENY;
    public static final String STALE_IF_ERROR_SECONDS = "meshgateStaleIfErrorSeconds";
    public static final long STALE_IF_ERROR_SECONDS_DEFAULT = 30;
    public static final String PREFETCH_ON_LOOKUP = "meshgatePrefetchOnLookup";
    public static final boolean PREFETCH_ON_LOOKUP_DEFAULT = true;
    public static final String MAX_CALLS_IN_FLIGHT = "meshgateMaxCallsInFlight";
    public static final int MAX_CALLS_IN_FLIGHT_DEFAULT = 4;
    public static final String MAX_BATCH_SIZE = "meshgateMaxBatchSize";
    public static final int MAX_BATCH_SIZE_DEFAULT = 128;
    public static final String CALL_STALL_MILLIS = "meshgateCallStallMillis";
    /** A batch answers in about a millisecond; one out this long is waiting on something (a JWKS refetch). */
    public static final long CALL_STALL_MILLIS_DEFAULT = 20;
    public static final String AUDIT_REPORT_MILLIS = "meshgateAuditReportMillis";
    /** A cached deny reaches the audit trail within about a second. */
    public static final long AUDIT_REPORT_MILLIS_DEFAULT = 1000;
    public static final String AUDIT_BUFFER_ENTRIES = "meshgateAuditBufferEntries";
    /** About 3 MiB at most; one entry per distinct allow (question, peer) and per deny in an interval. */
    public static final int AUDIT_BUFFER_ENTRIES_DEFAULT = 10_000;
    public static final String FRAMES = "meshgateFrames";
    public static final FramesMode FRAMES_DEFAULT = FramesMode.AUTO;
    public static final String TLS_CERT_FILE = "meshgateTlsCertFile";
    public static final String TLS_KEY_FILE = "meshgateTlsKeyFile";
    public static final String TLS_CA_FILE = "meshgateTlsCaFile";
    public static final String TLS_AUTHORITY = "meshgateTlsAuthority";
    /** Where people change permissions, named in the answer to Pulsar's grant/revoke/permissions calls. */
    public static final String POLICY_REPOSITORY = "meshgatePolicyRepository";
    public static final String POLICY_REPOSITORY_DEFAULT = "the git repository the meshgate sidecar serves";

    static final long MAX_DEADLINE_MILLIS = 60_000;
    static final long MIN_AUDIT_REPORT_MILLIS = 100;
    static final long MAX_AUDIT_REPORT_MILLIS = 60_000;
    static final long MIN_AUDIT_BUFFER_ENTRIES = 100;
    static final long MAX_AUDIT_BUFFER_ENTRIES = 1_000_000;
    static final long MAX_CACHE_ENTRIES = 10_000_000;
    static final long MAX_CACHE_TTL_SECONDS = 86_400;
    static final long MAX_STALE_IF_ERROR_SECONDS = 3_600;
    /** Beyond a few dozen calls in flight nothing is left to coalesce; the service refuses calls past its own cap. */
    static final long MAX_CALLS_IN_FLIGHT_LIMIT = 256;
    /**
     * An answer is about 0.2 KiB and a lookup item carries up to three questions, so 512 items answer in well
     * under the service's default message cap ({@code grpc.max_message_bytes}, 1 MiB). Requests are bounded by
     * {@link #MAX_BATCH_BYTES} instead, because a credential may be up to 16 KiB.
     */
    static final long MAX_BATCH_SIZE_LIMIT = 512;
    /**
     * Request bytes per coalesced call, a quarter of the service's default message cap: a batch fails for its
     * size only where its largest item alone would (an item over this goes out on its own).
     */
    static final int MAX_BATCH_BYTES = 256 * 1024;

    public MeshgateConfig {
        targets = List.copyOf(targets);
        superUserRoles = Set.copyOf(superUserRoles);
    }

    /** Reads and validates every meshgate key; throws {@link IllegalArgumentException} naming the bad key. */
    public static MeshgateConfig from(ServiceConfiguration conf) {
        ConfigReader read = new ConfigReader(conf);
        rejectRenamed(read);
        List<String> targets = read.targets(TARGETS, TARGETS_DEFAULT);
        TlsFiles tls = TlsFiles.validated(read.file(TLS_CERT_FILE), read.file(TLS_KEY_FILE), read.file(TLS_CA_FILE),
                read.string(TLS_AUTHORITY, ""));
        Set<String> supers = conf.getSuperUserRoles() == null ? Set.of() : conf.getSuperUserRoles();
        return new MeshgateConfig(targets,
                read.longIn(DEADLINE_MILLIS, DEADLINE_MILLIS_DEFAULT, 1, MAX_DEADLINE_MILLIS),
                read.longIn(CONNECT_DEADLINE_MILLIS, CONNECT_DEADLINE_MILLIS_DEFAULT, 1, MAX_DEADLINE_MILLIS),
                read.longIn(AUTHN_DEADLINE_MILLIS, AUTHN_DEADLINE_MILLIS_DEFAULT, 1, MAX_DEADLINE_MILLIS),
                read.longIn(CACHE_MAX_ENTRIES, CACHE_MAX_ENTRIES_DEFAULT, 0, MAX_CACHE_ENTRIES),
                read.longIn(CACHE_TTL_SECONDS, CACHE_TTL_SECONDS_DEFAULT, 1, MAX_CACHE_TTL_SECONDS),
                read.choice(FAIL_MODE, FAIL_MODE_DEFAULT, FailMode.class),
                read.longIn(STALE_IF_ERROR_SECONDS, STALE_IF_ERROR_SECONDS_DEFAULT, 1, MAX_STALE_IF_ERROR_SECONDS),
                tls, supers, read.bool(PREFETCH_ON_LOOKUP, PREFETCH_ON_LOOKUP_DEFAULT),
                (int) read.longIn(MAX_CALLS_IN_FLIGHT, MAX_CALLS_IN_FLIGHT_DEFAULT, 1, MAX_CALLS_IN_FLIGHT_LIMIT),
                (int) read.longIn(MAX_BATCH_SIZE, MAX_BATCH_SIZE_DEFAULT, 1, MAX_BATCH_SIZE_LIMIT),
                read.longIn(CALL_STALL_MILLIS, CALL_STALL_MILLIS_DEFAULT, 0, MAX_DEADLINE_MILLIS),
                read.longIn(AUDIT_REPORT_MILLIS, AUDIT_REPORT_MILLIS_DEFAULT, MIN_AUDIT_REPORT_MILLIS,
                        MAX_AUDIT_REPORT_MILLIS),
                (int) read.longIn(AUDIT_BUFFER_ENTRIES, AUDIT_BUFFER_ENTRIES_DEFAULT, MIN_AUDIT_BUFFER_ENTRIES,
                        MAX_AUDIT_BUFFER_ENTRIES),
                read.choice(FRAMES, FRAMES_DEFAULT, FramesMode.class));
    }

    /** {@link #POLICY_REPOSITORY}: free text (a URL, say); read on its own, it does not change decisions. */
    public static String policyRepository(ServiceConfiguration conf) {
        return new ConfigReader(conf).string(POLICY_REPOSITORY, POLICY_REPOSITORY_DEFAULT);
    }

    private static void rejectRenamed(ConfigReader read) {
        if (!read.string("meshgateTarget", "").isEmpty()) {
            throw new IllegalArgumentException("meshgateTarget was renamed to " + TARGETS
                    + " (a comma-separated list, tried in order)");
        }
    }

    /** How the shim coalesces questions into batch calls (the same for each RPC). */
    Coalescer.Limits coalescing() {
        return new Coalescer.Limits(maxCallsInFlight, maxBatchSize, MAX_BATCH_BYTES,
                TimeUnit.MILLISECONDS.toNanos(callStallMillis));
    }

    /** The budget of an authorization question for {@code action}: longer on a client's connect path. */
    long budgetMillis(String action) {
        return Actions.onConnectPath(action) ? connectDeadlineMillis : deadlineMillis;
    }

    /** The key that sets {@link #budgetMillis}, for messages. */
    String budgetKey(String action) {
        return Actions.onConnectPath(action) ? CONNECT_DEADLINE_MILLIS : DEADLINE_MILLIS;
    }

    /** The primary target, for log lines. */
    public String target() {
        return targets.get(0);
    }
}
