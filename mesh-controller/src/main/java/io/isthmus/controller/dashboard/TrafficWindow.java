package io.isthmus.controller.dashboard;

import static java.util.Objects.requireNonNull;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Turns successive scrapes of proxies' counters into per-edge rates over a sliding window.
 *
 * <p>Each counter series of each proxy is followed on its own: what it gained since the previous
 * scrape is added to its edge's running total (a value lower than before is a restarted proxy:
 * the whole value is new). The first scrape of a proxy only sets its baseline, since nobody knows
 * over how long that count built up; a series that appears on a proxy already known starts from 0.
 * Rates are the difference of running totals between the oldest and newest round in the window.
 *
 * <p>Not thread-safe: owned by the collector's single thread.
 */
final class TrafficWindow {

    static final String REQUESTS = "istio_requests_total";
    static final String DURATION_BUCKET = "istio_request_duration_milliseconds_bucket";

    private record Round(Instant at, Map<EdgeKey, EdgeTotals> totals) {}

    private final Duration window;
    private final Map<String, Map<String, Double>> lastByProxy = new HashMap<>();
    private final Map<EdgeKey, EdgeTotals> running = new HashMap<>();
    private final Deque<Round> rounds = new ArrayDeque<>();

    TrafficWindow(Duration window) {
        requireNonNull(window, "window");
        if (window.isNegative() || window.isZero()) {
            throw new IllegalArgumentException("window: " + window + " (expected: > 0)");
        }
        this.window = window;
    }

    /** Adds what one proxy's counters gained since its previous scrape. */
    void observe(String proxyId, List<Sample> samples) {
        requireNonNull(proxyId, "proxyId");
        Map<String, Double> current = new HashMap<>();
        Map<String, Sample> first = new HashMap<>();
        for (Sample s : samples) {
            boolean wanted = s.name().equals(REQUESTS) || s.name().equals(DURATION_BUCKET);
            if (!wanted || Double.isNaN(s.value()) || s.value() < 0) {
                continue;
            }
            String series = s.name() + new TreeMap<>(s.labels());
            current.merge(series, s.value(), Double::sum);
            first.putIfAbsent(series, s);
        }
        Map<String, Double> previous = lastByProxy.put(proxyId, current);
        if (previous == null) {
            return;
        }
        current.forEach((series, now) -> {
            double before = previous.getOrDefault(series, 0.0);
            double gained = now >= before ? now - before : now;
            if (gained > 0) {
                Sample s = first.get(series);
                running.merge(EdgeKey.of(s), s.name().equals(REQUESTS) ? requestTotals(s, gained)
                        : bucketTotals(s, gained), EdgeTotals::plus);
            }
        });
    }

    /** Forgets a proxy that is gone, so a new proxy reusing its id starts with a fresh baseline. */
    void forget(String proxyId) {
        lastByProxy.remove(proxyId);
    }

    /** Closes one collection round at {@code now} and drops rounds that fell out of the window. */
    void endRound(Instant now) {
        requireNonNull(now, "now");
        rounds.addLast(new Round(now, Map.copyOf(running)));
        while (rounds.size() > 2 && rounds.peekFirst().at().isBefore(now.minus(window))) {
            rounds.removeFirst();
        }
    }

    /** Per-edge statistics between the oldest and newest round of the window (none before two rounds). */
    List<EdgeStats> stats() {
        List<EdgeStats> out = new ArrayList<>();
        if (rounds.size() < 2) {
            return out;
        }
        Round first = rounds.peekFirst();
        Round last = rounds.peekLast();
        double seconds = Duration.between(first.at(), last.at()).toMillis() / 1000.0;
        for (Map.Entry<EdgeKey, EdgeTotals> e : new TreeMap<>(last.totals()).entrySet()) {
            EdgeTotals total = e.getValue();
            EdgeTotals inWindow = total.minus(first.totals().getOrDefault(e.getKey(), EdgeTotals.ZERO));
            out.add(stats(e.getKey(), total, inWindow, seconds));
        }
        return out;
    }

    static EdgeStats stats(EdgeKey key, EdgeTotals total, EdgeTotals inWindow, double seconds) {
        double requests = Math.max(0, inWindow.requests());
        double rate = seconds > 0 ? requests / seconds : 0;
        double errorRate = requests > 0 ? Math.min(1, Math.max(0, inWindow.errors()) / requests) : 0;
        var p99 = Quantiles.of(inWindow.buckets(), 0.99);
        // An idle edge still shows how it was secured when it last carried traffic.
        String security = requests > 0 && !inWindow.security().equals(EdgeKey.UNKNOWN)
                ? inWindow.security() : total.security();
        return new EdgeStats(key, rate, errorRate, p99.isPresent() ? p99.getAsDouble() : null, requests, security);
    }

    private static EdgeTotals requestTotals(Sample s, double gained) {
        String code = s.label("response_code", "");
        boolean error = code.length() == 3 && code.charAt(0) == '5';
        String policy = s.label("connection_security_policy", EdgeKey.UNKNOWN);
        return new EdgeTotals(gained, error ? gained : 0, policy.equals("mutual_tls") ? gained : 0,
                policy.equals("none") ? gained : 0, Map.of());
    }

    private static EdgeTotals bucketTotals(Sample s, double gained) {
        double le;
        try {
            le = PrometheusText.parseValue(s.label("le", ""), 0);
        } catch (PrometheusText.FormatException e) {
            return EdgeTotals.ZERO;
        }
        return new EdgeTotals(0, 0, 0, 0, Map.of(le, gained));
    }
}
