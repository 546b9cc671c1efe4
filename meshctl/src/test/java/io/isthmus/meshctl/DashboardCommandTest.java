package io.isthmus.meshctl;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DashboardCommandTest {

    @TempDir
    Path run;
    private FakeAdminServer east;
    private FakeAdminServer west;
    private final List<String> opened = new ArrayList<>();

    @BeforeEach
    void start() throws IOException {
        east = new FakeAdminServer().page("/dashboard/api/mesh", "{\"viewpoint\":\"east\"}");
        west = new FakeAdminServer().page("/dashboard/api/mesh", "{\"viewpoint\":\"west\"}");
        writeCluster("east", east);
        writeCluster("west", west);
    }

    @AfterEach
    void stop() {
        east.close();
        west.close();
    }

    private void writeCluster(String cluster, FakeAdminServer controller) throws IOException {
        Path dir = Files.createDirectories(run.resolve(cluster));
        Files.writeString(dir.resolve("kubeconfig"), "apiVersion: v1\nkind: Config\n");
        Files.writeString(dir.resolve("controller.log"), "# /usr/bin/java @" + run + "/classpath.args "
                + "io.isthmus.controller.ControllerMain --cluster " + cluster + " --bind 127.0.0.1 --admin-port "
                + controller.port() + " --raft-id " + cluster + "\n");
    }

    private record Result(int code, String out, String err) {}

    private Result run(Optional<String> browserProblem, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        var cli = Meshctl.commandLine(new PrintWriter(out, true), new PrintWriter(err, true));
        ((DashboardCommand) cli.getSubcommands().get("dashboard").getCommand()).opener = url -> {
            opened.add(url);
            return browserProblem;
        };
        int code = cli.execute(args);
        return new Result(code, out.toString(), err.toString());
    }

    @Test
    void printsTheUrlOfTheFirstOrTheNamedClustersControllerAndOpensNothingUnlessAsked() {
        Result first = run(Optional.empty(), "dashboard", "--run-dir", run.toString());
        assertThat(first.code()).isZero();
        assertThat(first.out()).isEqualTo("http://127.0.0.1:" + east.port() + "/dashboard\n");
        Result named = run(Optional.empty(), "dashboard", "--run-dir", run.toString(), "--cluster", "west");
        assertThat(named.out()).isEqualTo("http://127.0.0.1:" + west.port() + "/dashboard\n");
        assertThat(opened).isEmpty();
    }

    @Test
    void opensTheBrowserOnlyWithBrowserAndSaysWhyWhenItCannot() {
        Result ok = run(Optional.empty(), "dashboard", "--controller", west.address(), "--browser");
        assertThat(ok.code()).isZero();
        assertThat(opened).containsExactly("http://" + west.address() + "/dashboard");
        Result none = run(Optional.of("no display (neither DISPLAY nor WAYLAND_DISPLAY is set)"), "dashboard",
                "--controller", west.address(), "--browser", "--token", "a b");
        assertThat(none.code()).isEqualTo(Meshctl.FAILED);
        assertThat(none.out()).isEqualTo("http://" + west.address() + "/dashboard?token=a+b\n");
        assertThat(none.err()).contains("cannot open a browser: no display", "open the URL above yourself");
    }

    @Test
    void anUnknownClusterOrAnUnreachableControllerIsOneLine() throws IOException {
        Result unknown = run(Optional.empty(), "dashboard", "--run-dir", run.toString(), "--cluster", "mars");
        assertThat(unknown.code()).isEqualTo(Meshctl.USAGE);
        assertThat(unknown.err()).contains("--cluster: 'mars' (expected one of: east, west)");
        int port = east.port();
        east.close();
        Result down = run(Optional.empty(), "dashboard", "--controller", "127.0.0.1:" + port, "--timeout", "1");
        assertThat(down.code()).isEqualTo(Meshctl.FAILED);
        assertThat(down.out()).isEmpty();
        assertThat(down.err()).contains("/dashboard/api/mesh: unreachable", "is the mesh up?");
        Result notController = run(Optional.empty(), "dashboard", "--controller", "127.0.0.1:" + west.port() + "x");
        assertThat(notController.code()).isEqualTo(Meshctl.USAGE);
    }
}
