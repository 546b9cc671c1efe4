package io.isthmus.meshctl;

import io.isthmus.topologies.LocalMesh;
import java.io.PrintWriter;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/**
 * {@code meshctl down [<topology name>]}: stops what {@code meshctl up} started. The launcher gets
 * SIGTERM, so its shutdown hook stops every process and removes the network namespaces; if it does
 * not exit in time it is killed, and the namespaces of its addressBase are swept.
 */
@Command(name = "down", mixinStandardHelpOptions = true,
        description = {"Stop a topology started with 'meshctl up' (every one, without a name) and remove its",
                "network namespaces."})
final class DownCommand implements Callable<Integer> {

    private static final long GRACE_SECONDS = 60;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Parameters(index = "0", arity = "0..1", paramLabel = "<name>",
            description = "The topology's name (its 'name:' field); default: every topology that is up.")
    String name;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        List<UpState> states = name != null ? List.of(UpState.of(name)) : UpState.all();
        if (name != null && !java.nio.file.Files.exists(states.get(0).pidFile())) {
            err.println("meshctl: no topology '" + name + "' was started with 'meshctl up' here (expected: one of "
                    + UpState.all().stream().map(UpState::name).toList() + ")");
            return Meshctl.USAGE;
        }
        if (states.isEmpty()) {
            out.println("Nothing is up.");
            return Meshctl.OK;
        }
        int result = Meshctl.OK;
        for (UpState state : states) {
            Optional<ProcessHandle> launcher = state.launcher();
            if (launcher.isPresent()) {
                out.printf("Stopping '%s' (launcher pid %d) ...%n", state.name(), launcher.get().pid());
                out.flush();
                launcher.get().destroy();
                try {
                    launcher.get().onExit().get(GRACE_SECONDS, TimeUnit.SECONDS);
                } catch (java.util.concurrent.TimeoutException e) {
                    err.println("meshctl: '" + state.name() + "' did not stop in " + GRACE_SECONDS
                            + " s; killing its launcher and processes");
                    launcher.get().descendants().forEach(ProcessHandle::destroyForcibly);
                    launcher.get().destroyForcibly();
                    result = Meshctl.FAILED;
                }
            } else {
                out.printf("'%s' is not running (cleaning up what it left)%n", state.name());
            }
            Optional<Integer> base = state.addressBase();
            if (base.isPresent()) {
                List<String> swept = LocalMesh.removeNetworkNamespaces(base.get());
                if (!swept.isEmpty()) {
                    out.println("  removed network namespaces " + swept);
                }
            }
            state.clear();
            out.printf("'%s' is down.%n", state.name());
        }
        return result;
    }
}
