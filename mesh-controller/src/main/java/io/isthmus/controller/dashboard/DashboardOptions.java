package io.isthmus.controller.dashboard;

import static java.util.Objects.requireNonNull;

import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * How the dashboard collects and whom it serves.
 *
 * @param scrapeInterval how often the proxies are scraped and the other controllers asked
 * @param window         rates, error rates and p99 are computed over this much past
 * @param timeout        bound on each scrape and each question to another controller
 * @param token          the admin token ({@code --admin-token}): opens this controller's admin port
 *                       beyond loopback (see {@code AdminAuth}) and is sent to the other controllers
 * @param metricsPorts   ports tried in order on each proxy's address for {@code /stats/prometheus}
 *                       (Istio's merged-metrics port 15020, then the admin port 15000, which the
 *                       east-west gateway binds on its own address)
 * @param peerAdminPort  admin port of the other primaries' controllers, or 0 for this controller's own
 */
public record DashboardOptions(Duration scrapeInterval, Duration window, Duration timeout, Optional<String> token,
        List<Integer> metricsPorts, int peerAdminPort) {

    public static final List<Integer> DEFAULT_METRICS_PORTS = List.of(15020, 15000);

    public DashboardOptions {
        requireNonNull(scrapeInterval, "scrapeInterval");
        requireNonNull(window, "window");
        requireNonNull(timeout, "timeout");
        requireNonNull(token, "token");
        metricsPorts = List.copyOf(metricsPorts);
        positive(scrapeInterval, "--dashboard-scrape-interval");
        positive(window, "--dashboard-window");
        positive(timeout, "--dashboard-timeout");
        if (window.compareTo(scrapeInterval.multipliedBy(2)) < 0) {
            throw new IllegalArgumentException("--dashboard-window: " + window + " (expected: at least twice"
                    + " --dashboard-scrape-interval " + scrapeInterval + ", so a rate spans two scrapes)");
        }
        if (token.isPresent() && token.get().isBlank()) {
            throw new IllegalArgumentException("--admin-token: blank (expected: a secret string, or leave it unset)");
        }
        if (peerAdminPort < 0 || peerAdminPort > 65535) {
            throw new IllegalArgumentException("--dashboard-peer-admin-port: " + peerAdminPort + " (expected: 0-65535)");
        }
    }

    public static DashboardOptions defaults() {
        return new DashboardOptions(Duration.ofSeconds(5), Duration.ofSeconds(60), Duration.ofSeconds(2),
                Optional.empty(), DEFAULT_METRICS_PORTS, 0);
    }

    private static void positive(Duration d, String flag) {
        if (d.isNegative() || d.isZero()) {
            throw new IllegalArgumentException(flag + ": " + d + " (expected: > 0)");
        }
    }
}
