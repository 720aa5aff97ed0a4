package dev.meshgate.pulsar;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.apache.pulsar.broker.ServiceConfiguration;

/**
 * Reads one broker.conf key with {@code getProperty} and checks it. Every failure is an
 * {@link IllegalArgumentException} whose message names the key and the value it got.
 */
final class ConfigReader {

    private final ServiceConfiguration conf;

    ConfigReader(ServiceConfiguration conf) {
        this.conf = conf;
    }

    String string(String key, String dflt) {
        Object value = conf.getProperty(key);
        return value == null ? dflt : value.toString().trim();
    }

    boolean bool(String key, boolean dflt) {
        String raw = string(key, Boolean.toString(dflt)).toLowerCase(Locale.ROOT);
        if (!raw.equals("true") && !raw.equals("false")) {
            throw new IllegalArgumentException(key + " must be true or false, got '" + raw + "'");
        }
        return Boolean.parseBoolean(raw);
    }

    long longIn(String key, long dflt, long min, long max) {
        String raw = string(key, Long.toString(dflt));
        long value;
        try {
            value = Long.parseLong(raw);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + " must be a whole number, got '" + raw + "'", e);
        }
        if (value < min || value > max) {
            throw new IllegalArgumentException(key + " must be between " + min + " and " + max + ", got " + value);
        }
        return value;
    }

    List<String> targets(String key, String dflt) {
        String raw = string(key, dflt);
        List<String> targets = new ArrayList<>();
        for (String part : raw.split(",")) {
            String target = part.trim();
            if (target.isEmpty()) {
                continue;
            }
            if (target.startsWith("unix:") && !target.startsWith("unix:/")) {
                throw new IllegalArgumentException(key + ": a unix target needs an absolute path (unix:/path), got '"
                        + target + "'");
            }
            if (!target.startsWith("unix:") && target.lastIndexOf(':') <= 0) {
                throw new IllegalArgumentException(key + ": expected host:port or unix:/path, got '" + target + "'");
            }
            targets.add(target);
        }
        if (targets.isEmpty()) {
            throw new IllegalArgumentException(key + " must name at least one target (host:port or unix:/path)");
        }
        return List.copyOf(targets);
    }

    <E extends Enum<E>> E choice(String key, E dflt, Class<E> type) {
        String raw = string(key, dflt.name().toLowerCase(Locale.ROOT).replace('_', '-'));
        for (E value : type.getEnumConstants()) {
            if (value.name().toLowerCase(Locale.ROOT).replace('_', '-').equals(raw)) {
                return value;
            }
        }
        List<String> names = new ArrayList<>();
        for (E value : type.getEnumConstants()) {
            names.add(value.name().toLowerCase(Locale.ROOT).replace('_', '-'));
        }
        throw new IllegalArgumentException(key + " must be one of " + names + ", got '" + raw + "'");
    }

    /** An optional readable file: empty string when unset. */
    String file(String key) {
        String raw = string(key, "");
        if (!raw.isEmpty() && !Files.isReadable(Path.of(raw))) {
            throw new IllegalArgumentException(key + ": cannot read file '" + raw + "'");
        }
        return raw;
    }
}
