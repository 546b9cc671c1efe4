package io.isthmus.meshctl;

import static org.assertj.core.api.Assertions.assertThat;

import io.isthmus.controller.admin.AdminAuth;
import io.isthmus.controller.admin.AdminEndpoints;
import io.isthmus.controller.admin.AdminServer;
import io.isthmus.controller.admin.Readiness;
import io.isthmus.controller.dashboard.DashboardData.ClusterHealth;
import io.isthmus.controller.dashboard.DashboardData.LocalView;
import io.isthmus.controller.dashboard.DashboardData.MeshGraph;
import io.isthmus.controller.dashboard.DashboardHandler;
import io.isthmus.controller.xds.MeshSnapshotCache;
import io.isthmus.controller.xds.SyncTracker;
import io.isthmus.controller.xds.XdsOptions;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * meshctl against a real controller admin server listening beyond loopback (the wildcard
 * address) with an admin token: without credentials it says how to pass them; with {@code --token}
 * or the run directory's {@code admin-token} file it gets through.
 */
class AdminCredentialsTest {

    @TempDir
    Path run;
    private MeshSnapshotCache cache;
    private AdminServer server;
    private String address;

    @BeforeEach
    void start() throws Exception {
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        cache = new MeshSnapshotCache(new XdsOptions("cluster.local", "cluster.local",
                Duration.ofMillis(20), Duration.ofMillis(200)));
        server = AdminServer.start("0.0.0.0", 0, new AdminEndpoints(() -> Readiness.of(List.of()), Map::of, cache,
                new SyncTracker(), registry), AdminAuth.of("0.0.0.0", Optional.of("s3cret"), Optional.empty(), registry));
        LocalView local = new LocalView("east", "2026-11-27T08:00:00Z", 60, List.of(), List.of(),
                new ClusterHealth("east", "net1", "r/z/", true, true, List.of(), "east", List.of("east"), 1, 1,
                        List.of(), List.of(), List.of()), List.of());
        MeshGraph mesh = new MeshGraph("east", local.generatedAt(), 400, 100, List.of(), List.of(), List.of(),
                List.of(), List.of());
        server.route("/dashboard", new DashboardHandler(() -> mesh, () -> local));
        address = "127.0.0.1:" + server.address().getPort();
        Path dir = Files.createDirectories(run.resolve("east"));
        Files.writeString(dir.resolve("kubeconfig"), "apiVersion: v1\nkind: Config\n");
        Files.writeString(dir.resolve("controller.log"), "# /usr/bin/java io.isthmus.controller.ControllerMain"
                + " --cluster east --bind 127.0.0.1 --admin-port " + server.address().getPort() + " --raft-id east\n");
    }

    @AfterEach
    void stop() {
        server.close();
        cache.close();
    }

    private record Result(int code, String out, String err) {}

    private static Result meshctl(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Meshctl.commandLine(new PrintWriter(out, true), new PrintWriter(err, true)).execute(args);
        return new Result(code, out.toString(), err.toString());
    }

    @Test
    void withoutCredentialsTheCommandsSayHowToPassThem() {
        Result dashboard = meshctl("dashboard", "--controller", address);
        assertThat(dashboard.code()).isEqualTo(Meshctl.FAILED);
        assertThat(dashboard.err()).contains("HTTP 401", "--token", AdminCredentials.ENV);
        Result status = meshctl("proxy-status", "--controller", address);
        assertThat(status.code()).isEqualTo(Meshctl.FAILED);
        assertThat(status.err()).contains("/debug/syncz: HTTP 401", AdminCredentials.ENV);
        assertThat(meshctl("dashboard", "--controller", address, "--token", "wrong").code()).isEqualTo(Meshctl.FAILED);
    }

    @Test
    void theTokenFlagOrTheRunDirectorysTokenFileGetsThrough() throws Exception {
        Result dashboard = meshctl("dashboard", "--controller", address, "--token", "s3cret");
        assertThat(dashboard.code()).isZero();
        assertThat(dashboard.out()).isEqualTo("http://" + address + "/dashboard?token=s3cret\n");
        Result status = meshctl("proxy-status", "--controller", address, "--token", "s3cret", "-o", "json");
        assertThat(status.code()).as(status.err()).isZero();
        assertThat(status.out().strip()).isEqualTo("[ ]");

        Files.writeString(run.resolve(AdminCredentials.RUN_DIR_FILE), "s3cret\n");
        Result fromFile = meshctl("dashboard", "--run-dir", run.toString());
        assertThat(fromFile.code()).as(fromFile.err()).isZero();
        assertThat(fromFile.out()).endsWith("/dashboard?token=s3cret\n");
        assertThat(meshctl("proxy-status", "--run-dir", run.toString()).code()).isZero();
    }

    @Test
    void theFlagWinsOverTheEnvironmentWhichWinsOverTheFile() throws Exception {
        Files.writeString(run.resolve(AdminCredentials.RUN_DIR_FILE), "from-file\n");
        Map<String, String> env = Map.of(AdminCredentials.ENV, "from-env");
        assertThat(AdminCredentials.resolve("from-flag", run, env)).contains("from-flag");
        assertThat(AdminCredentials.resolve(null, run, env)).contains("from-env");
        assertThat(AdminCredentials.resolve(null, run, Map.of())).contains("from-file");
        assertThat(AdminCredentials.resolve(null, null, Map.of())).isEmpty();
    }
}
