package io.isthmus.controller;

import static java.util.Objects.requireNonNull;

import io.isthmus.controller.config.MeshConfig;
import io.isthmus.controller.translate.JwksSources;
import io.isthmus.controller.translate.JwksSources.Source;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;

/**
 * Fetches the JWKS that RequestAuthentication rules name by {@code jwksUri} (or by OpenID
 * discovery of their issuer) so that translation can inline them, as istiod does: proxies never
 * fetch keys themselves. Fetches are asynchronous and never block translation; each success that
 * changes a key set hands the whole map ({@link JwksSources.Source#key()} → JWKS JSON) to the sink,
 * which re-translates. Keys are refreshed every {@link Options#refresh()}; a failed fetch keeps
 * the last good keys, is logged and counted ({@code isthmus_jwks_fetch_failures_total{reason}}),
 * shows in {@link #status()}, and is retried with backoff. Responses are bounded in size, sources
 * in number. Thread-safe: state lives on one serialized executor.
 */
public final class JwksFetcher implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(JwksFetcher.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * @param refresh    how often keys are fetched again (Istio: 20 minutes)
     * @param retryMin   the first retry after a failure, doubled up to {@code refresh}
     * @param maxBytes   the largest JWKS or discovery document accepted
     * @param maxSources the most sources fetched; more are refused (logged, counted)
     */
    public record Options(Duration refresh, Duration retryMin, int maxBytes, int maxSources) {
        public static final Options DEFAULT = new Options(Duration.ofMinutes(20), Duration.ofSeconds(1),
                1 << 20, 1024);

        public Options {
            requireNonNull(refresh, "refresh");
            requireNonNull(retryMin, "retryMin");
            if (refresh.isNegative() || refresh.isZero() || retryMin.isNegative() || retryMin.isZero()) {
                throw new IllegalArgumentException("refresh: " + refresh + ", retryMin: " + retryMin
                        + " (expected: both > 0)");
            }
            if (maxBytes <= 0 || maxSources <= 0) {
                throw new IllegalArgumentException("maxBytes: " + maxBytes + ", maxSources: " + maxSources
                        + " (expected: both > 0)");
            }
        }
    }

    /**
     * Where one source stands.
     *
     * @param key         the JWKS URI, or the issuer's OpenID discovery URI
     * @param issuers     the RequestAuthentication issuers whose tokens these keys verify
     * @param hasKeys     whether keys are in force (the last good ones stay through failures)
     * @param keyCount    how many keys are in force
     * @param lastSuccess when keys last arrived, or null
     * @param lastError   the last failure ("" after a success)
     * @param nextRefresh when the next fetch (refresh or retry) is due, or null while one runs
     */
    public record Status(String key, List<String> issuers, boolean hasKeys, int keyCount, Instant lastSuccess,
            String lastError, Instant nextRefresh) {
        public Status {
            requireNonNull(key, "key");
            issuers = List.copyOf(issuers);
            requireNonNull(lastError, "lastError");
        }

        Status withNextRefresh(Instant next) {
            return new Status(key, issuers, hasKeys, keyCount, lastSuccess, lastError, next);
        }
    }

    private final Options options;
    private final Consumer<Map<String, String>> sink;
    private final HttpClient http;
    private final Clock clock;
    private final MeterRegistry registry;
    private final ScheduledExecutorService executor;

    // Confined to the executor.
    private Map<String, Source> sources = Map.of();
    private final Map<String, String> keys = new TreeMap<>();
    private final Map<String, ScheduledFuture<?>> timers = new HashMap<>();
    private final Map<String, Duration> backoff = new HashMap<>();
    private final Map<String, Status> status = new TreeMap<>();
    private Map<String, String> published = Map.of();
    private Map<String, java.util.SortedSet<String>> issuers = Map.of();

    public JwksFetcher(Options options, Consumer<Map<String, String>> sink, MeterRegistry registry) {
        this(options, sink, HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NORMAL)
                .connectTimeout(Duration.ofSeconds(5)).build(), Clock.systemUTC(), registry);
    }

    JwksFetcher(Options options, Consumer<Map<String, String>> sink, HttpClient http, Clock clock,
            MeterRegistry registry) {
        this.options = requireNonNull(options, "options");
        this.sink = requireNonNull(sink, "sink");
        this.http = requireNonNull(http, "http");
        this.clock = requireNonNull(clock, "clock");
        this.registry = requireNonNull(registry, "registry");
        ScheduledThreadPoolExecutor ex = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "jwks-fetch");
            t.setDaemon(true);
            return t;
        });
        ex.setRemoveOnCancelPolicy(true);
        this.executor = ex;
    }

    /** The configuration in force: fetches what it names and was not fetched, forgets the rest. */
    public void onConfig(MeshConfig config) {
        Map<String, Source> next = JwksSources.of(requireNonNull(config, "config"));
        Map<String, java.util.SortedSet<String>> nextIssuers = JwksSources.issuers(config);
        executor.execute(() -> {
            issuers = nextIssuers;
            status.replaceAll((key, s) -> new Status(key, issuersOf(key), s.hasKeys(), s.keyCount(),
                    s.lastSuccess(), s.lastError(), s.nextRefresh()));
            apply(next);
        });
    }

    /** Each source's state, by key (a snapshot, for debugging). */
    public Map<String, Status> status() {
        try {
            return executor.submit(() -> Map.copyOf(status)).get(5, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException("JWKS fetcher status unavailable: " + e.getMessage(), e);
        }
    }

    private void apply(Map<String, Source> next) {
        if (next.equals(sources)) {
            return;
        }
        Map<String, Source> accepted = new TreeMap<>();
        for (var e : next.entrySet()) {
            if (accepted.size() >= options.maxSources()) {
                fail(e.getKey(), "too_many", "more than " + options.maxSources()
                        + " JWKS sources; not fetched (expected: fewer jwksUri/issuers in RequestAuthentications)");
                continue;
            }
            accepted.put(e.getKey(), e.getValue());
        }
        for (String gone : sources.keySet()) {
            if (!accepted.containsKey(gone)) {
                ScheduledFuture<?> timer = timers.remove(gone);
                if (timer != null) {
                    timer.cancel(false);
                }
                keys.remove(gone);
                backoff.remove(gone);
                status.remove(gone);
            }
        }
        Map<String, Source> previous = sources;
        sources = Map.copyOf(accepted);
        for (Source s : accepted.values()) {
            if (!previous.containsKey(s.key())) {
                status.put(s.key(), new Status(s.key(), issuersOf(s.key()), false, 0, null, "not fetched yet", null));
                fetch(s.key());
            }
        }
        publish();
    }

    /** On the executor: starts one fetch; its result comes back to the executor. */
    private void fetch(String key) {
        timers.remove(key);
        status.computeIfPresent(key, (k, st) -> st.withNextRefresh(null));
        Source source = sources.get(key);
        if (source == null) {
            return;
        }
        CompletableFuture<String> jwksUri = source.discovery()
                ? get(key, source.timeout()).thenApply(doc -> jwksUri(doc, key))
                : CompletableFuture.completedFuture(key);
        CompletableFuture<String> keysJson = jwksUri
                .thenCompose(uri -> get(uri, source.timeout()))
                .thenApply(JwksFetcher::requireJwks);
        keysJson.whenCompleteAsync((json, error) -> done(key, json, error), executor);
    }

    /** Fetched keys or the failure, back on the executor. */
    private void done(String key, String json, Throwable error) {
        if (!sources.containsKey(key)) {
            return; // removed from the configuration meanwhile
        }
        if (error != null) {
            Throwable cause = error instanceof java.util.concurrent.CompletionException && error.getCause() != null
                    ? error.getCause() : error;
            String reason = cause instanceof java.net.http.HttpTimeoutException ? "timeout"
                    : cause instanceof FetchException f ? f.reason : "io";
            fail(key, reason, cause.getMessage() == null ? cause.toString() : cause.getMessage());
            Duration wait = backoff.merge(key, options.retryMin(),
                    (previous, min) -> min(previous.multipliedBy(2), options.refresh()));
            schedule(key, wait);
            return;
        }
        backoff.remove(key);
        keys.put(key, json);
        status.put(key, new Status(key, issuersOf(key), true, keyCount(json), clock.instant(), "", null));
        publish();
        schedule(key, options.refresh());
    }

    private void fail(String key, String reason, String message) {
        Counter.builder("isthmus_jwks_fetch_failures").tag("reason", reason)
                .description("JWKS fetches that failed (the last good keys stay)").register(registry).increment();
        Status before = status.get(key);
        boolean hasKeys = keys.containsKey(key);
        status.put(key, new Status(key, issuersOf(key), hasKeys, hasKeys ? keyCount(keys.get(key)) : 0,
                before == null ? null : before.lastSuccess(), message, null));
        log.warn("JWKS {}: fetch failed ({}): {}; {}", key, reason, message,
                hasKeys ? "keeping the last good keys" : "tokens of its issuer are refused until keys arrive");
    }

    private void schedule(String key, Duration after) {
        status.computeIfPresent(key, (k, s) -> s.withNextRefresh(clock.instant().plus(after)));
        ScheduledFuture<?> previous = timers.put(key,
                executor.schedule(() -> fetch(key), after.toMillis(), TimeUnit.MILLISECONDS));
        if (previous != null) {
            previous.cancel(false);
        }
    }

    private void publish() {
        Map<String, String> next = Map.copyOf(keys);
        if (!next.equals(published)) {
            published = next;
            sink.accept(next);
        }
    }

    /** GET {@code uri} with {@code timeout}; non-2xx and oversized bodies fail. */
    CompletableFuture<String> get(String uri, Duration timeout) {
        HttpRequest request;
        try {
            request = HttpRequest.newBuilder(URI.create(uri)).timeout(timeout)
                    .header("accept", "application/json").GET().build();
        } catch (IllegalArgumentException e) {
            return CompletableFuture.failedFuture(new FetchException("uri", "'" + uri + "': " + e.getMessage()));
        }
        return http.sendAsync(request, HttpResponse.BodyHandlers.ofByteArray()).thenApply(response -> {
            if (response.statusCode() / 100 != 2) {
                throw new FetchException("status", uri + " answered " + response.statusCode()
                        + " (expected: 200 with a JSON Web Key Set)");
            }
            if (response.body().length > options.maxBytes()) {
                throw new FetchException("size", uri + " sent " + response.body().length
                        + " bytes (expected: at most " + options.maxBytes() + ")");
            }
            return new String(response.body(), java.nio.charset.StandardCharsets.UTF_8);
        });
    }

    /** The JWKS as fetched, once it parses as one: a proxy refuses the listener of a bad one. */
    static String requireJwks(String json) {
        JsonNode node;
        try {
            node = JSON.readTree(json);
        } catch (JacksonException e) {
            throw new FetchException("invalid", "not JSON: " + e.getOriginalMessage()
                    + " (expected: a JSON Web Key Set)");
        }
        if (node == null || !node.isObject() || !node.path("keys").isArray()) {
            throw new FetchException("invalid", "no \"keys\" array (expected: a JSON Web Key Set)");
        }
        for (JsonNode key : node.path("keys")) {
            if (!key.isObject() || !key.path("kty").isString()) {
                throw new FetchException("invalid", "a key without \"kty\" (expected: JSON Web Keys)");
            }
        }
        return json;
    }

    /** OpenID discovery: the document's {@code jwks_uri}. */
    static String jwksUri(String discoveryJson, String from) {
        try {
            JsonNode uri = JSON.readTree(discoveryJson).path("jwks_uri");
            if (!uri.isString() || uri.asString().isBlank()) {
                throw new FetchException("invalid", from + " has no jwks_uri (expected: an OpenID discovery document)");
            }
            return uri.asString();
        } catch (JacksonException e) {
            throw new FetchException("invalid", from + " is not JSON: " + e.getOriginalMessage());
        }
    }

    private List<String> issuersOf(String key) {
        return List.copyOf(issuers.getOrDefault(key, new java.util.TreeSet<>()));
    }

    private static int keyCount(String json) {
        try {
            return JSON.readTree(json).path("keys").size();
        } catch (JacksonException e) {
            return 0; // requireJwks parsed it already
        }
    }

    private static Duration min(Duration a, Duration b) {
        return a.compareTo(b) <= 0 ? a : b;
    }

    /** A failed fetch with its metric reason. */
    static final class FetchException extends RuntimeException {
        final String reason;

        FetchException(String reason, String message) {
            super(message);
            this.reason = reason;
        }
    }

    @Override
    public void close() {
        executor.shutdownNow();
    }
}
