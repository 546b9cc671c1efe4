package io.isthmus.meshctl;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ObjectNode;

/** {@code meshctl federation status}: the Raft group of the controllers, as each member sees it. */
@Command(name = "federation", mixinStandardHelpOptions = true,
        description = "Inspect the federation: the Raft group the primary clusters' controllers form.",
        subcommands = FederationCommand.Status.class)
final class FederationCommand implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw CommandException.usage("federation: a subcommand is required (expected: status)");
    }

    @Command(name = "status", mixinStandardHelpOptions = true,
            description = {"Show the federation's members, leader, term and commit index as each controller sees them,",
                    "and per cluster whether its state is in the replicated registry.",
                    "",
                    "STALE means that controller's replica has not heard from a leader recently; LAG is how far",
                    "its applied index trails the commit index; STATE is 'present' once the cluster's exported",
                    "services and endpoints were applied, 'missing' before."},
            footerHeading = "%nExamples:%n",
            footer = {"  meshctl federation status",
                    "  meshctl federation status --controller 127.101.0.1:15014,127.102.0.1:15014 -o json"})
    static final class Status implements Callable<Integer> {

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Mixin
        ControllerTargets targets;

        @Option(names = {"-o", "--output"}, paramLabel = "<format>", description = "Output format: table (default), json or yaml.")
        String output = "table";

        @Override
        public Integer call() {
            Output.check(output, "table", "json", "yaml");
            PrintWriter out = spec.commandLine().getOut();
            PrintWriter err = spec.commandLine().getErr();
            ControllerTargets.Views fetched = targets.fetchAll("/debug/federation");
            Map<String, JsonNode> views = fetched.byController();
            if (!output.equals("table")) {
                ObjectNode all = AdminClient.JSON.createObjectNode();
                views.forEach(all::set);
                Output.print(out, all, output);
            } else if (!views.isEmpty()) {
                print(out, views);
            }
            return fetched.report(err);
        }

        static void print(PrintWriter out, Map<String, JsonNode> views) {
            Table peers = new Table("PEER", "CONTROLLER", "ROLE", "LEADER", "TERM", "COMMIT INDEX", "APPLIED", "LAG",
                    "STALE", "MEMBERS");
            views.forEach((controller, v) -> {
                JsonNode s = v.path("status");
                long commit = s.path("commitIndex").asLong(-1);
                long applied = s.path("appliedIndex").asLong(-1);
                List<String> members = new ArrayList<>();
                s.path("members").forEach(m -> members.add(m.asString("")));
                peers.row(s.path("peerId").asString("?"), controller,
                        s.path("leader").asBoolean(false) ? "leader" : "follower",
                        s.path("leaderId").asString("-"), s.path("term").asLong(-1), commit, applied,
                        commit >= 0 && applied >= 0 ? commit - applied : "-",
                        s.path("stale").asBoolean(false) ? "yes" : "no", String.join(",", members));
            });
            peers.print(out);
            out.println();
            // Per cluster, the freshest view: the controller that has applied the most.
            JsonNode freshest = views.values().stream()
                    .max((a, b) -> Long.compare(a.path("appliedIndex").asLong(-1), b.path("appliedIndex").asLong(-1)))
                    .orElseThrow();
            Table clusters = new Table("CLUSTER", "NETWORK", "LOCALITY", "CONTROLLER", "STATE", "SERVICES", "ENDPOINTS",
                    "GATEWAYS", "SEEN BY");
            for (JsonNode c : freshest.path("clusters")) {
                String name = c.path("name").asString("");
                long seenBy = views.values().stream()
                        .filter(v -> hasState(v, name))
                        .count();
                clusters.row(name, c.path("network").asString(""), c.path("locality").asString(""),
                        c.path("controllerAddress").asString(""), c.path("hasState").asBoolean(false) ? "present" : "missing",
                        c.path("services").asLong(0), c.path("endpoints").asLong(0), c.path("gateways").asLong(0),
                        seenBy + "/" + views.size());
            }
            clusters.print(out);
            out.printf("%nTrust roots: %d; applied index %d (from %s)%n", freshest.path("trustRoots").asLong(0),
                    freshest.path("appliedIndex").asLong(-1), freshest.path("status").path("peerId").asString("?"));
            out.flush();
        }

        static boolean hasState(JsonNode federation, String cluster) {
            for (JsonNode c : federation.path("clusters")) {
                if (c.path("name").asString("").equals(cluster)) {
                    return c.path("hasState").asBoolean(false);
                }
            }
            return false;
        }
    }
}
