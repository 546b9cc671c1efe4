package io.isthmus.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.isthmus.topologies.DemoScenario;
import io.isthmus.topologies.DemoTraffic;
import io.isthmus.topologies.LocalMesh;
import io.isthmus.topologies.LocalMeshOptions;
import io.isthmus.topologies.NetworkMode;
import io.isthmus.topologies.Topology;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Start and stop of a mesh that one e2e class has to itself: the classes that kill controllers,
 * rotate the root, join clusters or need network namespaces or another topology, which cannot run
 * on the shared {@link DemoMesh}. They run before the shared-mesh classes ({@link SharedMeshesLast}),
 * one mesh at a time.
 */
final class OwnMesh {

    private OwnMesh() {}

    /** A topology file from the test class path: {@code /cluster-join.yaml}, {@code /io/isthmus/topologies/demo.yaml}. */
    static Topology topology(String resource) {
        try (InputStream in = OwnMesh.class.getResourceAsStream(resource)) {
            assertThat(in).as("%s on the test class path", resource).isNotNull();
            return Topology.parse(new String(in.readAllBytes(), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Starts the topology with its logs in {@code runDir}, progress logged as the test class's, and waits until every component is ready. */
    static LocalMesh start(Class<?> testClass, Topology topology, Path runDir, Duration readyTimeout) {
        Logger log = LoggerFactory.getLogger(testClass);
        LocalMesh mesh = LocalMesh.start(topology, LocalMeshOptions.defaults(runDir)
                .withReadyTimeout(readyTimeout)
                .withProgress(line -> log.info("{}", line)));
        log.info("mesh ready in {} ms", mesh.timeToReady().toMillis());
        return mesh;
    }

    /** Sends requests until a pod of each of {@code clusters} has answered (the federation has spread their endpoints), 90 s at most. */
    static void awaitAnswersFrom(LocalMesh mesh, DemoScenario scenario, String... clusters) {
        Set<String> seen = DemoTraffic.warmUp(mesh, scenario, Duration.ofSeconds(90));
        assertThat(seen).as("clusters that answered %s; logs in %s", scenario.client().name(),
                mesh.runDirectory()).contains(clusters);
    }

    /**
     * Stops the mesh and checks that it left nothing behind: no child process, and for a mesh in
     * network namespaces, none of its namespaces or links.
     */
    static void stop(LocalMesh mesh) throws IOException {
        if (mesh == null) {
            return;
        }
        boolean netns = mesh.topology().networkMode() == NetworkMode.NETNS;
        // This run's names (isthmus<B>-p<pid36>-..., link is<B>-p<pid36>): another checkout may run
        // the same test at once, under names of its own.
        String owner = "-p" + Long.toString(ProcessHandle.current().pid(), 36);
        int base = mesh.topology().addressBase();
        mesh.close();
        if (netns) {
            assertThat(run(List.of("ip", "netns", "list"))).as("namespaces left")
                    .doesNotContain("isthmus" + base + owner + "-");
            assertThat(run(List.of("ip", "link", "show"))).as("launcher-side links left")
                    .doesNotContain("is" + base + owner + ":").doesNotContain("is" + base + owner + "@");
        }
        assertThat(ProcessHandle.current().children().filter(ProcessHandle::isAlive).toList())
                .as("no child process left running").isEmpty();
    }

    /** Runs a command to its end (10 s at most) and returns its output; fails naming the command if it fails. */
    static String run(List<String> command) throws IOException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            if (!p.waitFor(10, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new IOException(String.join(" ", command) + " failed: " + out);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        return out;
    }
}
