package dev.meshgate.pulsar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * The shim reads a principal's namespace exactly as {@code service/meshgate/principal/kinds.py} does: both are
 * checked against {@code principal-namespaces.tsv} (the Python side in
 * {@code tests/unit/principal/test_principal_kinds_shim.py}, which also makes the table cover every namespace,
 * prefix and credential kind kinds.py defines).
 */
class PrincipalNamespaceTest {

    /** A row of the table: {@code principal} or {@code kind}, a namespace, and the principal or kind. */
    record Row(String type, String namespace, String text) {
    }

    static List<Row> table() throws IOException {
        List<Row> rows = new ArrayList<>();
        try (InputStream in = PrincipalNamespaceTest.class.getResourceAsStream("/principal-namespaces.tsv")) {
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n", -1)) {
                if (line.isEmpty() || line.startsWith("#")) {
                    continue;
                }
                String[] cells = line.split("\t", 3);
                rows.add(new Row(cells[0], cells[1], cells[2]));
            }
        }
        return rows;
    }

    @Test
    void everyPrincipalOfTheTableIsReadAsKindsPyReadsIt() throws IOException {
        List<String> wrong = new ArrayList<>();
        int checked = 0;
        for (Row row : table()) {
            if (row.type().equals("principal")) {
                checked++;
                String found = PrincipalNamespace.of(row.text()).label();
                if (!found.equals(row.namespace())) {
                    wrong.add(row.text() + " is " + found + ", kinds.py: " + row.namespace());
                }
            }
        }
        assertEquals(List.of(), wrong);
        assertFalse(checked < 10, "the table has " + checked + " principals");
    }

    @Test
    void onlyWorkloadKindsMayLogInAsASuperUser() throws IOException {
        Set<String> spiffeKinds = new TreeSet<>();
        for (Row row : table()) {
            if (row.type().equals("kind") && row.namespace().equals(PrincipalNamespace.SPIFFE.label())) {
                spiffeKinds.add(row.text());
            }
        }
        assertEquals(spiffeKinds, new TreeSet<>(MeshgateAuthenticationProvider.WORKLOAD_KINDS));
    }

    @Test
    void labelsAreKindsPyNamespaceValues() {
        for (PrincipalNamespace namespace : PrincipalNamespace.values()) {
            assertEquals(namespace.name().toLowerCase(Locale.ROOT), namespace.label());
        }
    }
}
