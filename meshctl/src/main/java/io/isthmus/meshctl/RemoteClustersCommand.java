package io.isthmus.meshctl;

import java.io.PrintWriter;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import tools.jackson.databind.JsonNode;

/**
 * {@code meshctl remote-clusters}: the clusters each controller knows, with what it reports about
 * them. Honest about its source: controllers report the federation registry only, not remote secrets.
 */
@Command(name = "remote-clusters", mixinStandardHelpOptions = true,
        description = {"List the clusters each controller knows and whether their state has synced.",
                "",
                "Source: each controller's /debug/federation. In a multi-primary mesh clusters join through the",
                "federation (Raft), not through remote secrets, so SECRET shows '-': the controllers do not report",
                "remote secrets yet. STATUS is 'synced' when the controller holds that cluster's exported state,",
                "'pending' when the cluster is registered but its state has not arrived."},
        footerHeading = "%nExamples:%n",
        footer = {"  meshctl remote-clusters", "  meshctl remote-clusters --controller 127.102.0.1:15014"})
final class RemoteClustersCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Mixin
    ControllerTargets targets;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        ControllerTargets.Views fetched = targets.fetchAll("/debug/federation");
        Map<String, JsonNode> views = fetched.byController();
        Table t = new Table("VIEWED FROM", "NAME", "SECRET", "STATUS", "CONTROLLER");
        views.forEach((controller, v) -> {
            String self = v.path("status").path("peerId").asString(controller);
            for (JsonNode c : v.path("clusters")) {
                String name = c.path("name").asString("");
                if (name.equals(self)) {
                    continue;
                }
                t.row(self, name, "-", c.path("hasState").asBoolean(false) ? "synced" : "pending",
                        c.path("controllerAddress").asString(""));
            }
        });
        if (!views.isEmpty()) {
            t.print(out);
        }
        return fetched.report(err);
    }
}
