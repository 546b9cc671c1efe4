package io.isthmus.meshctl;

import java.io.IOException;
import java.io.PrintWriter;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code meshctl dashboard}: prints the URL of a controller's cross-cluster dashboard (any
 * controller shows the whole mesh) after checking it answers, and opens a browser only when asked
 * to with {@code --browser} and one is available.
 */
@Command(name = "dashboard", mixinStandardHelpOptions = true,
        description = {"Print the URL of the cross-cluster dashboard that every controller serves on its admin port",
                "(/dashboard: the mesh as a graph of services across clusters, with request rate, error rate,",
                "p99 and mTLS per edge; each cluster's health; where each client is served from).",
                "",
                "The controller is the one of --cluster in the run directory (default: the first cluster),",
                "or --controller. With --browser, also opens it in a browser when one is available."},
        footerHeading = "%nExamples:%n",
        footer = {"  meshctl dashboard",
                "  meshctl dashboard --cluster eu --browser",
                "  meshctl dashboard --controller 10.0.0.5:15014 --token \"$ISTHMUS_ADMIN_TOKEN\""})
final class DashboardCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--cluster", paramLabel = "<name>", description = "Whose controller to use (default: the first cluster).")
    String cluster;

    @Option(names = "--run-dir", paramLabel = "<dir>",
            description = "Run directory of a local mesh (default: .isthmus/run/demo).")
    Path runDir;

    @Option(names = "--controller", paramLabel = "<host:port>",
            description = "A controller's admin address (port 15014). Overrides --run-dir and --cluster.")
    String controller;

    @Option(names = "--token", paramLabel = "<token>",
            description = "Credential, needed when the controller's admin port is bound beyond loopback: its"
                    + " --admin-token (or a service-account token of istio-system for audience isthmus-admin);"
                    + " default: $" + AdminCredentials.ENV + ", else <run dir>/admin-token. The URL printed then"
                    + " carries it (?token=...).")
    String token;

    @Option(names = "--browser", description = "Also open the URL in a browser, if one is available.")
    boolean browser;

    @Option(names = "--timeout", paramLabel = "<seconds>", defaultValue = "5",
            description = "How long to wait for the controller (default: ${DEFAULT-VALUE}).")
    int timeoutSeconds;

    /** Finds a browser opener; replaced in tests. */
    BrowserOpener opener = BrowserOpener.system();

    @Override
    public Integer call() {
        if (timeoutSeconds < 1) {
            throw CommandException.usage("--timeout: " + timeoutSeconds + " (expected: >= 1)");
        }
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        String admin = adminAddress();
        token = AdminCredentials.resolve(token, controller != null ? null
                : runDir != null ? runDir : RunDir.defaultPath()).orElse(null);
        String url = "http://" + admin + "/dashboard"
                + (token == null ? "" : "?token=" + URLEncoder.encode(token, StandardCharsets.UTF_8));
        check(admin);
        out.println(url);
        out.flush();
        if (!browser) {
            return Meshctl.OK;
        }
        Optional<String> problem = opener.open(url);
        if (problem.isPresent()) {
            err.println("meshctl: cannot open a browser: " + problem.get() + "; open the URL above yourself");
            err.flush();
            return Meshctl.FAILED;
        }
        return Meshctl.OK;
    }

    private String adminAddress() {
        if (controller != null) {
            int colon = controller.lastIndexOf(':');
            if (colon <= 0 || colon == controller.length() - 1
                    || !controller.substring(colon + 1).chars().allMatch(Character::isDigit)) {
                throw CommandException.usage("--controller: '" + controller
                        + "' (expected: host:port, e.g. 127.101.0.1:15014)");
            }
            return controller;
        }
        RunDir run = RunDir.open(runDir != null ? runDir : RunDir.defaultPath());
        List<RunDir.ClusterRef> clusters = run.clusters().stream().filter(c -> c.controllerAdmin().isPresent()).toList();
        if (clusters.isEmpty()) {
            throw new CommandException(run.path() + ": no controller found (expected: <cluster>/controller.log "
                    + "starting with its command line; is the mesh up?)");
        }
        if (cluster == null) {
            return clusters.get(0).controllerAdmin().orElseThrow();
        }
        return clusters.stream().filter(c -> c.name().equals(cluster)).findFirst()
                .flatMap(RunDir.ClusterRef::controllerAdmin)
                .orElseThrow(() -> CommandException.usage("--cluster: '" + cluster + "' (expected one of: "
                        + String.join(", ", clusters.stream().map(RunDir.ClusterRef::name).toList()) + ")"));
    }

    /** The URL is printed only once the dashboard answers, so a script can trust it. */
    private void check(String admin) {
        Duration timeout = Duration.ofSeconds(timeoutSeconds);
        HttpClient http = HttpClient.newBuilder().connectTimeout(timeout).build();
        String api = "http://" + admin + "/dashboard/api/mesh";
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(api)).timeout(timeout).GET();
        if (token != null) {
            request.header("Authorization", "Bearer " + token);
        }
        HttpResponse<String> response;
        try {
            response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new CommandException(api + ": unreachable (" + e + "); is the mesh up?");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CommandException(api + ": interrupted");
        }
        if (response.statusCode() == 401 || response.statusCode() == 403) {
            throw new CommandException(api + ": HTTP " + response.statusCode() + ": " + response.body().strip()
                    + (token == null ? " (" + AdminCredentials.HINT + ")" : ""));
        }
        if (response.statusCode() != 200) {
            throw new CommandException(api + ": HTTP " + response.statusCode() + " (expected: 200; is this an"
                    + " Isthmus controller's admin port?)");
        }
    }

    /** Opens a URL in the user's browser, or says why it cannot. */
    interface BrowserOpener {

        /** @return empty when a browser was started, else why not */
        Optional<String> open(String url);

        /** xdg-open (Linux) or open (macOS), only where a display is available. */
        static BrowserOpener system() {
            return url -> {
                Map<String, String> env = System.getenv();
                boolean mac = System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT).contains("mac");
                if (!mac && env.getOrDefault("DISPLAY", "").isEmpty() && env.getOrDefault("WAYLAND_DISPLAY", "").isEmpty()) {
                    return Optional.of("no display (neither DISPLAY nor WAYLAND_DISPLAY is set)");
                }
                String command = mac ? "open" : "xdg-open";
                Optional<Path> found = onPath(command, env.getOrDefault("PATH", ""));
                if (found.isEmpty()) {
                    return Optional.of(command + " not found on PATH");
                }
                try {
                    new ProcessBuilder(found.get().toString(), url).redirectErrorStream(true)
                            .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
                    return Optional.empty();
                } catch (IOException e) {
                    return Optional.of(command + " failed: " + e.getMessage());
                }
            };
        }

        private static Optional<Path> onPath(String command, String path) {
            for (String dir : path.split(java.io.File.pathSeparator)) {
                if (dir.isEmpty()) {
                    continue;
                }
                Path candidate = Path.of(dir, command);
                if (Files.isExecutable(candidate)) {
                    return Optional.of(candidate);
                }
            }
            return Optional.empty();
        }
    }
}
