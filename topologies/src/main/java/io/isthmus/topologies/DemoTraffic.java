package io.isthmus.topologies;

import static java.util.Objects.requireNonNull;

import io.isthmus.topologies.internal.SimpleHttp;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Sends requests as the demo's client app: HTTP/1.1 to its sidecar's outbound entry
 * {@code <client localhost>:15001}, from the client's localhost address, with the service's
 * {@code Host}, and reads the echo servers' JSON answers. Stateless; each request uses a new
 * connection so the sidecar's load balancer sees every request.
 */
public final class DemoTraffic {

    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final int REQUEST_TIMEOUT_MILLIS = 10_000;

    /** One answer: who answered, how the request reached it, and who the caller was. */
    public record Answer(String cluster, String version, String pod, Optional<String> forwardedFor,
            Optional<String> callerIdentity, String path) {
        public Answer {
            requireNonNull(cluster, "cluster");
            requireNonNull(version, "version");
            requireNonNull(pod, "pod");
            requireNonNull(forwardedFor, "forwardedFor");
            requireNonNull(callerIdentity, "callerIdentity");
            requireNonNull(path, "path");
        }
    }

    /** A row of the summary table: identical answers and how many there were. */
    public record Row(String cluster, String version, String pod, String path, String callerIdentity, int count) {}

    /** The result of a burst: the answers and the requests that failed, with why. */
    public record Burst(List<Answer> answers, List<String> errors, Duration elapsed) {
        public Burst {
            answers = List.copyOf(answers);
            errors = List.copyOf(errors);
            requireNonNull(elapsed, "elapsed");
        }

        public List<Row> rows() {
            Map<List<String>, Integer> counts = new LinkedHashMap<>();
            for (Answer a : answers) {
                counts.merge(List.of(a.cluster(), a.version(), a.pod(), a.path(), a.callerIdentity().orElse("(none)")),
                        1, Integer::sum);
            }
            List<Row> rows = new ArrayList<>();
            counts.forEach((k, n) -> rows.add(new Row(k.get(0), k.get(1), k.get(2), k.get(3), k.get(4), n)));
            rows.sort(java.util.Comparator.comparing(Row::cluster).thenComparing(Row::pod).thenComparing(Row::path));
            return rows;
        }

        public Set<String> clusters() {
            return answers.stream().map(Answer::cluster).collect(Collectors.toCollection(java.util.TreeSet::new));
        }

        /** The table printed by {@code meshctl demo}. */
        public String table() {
            List<String[]> lines = new ArrayList<>();
            lines.add(new String[] {"ANSWERED BY", "VERSION", "POD", "PATH", "CALLER IDENTITY", "COUNT"});
            for (Row r : rows()) {
                lines.add(new String[] {r.cluster(), r.version(), r.pod(), r.path(), r.callerIdentity(),
                        String.valueOf(r.count())});
            }
            int[] widths = new int[6];
            for (String[] l : lines) {
                for (int i = 0; i < l.length; i++) {
                    widths[i] = Math.max(widths[i], l[i].length());
                }
            }
            StringBuilder sb = new StringBuilder();
            for (String[] l : lines) {
                sb.append("  ");
                for (int i = 0; i < l.length; i++) {
                    sb.append(i == l.length - 1 ? l[i] : String.format("%-" + (widths[i] + 2) + "s", l[i]));
                }
                sb.append('\n');
            }
            sb.append(String.format("  %d of %d requests answered in %d ms", answers.size(),
                    answers.size() + errors.size(), elapsed.toMillis()));
            if (!errors.isEmpty()) {
                sb.append("; failures:");
                errors.stream().distinct().limit(5).forEach(e -> sb.append("\n    ").append(e));
            }
            return sb.append('\n').toString();
        }
    }

    private DemoTraffic() {}

