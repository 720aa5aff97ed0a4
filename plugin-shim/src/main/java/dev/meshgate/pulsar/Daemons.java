package dev.meshgate.pulsar;

import java.util.concurrent.ThreadFactory;

/** Named daemon threads: the shim's background work must never keep a stopping broker alive. */
final class Daemons {

    private Daemons() {
    }

    static ThreadFactory named(String name) {
        return runnable -> {
            Thread thread = new Thread(runnable, name);
            thread.setDaemon(true);
            return thread;
        };
    }
}
