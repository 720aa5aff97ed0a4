package dev.meshgate.pulsar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Properties;
import java.util.Set;
import org.apache.pulsar.broker.ServiceConfiguration;
import org.junit.jupiter.api.Test;

class MeshgateConfigTest {

    private static ServiceConfiguration conf(String... keyValues) {
        ServiceConfiguration conf = new ServiceConfiguration();
        Properties properties = new Properties();
        for (int i = 0; i < keyValues.length; i += 2) {
            properties.setProperty(keyValues[i], keyValues[i + 1]);
        }
        conf.setProperties(properties);
        return conf;
    }

    @Test
    void defaults() {
        MeshgateConfig config = MeshgateConfig.from(conf());
        assertEquals("127.0.0.1:50051", config.target());
        assertEquals(100, config.deadlineMillis());
        assertTrue(config.superUserRoles().isEmpty());
    }

    @Test
    void readsKeysAndSuperUsers() {
        ServiceConfiguration conf = conf("meshgateTarget", "unix:/run/meshgate.sock", "meshgateDeadlineMillis", "250");
        conf.setSuperUserRoles(Set.of("broker"));
        MeshgateConfig config = MeshgateConfig.from(conf);
        assertEquals("unix:/run/meshgate.sock", config.target());
        assertEquals(250, config.deadlineMillis());
        assertEquals(Set.of("broker"), config.superUserRoles());
    }

    @Test
    void badNumberNamesTheKey() {
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> MeshgateConfig.from(conf("meshgateDeadlineMillis", "fast")));
        assertEquals("meshgateDeadlineMillis must be a whole number, got 'fast'", error.getMessage());
    }

    @Test
    void zeroDeadlineIsRejected() {
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> MeshgateConfig.from(conf("meshgateDeadlineMillis", "0")));
        assertEquals("meshgateDeadlineMillis must be greater than 0, got 0", error.getMessage());
    }

    @Test
    void emptyTargetIsRejected() {
        assertThrows(IllegalArgumentException.class, () -> MeshgateConfig.from(conf("meshgateTarget", " ")));
    }
}
