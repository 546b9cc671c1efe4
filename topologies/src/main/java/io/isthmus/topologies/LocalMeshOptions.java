package io.isthmus.topologies;

import static java.util.Objects.requireNonNull;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.function.Consumer;

/**
 * How {@link LocalMesh} runs a topology.
 *
 * @param runDirectory where kubeconfigs, tokens, data and logs go ({@code <dir>/<cluster>/...});
 *     emptied at start if it holds a previous run
 * @param classPath the class path of every child JVM; it must hold the controller, proxy,
 *     gateway and topologies modules
 * @param javaCommand the {@code java} executable for children
 * @param childJvmOptions JVM flags for every child but the data plane's
 * @param readyTimeout how long to wait for every component's {@code /ready}
 * @param progress where to report progress lines (for the CLI; tests may pass a logger)
 * @param dataPlaneJvmOptions JVM flags for the sidecars and east-west gateways: by default
 *     {@code childJvmOptions} (C1 only, for start-up); {@code DataPlaneJvm.local()} is the
 *     production data plane's (what the bench measures and the images run)
 */
public record LocalMeshOptions(
        Path runDirectory,
        String classPath,
        String javaCommand,
        List<String> childJvmOptions,
        Duration readyTimeout,
        Consumer<String> progress,
        String otlpEndpoint,
        double traceSamplingPercent,
        List<String> dataPlaneJvmOptions) {

    /** Options without tracing: sidecars export no spans. */
    public LocalMeshOptions(Path runDirectory, String classPath, String javaCommand, List<String> childJvmOptions,
            Duration readyTimeout, Consumer<String> progress) {
        this(runDirectory, classPath, javaCommand, childJvmOptions, readyTimeout, progress, "", 1.0);
    }

    /**
     * Options whose sidecars and gateways run {@code childJvmOptions} too. A local mesh starts 15+
     * JVMs on a laptop-sized machine at once: with C2 in the data plane's ten or so, the start-up
     * JIT work starved the API servers and controllers on two cores (informer lists timed out,
     * CI failed), so the launcher keeps C1 everywhere; {@link #withDataPlaneJvmOptions} with
     * {@code DataPlaneJvm.local()} runs the production data plane's flags (what the bench measures
     * and the images run).
     */
    public LocalMeshOptions(Path runDirectory, String classPath, String javaCommand, List<String> childJvmOptions,
            Duration readyTimeout, Consumer<String> progress, String otlpEndpoint, double traceSamplingPercent) {
        this(runDirectory, classPath, javaCommand, childJvmOptions, readyTimeout, progress, otlpEndpoint,
                traceSamplingPercent, childJvmOptions);
    }

    /**
     * Small-JVM flags for the control plane, API servers and sample apps: 12+ JVMs share two cores on a
     * laptop-sized machine, and C1 alone starts them faster. Not the data plane's (see
     * {@code dataPlaneJvmOptions}).
     */
    public static final List<String> SMALL_JVM = List.of(
            "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss512k", "-Xmx192m", "-XX:+ExitOnOutOfMemoryError",
            "-XX:-UsePerfData", "-Xshare:auto");

    public LocalMeshOptions {
        requireNonNull(runDirectory, "runDirectory");
        requireNonNull(classPath, "classPath");
        requireNonNull(javaCommand, "javaCommand");
        childJvmOptions = List.copyOf(requireNonNull(childJvmOptions, "childJvmOptions"));
        dataPlaneJvmOptions = List.copyOf(requireNonNull(dataPlaneJvmOptions, "dataPlaneJvmOptions"));
        requireNonNull(readyTimeout, "readyTimeout");
        requireNonNull(progress, "progress");
        requireNonNull(otlpEndpoint, "otlpEndpoint");
        if (!(traceSamplingPercent >= 0 && traceSamplingPercent <= 100)) {
            throw new IllegalArgumentException("traceSamplingPercent: " + traceSamplingPercent
                    + " (expected: a percentage from 0 to 100)");
        }
        if (classPath.isBlank()) {
            throw new IllegalArgumentException("classPath: empty (expected: the class path of the Isthmus modules; "
                    + "set -Disthmus.classpath)");
        }
        if (readyTimeout.isNegative() || readyTimeout.isZero()) {
            throw new IllegalArgumentException("readyTimeout: " + readyTimeout + " (expected: > 0)");
        }
    }

    /**
     * Defaults for this JVM: the class path from the system property {@code isthmus.classpath},
     * else {@code java.class.path}; this JVM's {@code java}; small-JVM flags; 120 s to be ready.
     */
    public static LocalMeshOptions defaults(Path runDirectory) {
        return new LocalMeshOptions(runDirectory, defaultClassPath(), defaultJava(), SMALL_JVM,
                Duration.ofSeconds(120), line -> {});
    }

    public LocalMeshOptions withProgress(Consumer<String> newProgress) {
        return new LocalMeshOptions(runDirectory, classPath, javaCommand, childJvmOptions, readyTimeout, newProgress,
                otlpEndpoint, traceSamplingPercent, dataPlaneJvmOptions);
    }

    public LocalMeshOptions withReadyTimeout(Duration timeout) {
        return new LocalMeshOptions(runDirectory, classPath, javaCommand, childJvmOptions, timeout, progress,
                otlpEndpoint, traceSamplingPercent, dataPlaneJvmOptions);
    }

    /**
     * Every sidecar exports one span per hop to the OTLP/gRPC collector at {@code endpoint}
     * ({@code host:port}), sampling {@code samplingPercent} of new traces.
     */
    public LocalMeshOptions withTracing(String endpoint, double samplingPercent) {
        return new LocalMeshOptions(runDirectory, classPath, javaCommand, childJvmOptions, readyTimeout, progress,
                endpoint, samplingPercent, dataPlaneJvmOptions);
    }

    /** The sidecars and east-west gateways run {@code jvmOptions} instead of the production data plane's. */
    public LocalMeshOptions withDataPlaneJvmOptions(List<String> jvmOptions) {
        return new LocalMeshOptions(runDirectory, classPath, javaCommand, childJvmOptions, readyTimeout, progress,
                otlpEndpoint, traceSamplingPercent, jvmOptions);
    }

    /** The JVM flags of a child running {@code mainClass}: the data plane's for a sidecar or gateway. */
    public List<String> jvmOptionsFor(String mainClass) {
        boolean dataPlane = mainClass.equals(LocalMesh.PROXY_MAIN) || mainClass.equals(LocalMesh.GATEWAY_MAIN);
        return dataPlane ? dataPlaneJvmOptions : childJvmOptions;
    }

    public static String defaultClassPath() {
        String cp = System.getProperty("isthmus.classpath");
        return cp != null && !cp.isBlank() ? cp : System.getProperty("java.class.path", "");
    }

    public static String defaultJava() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }
}