    /** Sends {@code requests} requests one after the other and collects the answers. */
    public static Burst send(LocalMesh mesh, DemoScenario scenario, int requests) {
        requireNonNull(mesh, "mesh");
        requireNonNull(scenario, "scenario");
        if (requests < 1) {
            throw new IllegalArgumentException("requests: " + requests + " (expected: >= 1)");
        }
        Instant start = Instant.now();
        List<Answer> answers = new ArrayList<>();
        List<String> errors = new ArrayList<>();
        for (int i = 0; i < requests; i++) {
            try {
                answers.add(sendOne(mesh.topology(), scenario, "/demo/" + i));
            } catch (IOException | RuntimeException e) {
                errors.add(e.getMessage() == null ? e.toString() : e.getMessage());
            }
        }
        return new Burst(answers, errors, Duration.between(start, Instant.now()));
    }

    /**
     * Sends requests at a steady {@code perSecond} rate for {@code duration}, one after the other
     * (a request that takes longer than the period delays the next; none is dropped), and collects
     * the answers. Each failure is prefixed with its time since the start ({@code t+12.3s}), to
     * line it up with the components' logs.
     */
    public static Burst steady(LocalMesh mesh, DemoScenario scenario, int perSecond, Duration duration) {
        requireNonNull(duration, "duration");
        if (perSecond < 1 || perSecond > 1000) {
            throw new IllegalArgumentException("perSecond: " + perSecond + " (expected: 1..1000)");
        }
        if (duration.isNegative() || duration.isZero()) {
            throw new IllegalArgumentException("duration: " + duration + " (expected: > 0)");
        }
        long periodNanos = 1_000_000_000L / perSecond;
        long requests = Math.max(1, duration.toNanos() / periodNanos);
        long start = System.nanoTime();
        List<Sample> samples = timeline(mesh, scenario, perSecond, sent -> sent.size() >= requests);
        List<Answer> answers = new ArrayList<>();
        List<String> errors = new ArrayList<>();
        for (Sample s : samples) {
            s.answer().ifPresent(answers::add);
            s.error().ifPresent(e -> errors.add(String.format("t+%.1fs: %s", (s.sentNanos() - start) / 1e9, e)));
        }
        return new Burst(answers, errors, Duration.ofNanos(System.nanoTime() - start));
    }

    /**
     * One request of a {@link #timeline}: when it was sent and answered ({@link System#nanoTime()}),
     * and its answer or why it failed (exactly one of the two).
     */
    public record Sample(long sentNanos, long doneNanos, Optional<Answer> answer, Optional<String> error) {
        public Sample {
            requireNonNull(answer, "answer");
            requireNonNull(error, "error");
            if (answer.isPresent() == error.isPresent()) {
                throw new IllegalArgumentException("a sample has an answer or an error (expected: exactly one)");
            }
        }

        /** How long the request took, retries inside the mesh included. */
        public Duration took() {
            return Duration.ofNanos(doneNanos - sentNanos);
        }
    }

    /**
     * Sends requests at a steady {@code perSecond} rate, one after the other (a slow request delays
     * the next; none is dropped), until {@code stop} answers true for the requests made so far (an
     * unmodifiable view, asked before each request); returns every request with its timing, in
     * order. For tests that change the mesh under load (kill and restart workloads) and line the
     * answers up with those changes.
     */
    public static List<Sample> timeline(LocalMesh mesh, DemoScenario scenario, int perSecond,
            java.util.function.Predicate<List<Sample>> stop) {
        requireNonNull(mesh, "mesh");
        requireNonNull(scenario, "scenario");
        requireNonNull(stop, "stop");
        if (perSecond < 1 || perSecond > 1000) {
            throw new IllegalArgumentException("perSecond: " + perSecond + " (expected: 1..1000)");
        }
        long periodNanos = 1_000_000_000L / perSecond;
        long start = System.nanoTime();
        List<Sample> samples = new ArrayList<>();
        List<Sample> view = java.util.Collections.unmodifiableList(samples);
        for (long i = 0; !stop.test(view); i++) {
            long wait = start + i * periodNanos - System.nanoTime();
            if (wait > 0) {
                sleep(wait / 1_000_000);
            }
            long sent = System.nanoTime();
            try {
                Answer a = sendOne(mesh.topology(), scenario, "/steady/" + i);
                samples.add(new Sample(sent, System.nanoTime(), Optional.of(a), Optional.empty()));
            } catch (IOException | RuntimeException e) {
                samples.add(new Sample(sent, System.nanoTime(), Optional.empty(),
                        Optional.of(e.getMessage() == null ? e.toString() : e.getMessage())));
            }
        }
        return samples;
    }

