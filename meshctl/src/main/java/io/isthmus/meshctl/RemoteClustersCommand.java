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
                "Source: each controller's /debug/federation. Clusters named by a remote secret in the",
                "controller's cluster (primary-remote) show the SECRET and its STATUS: synced, syncing, timeout",
                "(not synced within 30 s; still retrying) or error (the REASON says what to fix). Clusters that",
                "joined through the federation (multi-primary) show SECRET '-' and STATUS 'synced' when the",
                "controller holds that cluster's exported state, 'pending' while it has not arrived."},
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
        Table t = new Table("VIEWED FROM", "NAME", "SECRET", "STATUS", "CONTROLLER", "REASON");
        views.forEach((controller, v) -> {
            String self = v.path("status").path("peerId").asString(controller);
            Map<String, JsonNode> remotes = new java.util.TreeMap<>();
            for (JsonNode r : v.path("remoteClusters")) {
                remotes.put(r.path("cluster").asString(""), r);
            }
            for (JsonNode c : v.path("clusters")) {
                String name = c.path("name").asString("");
                if (name.equals(self) || remotes.containsKey(name)) {
                    continue;
                }
                t.row(self, name, "-", c.path("hasState").asBoolean(false) ? "synced" : "pending",
                        c.path("controllerAddress").asString(""), "");
            }
            remotes.forEach((name, r) -> t.row(self, name, secretName(r.path("secret").asString("")),
                    r.path("status").asString(""), self, r.path("reason").asString("")));
        });
        if (!views.isEmpty()) {
            t.print(out);
        }
        return fetched.report(err);
    }

    /** {@code istio-system/istio-remote-secret-eu} → {@code istio-remote-secret-eu}, as istioctl shows it. */
    private static String secretName(String ref) {
        int slash = ref.indexOf('/');
        return ref.isEmpty() ? "-" : ref.substring(slash + 1);
    }
}
