package io.isthmus.e2e;

import static java.util.Objects.requireNonNull;
import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.isthmus.topologies.DemoScenario;
import io.isthmus.topologies.DemoTraffic;
import io.isthmus.topologies.LocalMesh;
import io.isthmus.topologies.LocalMeshOptions;
import io.isthmus.topologies.MeshComponent;
import io.isthmus.topologies.PortSpec;
import io.isthmus.topologies.Topology;
import io.isthmus.topologies.WorkloadSpec;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;
import io.opentelemetry.proto.collector.trace.v1.TraceServiceGrpc;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The three-cluster demo mesh ({@code shared-demo.yaml}: helloworld v1 in east/net1, v2 in
 * eu/net2, curl in west, curl-eu in eu; 6 s certificates; every span exported to an OTLP receiver
 * of this JVM) that the classes annotated {@link SharedDemoMesh} share. Bringing up its ~15
 * processes is most of an e2e class's time, so it starts once per test JVM, for the first class
 * that asks for it, and stops when the whole run ends ({@link SharedMeshesLast} runs those classes
 * after every class with a mesh of its own, so two meshes never run at once). Its components' logs
 * stay in {@code target/shared-demo-mesh/<cluster>/} after the run.
 *
 * <p>The contract for a class on it: leave the mesh as it found it. Configuration a class applies
 * (VirtualService, DestinationRule, RateLimitPolicy) is deleted in its {@code @AfterAll}, which
 * waits until the sidecars no longer hold it. A class that kills, deletes or restarts pods does so
 * to pods of its own service, added with {@link #addServers} and removed with {@link #retire}, never
 * to the mesh's base workloads. Each class is then independent of which others ran before it.
 */
final class DemoMesh implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(DemoMesh.class);
    private static final Duration WORKLOAD_READY = Duration.ofSeconds(90);

    private final Path runDir;
    private final Topology topology;
    private final LocalMesh mesh;
    private final Server otlp;
    private final List<ResourceSpans> spans;
    private final DemoScenario fromWest;
    private final DemoScenario fromEu;

    private DemoMesh(Path runDir, Topology topology, LocalMesh mesh, Server otlp, List<ResourceSpans> spans) {
        this.runDir = runDir;
        this.topology = topology;
        this.mesh = mesh;
        this.otlp = otlp;
        this.spans = spans;
        this.fromWest = DemoScenario.of(topology);
        this.fromEu = new DemoScenario(topology.workload("curl-eu"), fromWest.service(), fromWest.namespace(),
                fromWest.port(), fromWest.servers());
    }

    /**
     * Starts the mesh and waits until both clients have been answered by both clusters, so that the
     * first class's time measures its test, not the federation spreading every cluster's endpoints.
     */
    static DemoMesh start() {
        Path runDir;
        Topology topology;
        try (InputStream in = DemoMesh.class.getResourceAsStream("/shared-demo.yaml")) {
            assertThat(in).as("shared-demo.yaml on the test class path").isNotNull();
            topology = Topology.parse(new String(in.readAllBytes(), StandardCharsets.UTF_8));
            // Under target/, kept after the run: a failure in any of the classes can be read in its
            // components' logs. LocalMesh empties it when it starts.
            runDir = Files.createDirectories(Path.of("target", "shared-demo-mesh").toAbsolutePath());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        List<ResourceSpans> spans = new CopyOnWriteArrayList<>();
        Server otlp = null;
        LocalMesh mesh = null;
        try {
            otlp = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                    .addService(new TraceServiceGrpc.TraceServiceImplBase() {
                        @Override
                        public void export(ExportTraceServiceRequest request,
                                StreamObserver<ExportTraceServiceResponse> response) {
                            spans.addAll(request.getResourceSpansList());
                            response.onNext(ExportTraceServiceResponse.getDefaultInstance());
                            response.onCompleted();
                        }
                    })
                    .build().start();
            mesh = LocalMesh.start(topology, LocalMeshOptions.defaults(runDir)
                    .withReadyTimeout(Duration.ofMinutes(6))
                    .withTracing("127.0.0.1:" + otlp.getPort(), 100)
                    .withProgress(line -> log.info("{}", line)));
            log.info("shared demo mesh ready in {} ms (logs in {})", mesh.timeToReady().toMillis(), runDir);
            DemoMesh demo = new DemoMesh(runDir, topology, mesh, otlp, spans);
            for (DemoScenario s : List.of(demo.fromWest, demo.fromEu)) {
                Set<String> seen = DemoTraffic.warmUp(mesh, s, Duration.ofSeconds(90));
                assertThat(seen).as("clusters that answered %s while cross-cluster config propagated; logs in %s",
                        s.client().name(), runDir).contains("east", "eu");
            }
            return demo;
        } catch (IOException e) {
            stop(mesh, otlp);
            throw new UncheckedIOException("cannot start the OTLP receiver: " + e.getMessage(), e);
        } catch (RuntimeException | Error e) {
            stop(mesh, otlp);
            throw e;
        }
    }

    /** The running mesh. Its {@link LocalMesh#topology()} grows with the workloads classes add. */
    LocalMesh mesh() {
        return mesh;
    }

    /** The topology as started (shared-demo.yaml), without the workloads classes added since. */
    Topology topology() {
        return topology;
    }

    /** curl in west (net1) calling helloworld:5000: east answers directly, eu through its gateway. */
    DemoScenario fromWest() {
        return fromWest;
    }

    /** curl-eu in eu (net2) calling helloworld:5000: eu answers directly, east through its gateway. */
    DemoScenario fromEu() {
        return fromEu;
    }

    /** Every span the sidecars have exported so far (all traffic is sampled). */
    List<ResourceSpans> spans() {
        return spans;
    }

    /** Where the components' logs are. */
    Path runDir() {
        return runDir;
    }

    /**
     * A server workload of a class's own service, for {@link #addServers}: one pod of
     * {@code service} in namespace sample, port 5000, labels app={@code service}, version={@code version}.
     */
    static WorkloadSpec server(String name, String cluster, String service, String version) {
        return new WorkloadSpec(name, cluster, "sample", Optional.of(service), service,
                Map.of("app", service, "version", version), List.of(new PortSpec("http", 5000, 5000)),
                WorkloadSpec.Role.SERVER);
    }

    /**
     * Starts these pods, ready, each with its app and sidecar, and returns once all are up; with
     * {@code client}, also once that client has been answered by a pod of each of their clusters,
     * so the service has reached the client's sidecar.
     *
     * @return the scenario of {@code client} calling the service of the first of {@code servers}
     */
    DemoScenario addServers(WorkloadSpec client, List<WorkloadSpec> servers) {
        requireNonNull(client, "client");
        assertThat(servers).as("servers").isNotEmpty();
        for (WorkloadSpec w : servers) {
            mesh.addWorkload(w, true, WORKLOAD_READY);
        }
        WorkloadSpec first = servers.get(0);
        DemoScenario scenario = new DemoScenario(client, first.service().orElseThrow(), first.namespace(),
                first.ports().get(0), servers.stream().filter(w -> w.service().equals(first.service())).toList());
        Set<String> clusters = servers.stream().map(WorkloadSpec::cluster).collect(java.util.stream.Collectors.toSet());
        assertThat(DemoTraffic.warmUp(mesh, scenario, Duration.ofSeconds(90)))
                .as("clusters that answered %s on %s; logs in %s", client.name(), scenario.authority(), runDir)
                .containsAll(clusters);
        return scenario;
    }

    /**
     * Deletes these pods from their clusters' API servers and kills their processes (those still
     * running), so that the next class finds only the base workloads running.
     */
    void retire(List<WorkloadSpec> workloads) {
        for (WorkloadSpec w : workloads) {
            try {
                mesh.deletePod(w);
            } catch (RuntimeException e) {
                log.info("pod of {} already gone: {}", w.name(), e.toString());
            }
            for (String name : List.of(w.name() + "-sidecar", w.name())) {
                mesh.components().stream()
                        .filter(c -> c.name().equals(name) && c.cluster().equals(w.cluster()))
                        .findFirst().ifPresent(mesh::kill);
            }
        }
    }

    /** The component of this name in this cluster; fails naming what exists. */
    MeshComponent component(String cluster, String name) {
        return mesh.components().stream().filter(c -> c.name().equals(name) && c.cluster().equals(cluster))
                .findFirst().orElseThrow(() -> new AssertionError("no component " + cluster + "/" + name + " in "
                        + mesh.components().stream().map(MeshComponent::displayName).toList()));
    }

    @Override
    public void close() {
        stop(mesh, otlp);
        assertThat(ProcessHandle.current().children().filter(ProcessHandle::isAlive).toList())
                .as("no child process left running after the shared demo mesh").isEmpty();
    }

    private static void stop(LocalMesh mesh, Server otlp) {
        try {
            if (mesh != null) {
                mesh.close();
            }
        } finally {
            if (otlp != null) {
                try {
                    otlp.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }
}
