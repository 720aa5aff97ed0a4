package dev.meshgate.pulsar;

import java.util.HashMap;
import java.util.Map;

/**
 * The broker builds its authentication and authorization providers separately; they share one client
 * per configuration, reference-counted so the channel closes with the last provider.
 */
final class MeshgateClients {

    private static final Map<MeshgateConfig, Entry> CLIENTS = new HashMap<>();

    private MeshgateClients() {
    }

    static synchronized MeshgateClient acquire(MeshgateConfig config) {
        Entry entry = CLIENTS.computeIfAbsent(config, c -> new Entry(new MeshgateClient(c)));
        entry.references++;
        return entry.client;
    }

    static synchronized void release(MeshgateConfig config) {
        Entry entry = CLIENTS.get(config);
        if (entry == null) {
            return;
        }
        if (--entry.references == 0) {
            CLIENTS.remove(config);
            entry.client.close();
        }
    }

    private static final class Entry {
        final MeshgateClient client;
        int references;

        Entry(MeshgateClient client) {
            this.client = client;
        }
    }
}
