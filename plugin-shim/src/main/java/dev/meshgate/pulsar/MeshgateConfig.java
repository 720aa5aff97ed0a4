package dev.meshgate.pulsar;

import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.Objects;
import java.util.Set;
import org.apache.pulsar.broker.ServiceConfiguration;

/**
 * The shim's settings, read from broker.conf with {@code getProperty} and validated once at start.
 * A bad value stops the broker with a message naming the key; nothing falls back silently.
 */
public final class MeshgateConfig {

    public static final String TARGET = "meshgateTarget";
    public static final String TARGET_DEFAULT = "127.0.0.1:50051";
    public static final String DEADLINE_MILLIS = "meshgateDeadlineMillis";
    public static final long DEADLINE_MILLIS_DEFAULT = 100;
    public static final String AUTHN_DEADLINE_MILLIS = "meshgateAuthnDeadlineMillis";
    public static final long AUTHN_DEADLINE_MILLIS_DEFAULT = 1000;

    private final String target;
    private final long deadlineMillis;
    private final long authnDeadlineMillis;
    private final Set<String> superUserRoles;

    MeshgateConfig(String target, long deadlineMillis, long authnDeadlineMillis, Set<String> superUserRoles) {
        this.target = target;
        this.deadlineMillis = deadlineMillis;
        this.authnDeadlineMillis = authnDeadlineMillis;
        this.superUserRoles = Collections.unmodifiableSet(new LinkedHashSet<>(superUserRoles));
    }

    /** Reads and validates every meshgate key; throws {@link IllegalArgumentException} naming the bad key. */
    public static MeshgateConfig from(ServiceConfiguration conf) {
        String target = string(conf, TARGET, TARGET_DEFAULT);
        if (target.isBlank()) {
            throw new IllegalArgumentException(TARGET + " must not be empty (host:port or unix:/path)");
        }
        long deadline = positiveLong(conf, DEADLINE_MILLIS, DEADLINE_MILLIS_DEFAULT);
        long authnDeadline = positiveLong(conf, AUTHN_DEADLINE_MILLIS, AUTHN_DEADLINE_MILLIS_DEFAULT);
        Set<String> supers = conf.getSuperUserRoles() == null ? Set.of() : conf.getSuperUserRoles();
        return new MeshgateConfig(target, deadline, authnDeadline, supers);
    }

    static String string(ServiceConfiguration conf, String key, String dflt) {
        Object value = conf.getProperty(key);
        return value == null ? dflt : value.toString().trim();
    }

    static long positiveLong(ServiceConfiguration conf, String key, long dflt) {
        String raw = string(conf, key, Long.toString(dflt));
        long value;
        try {
            value = Long.parseLong(raw);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + " must be a whole number, got '" + raw + "'", e);
        }
        if (value <= 0) {
            throw new IllegalArgumentException(key + " must be greater than 0, got " + value);
        }
        return value;
    }

    public String target() {
        return target;
    }

    public long deadlineMillis() {
        return deadlineMillis;
    }

    public long authnDeadlineMillis() {
        return authnDeadlineMillis;
    }

    public Set<String> superUserRoles() {
        return superUserRoles;
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof MeshgateConfig other)) {
            return false;
        }
        return target.equals(other.target) && deadlineMillis == other.deadlineMillis
                && authnDeadlineMillis == other.authnDeadlineMillis && superUserRoles.equals(other.superUserRoles);
    }

    @Override
    public int hashCode() {
        return Objects.hash(target, deadlineMillis, authnDeadlineMillis, superUserRoles);
    }
}
