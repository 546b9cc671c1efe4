package io.isthmus.meshctl;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Option;
import tools.jackson.databind.JsonNode;

/** Which controllers a command asks: explicit {@code --controller host:port}s, else every one in the run directory. */
final class ControllerTargets {

    @Option(names = "--run-dir", paramLabel = "<dir>",
            description = "Run directory of a local mesh (default: .isthmus/run/demo).")
    Path runDir;

    @Option(names = "--controller", paramLabel = "<host:port>", split = ",",
            description = "A controller's admin address (port 15014); repeatable. Overrides --run-dir.")
    List<String> controllers = new ArrayList<>();

    @Option(names = "--timeout", paramLabel = "<seconds>", defaultValue = "5",
            description = "How long to wait for each admin endpoint (default: ${DEFAULT-VALUE}).")
    int timeoutSeconds;

    @Option(names = "--token", paramLabel = "<token>",
            description = "Credential for controllers whose admin port is bound beyond loopback: their --admin-token"
                    + " or a service-account token of istio-system for audience isthmus-admin (default: $"
                    + AdminCredentials.ENV + ", else <run dir>/admin-token).")
    String token;

    /** The admin addresses to ask, in cluster order. */
    List<String> resolve() {
        if (timeoutSeconds < 1) {
            throw CommandException.usage("--timeout: " + timeoutSeconds + " (expected: >= 1)");
        }
        if (!controllers.isEmpty()) {
            for (String c : controllers) {
                int colon = c.lastIndexOf(':');
                if (colon <= 0 || colon == c.length() - 1 || !c.substring(colon + 1).chars().allMatch(Character::isDigit)) {
                    throw CommandException.usage("--controller: '" + c + "' (expected: host:port, e.g. 127.101.0.1:15014)");
                }
            }
            return List.copyOf(controllers);
        }
        RunDir run = RunDir.open(runDir != null ? runDir : RunDir.defaultPath());
        List<String> found = run.clusters().stream().flatMap(c -> c.controllerAdmin().stream()).toList();
        if (found.isEmpty()) {
            throw new CommandException(run.path() + ": no controller found (expected: <cluster>/controller.log "
                    + "starting with its command line)");
        }
        return found;
    }

    AdminClient client() {
        return new AdminClient(java.time.Duration.ofSeconds(timeoutSeconds), AdminCredentials.resolve(token,
                controllers.isEmpty() ? (runDir != null ? runDir : RunDir.defaultPath()) : runDir));
    }

    /**
     * {@code path} from every controller: the answers by controller address, and one message per
     * controller that could not be asked (so one unreachable controller does not hide the others).
     */
    Views fetchAll(String path) {
        AdminClient client = client();
        Map<String, JsonNode> views = new LinkedHashMap<>();
        List<String> failures = new ArrayList<>();
        for (String controller : resolve()) {
            try {
                views.put(controller, client.get(controller, path));
            } catch (CommandException e) {
                failures.add(e.getMessage());
            }
        }
        return new Views(views, failures);
    }

    /** What {@link #fetchAll} got. */
    record Views(Map<String, JsonNode> byController, List<String> failures) {

        /** Prints each failure as one line and returns the exit code they imply. */
        int report(PrintWriter err) {
            failures.forEach(f -> err.println("meshctl: " + f));
            err.flush();
            return failures.isEmpty() ? Meshctl.OK : Meshctl.FAILED;
        }
    }
}