    /**
     * Sends requests until every cluster that runs the service has answered once, or the timeout
     * passes: a sidecar is ready with its own cluster's endpoints, while other clusters' arrive
     * through the federation a little later. Returns the clusters seen.
     */
    public static Set<String> warmUp(LocalMesh mesh, DemoScenario scenario, Duration timeout) {
        Set<String> expected = scenario.servers().stream().map(WorkloadSpec::cluster).collect(Collectors.toSet());
        Set<String> seen = new java.util.TreeSet<>();
        Instant deadline = Instant.now().plus(timeout);
        int sent = 0;
        while (!seen.containsAll(expected) && Instant.now().isBefore(deadline)) {
            try {
                seen.add(sendOne(mesh.topology(), scenario, "/warmup/" + sent++).cluster());
            } catch (IOException | RuntimeException e) {
                sleep(200);
            }
            if (sent % expected.size() == 0) {
                sleep(50);
            }
        }
        return seen;
    }

    static Answer sendOne(Topology topology, DemoScenario scenario, String path) throws IOException {
        String localhost = topology.podLocalhost(scenario.client());
        SimpleHttp.Response r = SimpleHttp.get(localhost, LocalMesh.OUTBOUND_PORT, path, scenario.authority(),
                sourceAddress(topology, localhost), REQUEST_TIMEOUT_MILLIS);
        if (r.status() != 200) {
            throw new IOException("HTTP " + r.status() + " from the client sidecar: "
                    + r.body().substring(0, Math.min(200, r.body().length())).strip());
        }
        JsonNode json;
        try {
            json = JSON.readTree(r.body());
        } catch (JacksonException e) {
            throw new IOException("the answer is not the echo JSON: " + r.body().substring(0, Math.min(120, r.body().length())));
        }
        Optional<String> forwardedFor = text(json, "forwardedFor");
        return new Answer(text(json, "cluster").orElse("?"), text(json, "version").orElse("?"),
                text(json, "pod").orElse("?"), forwardedFor, text(json, "callerIdentity"),
                describePath(topology, scenario, forwardedFor));
    }

    /**
     * On loopback the request leaves from the client pod's localhost, as its app's would. In
     * network namespaces that address belongs to the client cluster's namespace, not to the
     * launcher's (binding it fails with "Cannot assign requested address"), so the request comes
     * from the launcher's side of the router link; the sidecar's outbound entry serves any source.
     */
    static Optional<String> sourceAddress(Topology topology, String podLocalhost) {
        return topology.networkMode() == NetworkMode.NETNS ? Optional.empty() : Optional.of(podLocalhost);
    }

    /** {@code direct} when the request came from the client pod itself, {@code via <ip> (east-west gateway)} for a gateway. */
    static String describePath(Topology topology, DemoScenario scenario, Optional<String> forwardedFor) {
        if (forwardedFor.isEmpty()) {
            return "unknown (no x-forwarded-for)";
        }
        String ip = forwardedFor.get();
        if (ip.equals(topology.podIp(scenario.client())) || ip.equals(topology.podLocalhost(scenario.client()))) {
            return "direct";
        }
        for (ClusterSpec c : topology.clusters()) {
            if (ip.equals(topology.gatewayAddress(c.name()))) {
                return "via " + ip + " (east-west gateway)";
            }
        }
        return "via " + ip;
    }

    private static Optional<String> text(JsonNode json, String field) {
        JsonNode v = json.get(field);
        return v == null || v.isNull() ? Optional.empty() : Optional.of(v.asString());
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }
}
