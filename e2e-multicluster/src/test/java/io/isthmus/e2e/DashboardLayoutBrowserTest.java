package io.isthmus.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.isthmus.controller.admin.AdminAuth;
import io.isthmus.controller.admin.AdminEndpoints;
import io.isthmus.controller.admin.AdminServer;
import io.isthmus.controller.admin.Readiness;
import io.isthmus.controller.dashboard.DashboardData.CertificateExpiry;
import io.isthmus.controller.dashboard.DashboardData.ClusterHealth;
import io.isthmus.controller.dashboard.DashboardData.GatewayHealth;
import io.isthmus.controller.dashboard.DashboardData.LocalView;
import io.isthmus.controller.dashboard.DashboardData.LocalityServing;
import io.isthmus.controller.dashboard.DashboardData.MeshGraph;
import io.isthmus.controller.dashboard.DashboardData.ProxyHealth;
import io.isthmus.controller.dashboard.DashboardHandler;
import io.isthmus.controller.dashboard.EdgeKey;
import io.isthmus.controller.dashboard.EdgeStats;
import io.isthmus.controller.dashboard.MeshGraphBuilder;
import io.isthmus.controller.dashboard.MeshGraphBuilder.ClusterEntry;
import io.isthmus.controller.xds.MeshSnapshotCache;
import io.isthmus.controller.xds.SyncTracker;
import io.isthmus.controller.xds.XdsOptions;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;

