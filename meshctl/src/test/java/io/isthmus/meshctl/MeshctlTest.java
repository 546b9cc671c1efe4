package io.isthmus.meshctl;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MeshctlTest {

    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();

    private int run(String... args) {
        return Meshctl.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
    }

    @Test
    void badTopologyFileIsOneLineNamingTheFieldAndExits2(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("bad.yaml");
        Files.writeString(file, """
                name: bad
                addressBase: 130
                clusters:
                  - {name: a, network: n1, region: r, zone: z}
                workloads:
                  - {name: w, cluster: nowhere, service: s, ports: [{name: http, port: 80}]}
                """);

        int code = run("demo", "--verify", "--topology", file.toString(), "--run-dir", dir.resolve("run").toString());

        assertThat(code).isEqualTo(2);
        assertThat(err.toString().strip()).hasLineCount(1)
                .contains("bad.yaml: workloads[0].cluster: 'nowhere' is not a cluster of this topology");
        assertThat(dir.resolve("run")).doesNotExist();
    }

    @Test
    void aMeshThatCannotStartExits1WithTheComponentAndItsLog(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("one.yaml");
        Files.writeString(file, """
                name: one
                addressBase: 161
                clusters:
                  - {name: solo, network: n1, region: r, zone: z}
                workloads:
                  - {name: cli, cluster: solo, namespace: sample, role: client}
                  - {name: srv, cluster: solo, namespace: sample, service: srv, ports: [{name: http, port: 8080}]}
                """);
        String previous = System.getProperty("isthmus.classpath");
        // A class path without Isthmus: the controller cannot even load its main class.
        System.setProperty("isthmus.classpath", dir.toString());
        try {
            int code = run("demo", "--verify", "--topology", file.toString(), "--run-dir", dir.resolve("run").toString());

            assertThat(code).isEqualTo(1);
            assertThat(err.toString()).contains("exited with code 1 before it was ready", "Could not find or load main class");
            assertThat(ProcessHandle.current().children().filter(ProcessHandle::isAlive).toList()).isEmpty();
        } finally {
            if (previous == null) {
                System.clearProperty("isthmus.classpath");
            } else {
                System.setProperty("isthmus.classpath", previous);
            }
        }
    }

    @Test
    void missingTopologyFileExits2() {
        assertThat(run("demo", "--topology", "/nonexistent/topology.yaml")).isEqualTo(2);
        assertThat(err.toString()).contains("/nonexistent/topology.yaml: no such file");
    }

    @Test
    void unknownOptionIsAUsageError() {
        assertThat(run("demo", "--no-such-option")).isEqualTo(2);
        assertThat(err.toString()).contains("Unknown option: '--no-such-option'", "Run 'meshctl demo --help' for usage.");
        assertThat(err.toString().strip()).hasLineCount(2);
    }

    @Test
    void helpListsTheDemoCommand() {
        assertThat(run("--help")).isZero();
        assertThat(out.toString()).contains("demo", "create-remote-secret", "proxy-status", "proxy-config", "federation",
                "remote-clusters", "jwks-status", "apply", "delete", "completion", "Exit codes:");
        out.getBuffer().setLength(0);
        assertThat(run("demo", "--help")).isZero();
        assertThat(out.toString()).contains("--verify", "--topology", "--run-dir");
    }
}
