package io.isthmus.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.isthmus.topologies.DemoScenario;
import io.isthmus.topologies.DemoTraffic;
import io.isthmus.topologies.LocalMesh;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Issue 10, "Done when": Debian's Chromium, headless and driven by Selenium through Debian's
 * chromedriver, loads the dashboard of the running demo topology (the shared {@link DemoMesh}) from
 * {@code east}'s controller while curl in {@code west} sends steady traffic to helloworld, which
 * answers from {@code east} (same network) and {@code eu} (through eu's east-west gateway). The
 * page must draw, without being reloaded, an edge between services in different clusters with a
 * non-zero rate: east's controller knows west's traffic only by asking west's controller, so this
 * also proves the cross-controller merge. The screenshot goes to {@code target/dashboard-e2e.png}.
 */
@SharedDemoMesh
@Timeout(value = 6, unit = TimeUnit.MINUTES)
class DashboardBrowserE2ETest {

    private static final Logger log = LoggerFactory.getLogger(DashboardBrowserE2ETest.class);
    private static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    private static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");

    @TempDir
    static Path browserProfile;

    private static LocalMesh mesh;
    private static DemoScenario scenario;
    private static Path runDir;

    @BeforeAll
    static void useSharedMesh(DemoMesh demo) {
        assertThat(CHROMIUM).as("Debian's chromium (.ci/run installs it: apt-get install chromium)").isExecutable();
        assertThat(CHROMEDRIVER).as("Debian's chromedriver (apt-get install chromium-driver)").isExecutable();
        mesh = demo.mesh();
        scenario = demo.fromWest();
        runDir = demo.runDir();
    }

    @Test
    void theDashboardOfOneControllerShowsCrossClusterTrafficInABrowser() throws Exception {
        AtomicBoolean stop = new AtomicBoolean();
        CompletableFuture<Integer> traffic = CompletableFuture.supplyAsync(() -> {
            int answered = 0;
            while (!stop.get()) {
                answered += DemoTraffic.steady(mesh, scenario, 20, Duration.ofSeconds(2)).answers().size();
            }
            return answered;
        });
        ChromeDriverService service = new ChromeDriverService.Builder()
                .usingDriverExecutable(CHROMEDRIVER.toFile())
                .usingAnyFreePort()
                .withLogFile(runDir.resolve("chromedriver.log").toFile())
                .build();
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM.toFile());
        options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--user-data-dir=" + browserProfile, "--window-size=1800,1300");
        ChromeDriver browser = new ChromeDriver(service, options);
        try {
            String url = mesh.controllerAdminUrl("east") + "/dashboard";
            browser.get(url);
            assertThat(browser.getTitle()).isEqualTo("Isthmus mesh dashboard");
            // Polled by the page itself: no reload from here on.
            await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofSeconds(1)).untilAsserted(() -> {
                List<WebElement> edges = browser.findElements(By.cssSelector("#graph g.edge"));
                assertThat(edges).as("edges drawn by %s (status: %s)", url,
                        browser.findElement(By.id("updated")).getText()).anySatisfy(e -> {
                    assertThat(e.getDomAttribute("data-from-cluster")).isEqualTo("west");
                    assertThat(e.getDomAttribute("data-to-cluster")).isIn("east", "eu");
                    assertThat(Double.parseDouble(e.getDomAttribute("data-rps"))).isGreaterThan(0);
                });
            });
            await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
                List<WebElement> cross = browser.findElements(By.cssSelector("#graph g.edge.cross"));
                assertThat(cross).extracting(e -> e.getDomAttribute("data-to-cluster")).contains("east", "eu");
                assertThat(cross).allSatisfy(e -> assertThat(Double.parseDouble(e.getDomAttribute("data-rps")))
                        .isGreaterThan(0));
            });
            assertThat(browser.findElements(By.cssSelector("#graph g.cluster")))
                    .extracting(e -> e.getDomAttribute("data-cluster")).containsExactlyInAnyOrder("east", "eu", "west");
            assertThat(browser.findElements(By.cssSelector("#health .card")))
                    .as("a health panel per cluster, each answered by its controller")
                    .hasSize(3).allSatisfy(card -> assertThat(card.getText()).contains("controller ready",
                            "federation leader:", "gateway"));
            // The locality panel needs a collector round after the first edges (the page polls every 3 s).
            await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
                assertThat(browser.findElement(By.cssSelector("#edges tbody")).getText()).contains("wl:west:curl");
                assertThat(browser.findElement(By.cssSelector("#localities tbody")).getText()).contains("curl");
            });

            Path target = Path.of("target");
            Files.createDirectories(target);
            Path screenshot = target.resolve("dashboard-e2e.png");
            Files.write(screenshot, browser.getScreenshotAs(OutputType.BYTES));
            log.info("dashboard screenshot: {}", screenshot.toAbsolutePath());
            assertThat(Files.size(screenshot)).isGreaterThan(10_000);
        } finally {
            browser.quit();
            stop.set(true);
            assertThat(traffic.get(30, TimeUnit.SECONDS)).as("requests answered while the page was open")
                    .isGreaterThan(0);
        }
    }
}