/**
 * Issue 10, "stays readable with 3 clusters and 50 services": the real dashboard page, served by
 * the real admin server, fed a synthetic mesh of 3 clusters × 50 services laid out by the
 * controller's own {@link MeshGraphBuilder}, rendered by Debian's Chromium (headless, Selenium).
 * In the browser: every cluster and service is drawn, no two edge labels overlap, each label's
 * text fits its box, no service name spills out of its box, and proxies whose metrics could not
 * be read show as {@code down} / {@code unknown} while the rest of the page works. The screenshot
 * is {@code target/dashboard-50-services.png} (copied to {@code docs/images/}).
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class DashboardLayoutBrowserTest {

    private static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    private static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
    private static final String[] CLUSTERS = {"east", "eu", "west"};

    @TempDir
    Path profile;

    /** 17 + 17 + 16 services; in each cluster 4 clients calling services of every cluster. */
    static MeshGraph syntheticMesh() {
        List<ClusterEntry> entries = new ArrayList<>();
        List<LocalView> views = new ArrayList<>();
        int service = 0;
        for (int c = 0; c < CLUSTERS.length; c++) {
            List<String> hosts = new ArrayList<>();
            for (int i = 0; i < (c < 2 ? 17 : 16); i++, service++) {
                hosts.add(String.format("%s-%02d.shop.svc.cluster.local",
                        List.of("cart", "checkout", "catalog", "payments", "ratings").get(service % 5), service));
            }
            entries.add(new ClusterEntry(CLUSTERS[c], "net" + (c == 1 ? 2 : 1), "region-" + c + "/zone-a/", hosts));
        }
        for (int c = 0; c < CLUSTERS.length; c++) {
            List<EdgeStats> edges = new ArrayList<>();
            for (int client = 0; client < 4; client++) {
                for (int target = 0; target < CLUSTERS.length; target++) {
                    List<String> hosts = entries.get(target).services();
                    String host = hosts.get((client * 5 + c * 3) % hosts.size());
                    double rps = 0.5 + client * 7.3 + target;
                    edges.add(new EdgeStats(new EdgeKey("source", "client-" + client, "shop", CLUSTERS[c], host,
                            CLUSTERS[target]), rps, client == 3 ? 0.025 : 0, 2.0 + client * 11.5, rps * 60,
                            target == 1 && client == 2 ? "none" : "mutual_tls"));
                }
            }
            List<ProxyHealth> proxies = List.of(
                    new ProxyHealth("client-0." + CLUSTERS[c], "sidecar", CLUSTERS[c], "up",
                            "http://127.0.0.1:15020/stats/prometheus", "", 43_200.0),
                    new ProxyHealth("client-1." + CLUSTERS[c], "sidecar", CLUSTERS[c], "down", "",
                            "http://127.0.0.1:15020/stats/prometheus: ConnectException", null),
                    new ProxyHealth("client-2." + CLUSTERS[c], "sidecar", CLUSTERS[c], "unknown",
                            "http://127.0.0.1:15020/stats/prometheus", "not Prometheus text: line 1: <html>", null));
            ClusterHealth health = new ClusterHealth(CLUSTERS[c], entries.get(c).network(), entries.get(c).locality(),
                    true, true, List.of(), "east", List.of(CLUSTERS), 3, 120,
                    List.of(new GatewayHealth("127.0.0." + (c + 2), 15443, c != 2, c != 2 ? "" : "connection refused")),
                    List.of(new CertificateExpiry("cluster intermediate CA", "CN=" + CLUSTERS[c], "2027-11-27T00:00:00Z",
                            365)),
                    c == 0 ? List.of("VirtualService shop/bad: spec.http[0].route: missing") : List.of());
            List<LocalityServing> localities = List.of(new LocalityServing("client-0", CLUSTERS[c],
                    entries.get(c).locality(), entries.get(0).services().get(0),
                    List.of("eu (region-1/zone-a/)"), List.of("east (region-0/zone-a/)"), "2026-11-27T08:00:00Z"));
            views.add(new LocalView(CLUSTERS[c], "2026-11-27T08:00:00Z", 60, edges, proxies, health, localities));
        }
        return MeshGraphBuilder.build("east", "2026-11-27T08:00:00Z", entries, views, List.of());
    }

    @Test
    void fiftyServicesInThreeClustersAreReadableInABrowser() throws Exception {
        assertThat(CHROMIUM).as("Debian's chromium (apt-get install chromium)").isExecutable();
        assertThat(CHROMEDRIVER).as("Debian's chromedriver (apt-get install chromium-driver)").isExecutable();
        MeshGraph mesh = syntheticMesh();
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        MeshSnapshotCache cache = new MeshSnapshotCache(new XdsOptions("cluster.local", "cluster.local",
                Duration.ofMillis(20), Duration.ofMillis(200)));
        AdminServer admin = AdminServer.start("127.0.0.1", 0, new AdminEndpoints(() -> Readiness.of(List.of()),
                Map::of, cache, new SyncTracker(), registry),
                AdminAuth.of("127.0.0.1", Optional.empty(), Optional.empty(), registry));
        admin.route("/dashboard", new DashboardHandler(() -> mesh, () -> null));
        ChromeDriverService service = new ChromeDriverService.Builder()
                .usingDriverExecutable(CHROMEDRIVER.toFile()).usingAnyFreePort().build();
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM.toFile());
        options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--user-data-dir=" + profile, "--window-size=" + (int) Math.ceil(mesh.width() + 60) + ",1250");
        ChromeDriver browser = new ChromeDriver(service, options);
        try {
            browser.get("http://127.0.0.1:" + admin.address().getPort() + "/dashboard");
            await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
                    assertThat(browser.findElements(By.cssSelector("#graph g.node.service"))).hasSize(50));
            assertThat(browser.findElements(By.cssSelector("#graph g.cluster")))
                    .extracting(e -> e.getDomAttribute("data-cluster")).containsExactly(CLUSTERS);
            assertThat(browser.findElements(By.cssSelector("#graph g.edge"))).hasSize(mesh.edges().size());
            assertThat(browser.findElements(By.cssSelector("#graph g.edge-tag"))).hasSize(mesh.edges().size());

            // Measured by the browser's own layout engine, in screen pixels.
            @SuppressWarnings("unchecked")
            List<List<Number>> labels = (List<List<Number>>) browser.executeScript(
                    "return [...document.querySelectorAll('#graph g.edge-tag')].map(g => {"
                            + " const r = g.querySelector('rect').getBoundingClientRect();"
                            + " const t = g.querySelector('text').getBoundingClientRect();"
                            + " return [r.left, r.top, r.width, r.height, t.left, t.width]; });");
            for (int i = 0; i < labels.size(); i++) {
                double[] a = box(labels.get(i));
                assertThat(labels.get(i).get(5).doubleValue()).as("label %d's text fits its box", i)
                        .isLessThanOrEqualTo(a[2] + 1);
                for (int j = i + 1; j < labels.size(); j++) {
                    double[] b = box(labels.get(j));
                    boolean overlap = a[0] < b[0] + b[2] && b[0] < a[0] + a[2] && a[1] < b[1] + b[3] && b[1] < a[1] + a[3];
                    assertThat(overlap).as("labels %d and %d overlap on screen", i, j).isFalse();
                }
            }
            @SuppressWarnings("unchecked")
            List<Boolean> namesFit = (List<Boolean>) browser.executeScript(
                    "return [...document.querySelectorAll('#graph g.node')].map(g =>"
                            + " g.querySelector('text').getBoundingClientRect().right"
                            + " <= g.querySelector('rect').getBoundingClientRect().right + 0.5);");
            assertThat(namesFit).as("node names inside their boxes").isNotEmpty().containsOnly(true);

            String proxies = browser.findElement(By.cssSelector("#proxies tbody")).getText();
            assertThat(proxies).contains("down", "unknown", "not Prometheus text");
            assertThat(browser.findElements(By.cssSelector("#health .card"))).hasSize(3)
                    .allSatisfy(card -> assertThat(card.getText()).contains("controller ready", "federation leader: east",
                            "cluster intermediate CA expires in 365 days",
                            "workload certificates (1 proxies): first expires in 12.0 h"));
            assertThat(browser.findElement(By.cssSelector("#health .card[data-cluster='east']")).getText())
                    .contains("1 rejected: VirtualService shop/bad");
            assertThat(browser.findElement(By.cssSelector("#localities tbody")).getText())
                    .contains("eu (region-1/zone-a/)", "east (region-0/zone-a/)");
            assertThat(browser.findElement(By.id("updated")).getText()).startsWith("updated");

            Path screenshot = Files.createDirectories(Path.of("target")).resolve("dashboard-50-services.png");
            Files.write(screenshot, browser.getScreenshotAs(OutputType.BYTES));
            assertThat(Files.size(screenshot)).isGreaterThan(20_000);
        } finally {
            browser.quit();
            admin.close();
            cache.close();
        }
    }

    private static double[] box(List<Number> v) {
        return new double[] {v.get(0).doubleValue(), v.get(1).doubleValue(), v.get(2).doubleValue(),
                v.get(3).doubleValue()};
    }
}
