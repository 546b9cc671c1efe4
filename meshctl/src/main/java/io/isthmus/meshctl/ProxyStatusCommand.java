package io.isthmus.meshctl;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * {@code meshctl proxy-status}: every proxy connected to the controllers, and per xDS type whether
 * the last version sent was acknowledged, from each controller's {@code /debug/syncz}.
 */
@Command(name = "proxy-status", aliases = "ps", mixinStandardHelpOptions = true,
        description = {"Show every proxy connected to the controllers and whether its xDS config is in sync.",
                "",
                "Per type: SYNCED (the last version sent was acknowledged), STALE (sent, not yet "
                        + "acknowledged, or rejected: see --verbose), NOT SENT (the controller has not sent this type).",
                "VERSION is the federation state index the proxy's config was computed from."},
        footerHeading = "%nExamples:%n",
        footer = {"  meshctl proxy-status",
                "  meshctl proxy-status --run-dir /tmp/my-run --verbose",
                "  meshctl proxy-status --controller 127.101.0.1:15014 -o json"})
final class ProxyStatusCommand implements Callable<Integer> {

    static final List<String> TYPES = List.of("CDS", "LDS", "EDS", "RDS");

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Mixin
    ControllerTargets targets;

    @Option(names = {"-v", "--verbose"}, description = "Also show SDS, the versions sent and acknowledged, and NACK errors.")
    boolean verbose;

    @Option(names = {"-o", "--output"}, paramLabel = "<format>", description = "Output format: table (default) or json.")
    String output = "table";

    @Override
    public Integer call() {
        Output.check(output, "table", "json");
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        AdminClient client = targets.client();
        List<String> failures = new ArrayList<>();
        ArrayNode all = AdminClient.JSON.createArrayNode();
        for (String controller : targets.resolve()) {
            try {
                JsonNode syncz = client.get(controller, "/debug/syncz");
                if (!syncz.isArray()) {
                    throw new CommandException("http://" + controller + "/debug/syncz: expected a JSON array, got "
                            + syncz.getNodeType());
                }
                for (JsonNode p : syncz) {
                    if (!(p instanceof ObjectNode proxy)) {
                        throw new CommandException("http://" + controller + "/debug/syncz: expected JSON objects in "
                                + "the array, got " + p.getNodeType());
                    }
                    ObjectNode copy = proxy.deepCopy();
                    copy.put("controller", controller);
                    all.add(copy);
                }
            } catch (CommandException e) {
                failures.add(e.getMessage());
            }
        }
        if (output.equals("json")) {
            out.println(AdminClient.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(all));
        } else {
            table(all).print(out);
        }
        out.flush();
        failures.forEach(f -> err.println("meshctl: " + f));
        err.flush();
        return failures.isEmpty() ? Meshctl.OK : Meshctl.FAILED;
    }

    Table table(ArrayNode proxies) {
        List<String> headers = new ArrayList<>(List.of("NAME", "CLUSTER", "CONTROLLER", "VERSION"));
        List<String> types = new ArrayList<>(TYPES);
        if (verbose) {
            types.add("SDS");
        }
        headers.addAll(types);
        if (verbose) {
            headers.add("NACK");
        }
        Table t = new Table(headers.toArray(String[]::new));
        for (JsonNode p : proxies) {
            List<Object> row = new ArrayList<>();
            row.add(proxyName(p.path("id").asString("")));
            row.add(p.path("cluster").asString(""));
            row.add(p.path("controller").asString(""));
            long index = p.path("stateIndex").asLong(-1);
            row.add(index < 0 ? "-" : String.valueOf(index));
            List<String> nacks = new ArrayList<>();
            for (String type : types) {
                JsonNode s = p.path("types").path(type);
                String status = status(s);
                if (verbose && !s.isMissingNode()) {
                    status += " (" + abbreviate(s.path("sent").asString("")) + "/" + abbreviate(s.path("acked").asString("")) + ")";
                }
                row.add(status);
                String nack = s.path("lastNackError").asString("");
                if (!nack.isEmpty()) {
                    nacks.add(type + ": " + nack);
                }
            }
            if (verbose) {
                row.add(nacks.isEmpty() ? "-" : String.join("; ", nacks));
            }
            t.row(row.toArray());
        }
        return t;
    }

    static String status(JsonNode type) {
        if (type.isMissingNode() || type.path("sent").asString("").isEmpty()) {
            return "NOT SENT";
        }
        return type.path("synced").asBoolean(false) ? "SYNCED" : "STALE";
    }

    /** {@code sidecar~127.102.1.1~curl-72d60.sample~sample.svc.cluster.local} → {@code curl-72d60.sample}, as istioctl shows it. */
    static String proxyName(String nodeId) {
        String[] parts = nodeId.split("~");
        return parts.length == 4 ? parts[2] : nodeId;
    }

    private static String abbreviate(String version) {
        return version.isEmpty() ? "-" : version.length() > 8 ? version.substring(0, 8) : version;
    }
}
