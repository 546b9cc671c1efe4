package io.isthmus.meshctl;

import java.io.ByteArrayInputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import tools.jackson.databind.JsonNode;

/**
 * {@code meshctl proxy-config cluster|endpoint|listener|route|secret <pod>}: the xDS config one proxy
 * holds, read from its admin {@code /config_dump}, in istioctl's columns.
 */
@Command(name = "proxy-config", aliases = "pc", mixinStandardHelpOptions = true,
        description = "Show the xDS configuration one proxy holds (from its admin /config_dump).",
        subcommands = {ProxyConfigCommand.Clusters.class, ProxyConfigCommand.Endpoints.class,
                ProxyConfigCommand.Listeners.class, ProxyConfigCommand.Routes.class, ProxyConfigCommand.Secrets.class})
final class ProxyConfigCommand implements Runnable {

    @Override
    public void run() {
        throw CommandException.usage("proxy-config: a subcommand is required "
                + "(expected: cluster, endpoint, listener, route or secret)");
    }

    /** The proxy to ask: a pod of the run directory, or an explicit admin address. */
    static final class ProxyTarget {

        @Parameters(index = "0", paramLabel = "<pod>", arity = "0..1",
                description = "Pod name (or its unique prefix, e.g. 'curl'), optionally <pod>.<namespace>.")
        String pod;

        @Option(names = "--run-dir", paramLabel = "<dir>",
                description = "Run directory of a local mesh (default: .isthmus/run/demo).")
        Path runDir;

        @Option(names = "--cluster", paramLabel = "<cluster>", description = "Only look for the pod in this cluster.")
        String cluster;

        @Option(names = "--admin", paramLabel = "<host:port>",
                description = "The proxy's admin address (port 15000) instead of looking the pod up.")
        String admin;

        @Option(names = {"-o", "--output"}, paramLabel = "<format>", description = "Output format: table (default), json or yaml.")
        String output = "table";

        /** The admin address to ask. */
        String resolve() {
            Output.check(output, "table", "json", "yaml");
            if (admin != null) {
                return admin;
            }
            if (pod == null) {
                throw CommandException.usage("<pod>: missing (expected: a pod name, or --admin <host:port>)");
            }
            RunDir run = RunDir.open(runDir != null ? runDir : RunDir.defaultPath());
            return find(run, pod, cluster).admin();
        }

        static RunDir.ProxyRef find(RunDir run, String pod, String cluster) {
            String name = pod;
            String namespace = null;
            int dot = pod.indexOf('.');
            if (dot > 0) {
                name = pod.substring(0, dot);
                namespace = pod.substring(dot + 1);
            }
            List<RunDir.ProxyRef> candidates = new ArrayList<>();
            for (RunDir.ProxyRef p : run.proxies()) {
                if ((cluster == null || p.cluster().equals(cluster)) && (namespace == null || p.namespace().equals(namespace))) {
                    candidates.add(p);
                }
            }
            String n = name;
            List<RunDir.ProxyRef> exact = candidates.stream().filter(p -> p.pod().equals(n)).toList();
            List<RunDir.ProxyRef> matches = !exact.isEmpty() ? exact
                    : candidates.stream().filter(p -> p.pod().startsWith(n)).toList();
            if (matches.size() == 1) {
                return matches.get(0);
            }
            List<String> known = run.proxies().stream().map(p -> p.cluster() + "/" + p.pod() + "." + p.namespace()).toList();
            if (matches.isEmpty()) {
                throw new CommandException("pod '" + pod + "'" + (cluster != null ? " in cluster " + cluster : "")
                        + " not found in " + run.path() + " (expected: one of " + known + ")");
            }
            throw new CommandException("pod '" + pod + "' is ambiguous: " + matches.stream()
                    .map(p -> p.cluster() + "/" + p.pod()).toList() + " (add --cluster <cluster> or the full pod name)");
        }

        JsonNode configDump(String adminAddress) {
            return new AdminClient(Duration.ofSeconds(5)).get(adminAddress, "/config_dump");
        }
    }

    /** A subcommand: prints one section of the config dump, as a table or raw. */
    abstract static class Section implements Callable<Integer> {

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Mixin
        ProxyTarget target;

        @Override
        public Integer call() {
            String adminAddress = target.resolve();
            JsonNode dump = target.configDump(adminAddress);
            PrintWriter out = spec.commandLine().getOut();
            if (target.output.equals("table")) {
                table(dump, adminAddress).print(out);
            } else {
                Output.print(out, raw(dump, adminAddress), target.output);
            }
            return Meshctl.OK;
        }

        abstract Table table(JsonNode dump, String adminAddress);

        abstract JsonNode raw(JsonNode dump, String adminAddress);
    }

    @Command(name = "cluster", aliases = {"clusters", "c"}, mixinStandardHelpOptions = true,
            description = "Show the proxy's clusters (CDS): SERVICE FQDN, PORT, SUBSET, DIRECTION, TYPE.",
            footerHeading = "%nExamples:%n",
            footer = {"  meshctl proxy-config cluster curl", "  meshctl proxy-config cluster helloworld-v1 -o json",
                    "  meshctl proxy-config cluster --admin 127.102.2.1:15000"})
    static final class Clusters extends Section {
        @Override
        Table table(JsonNode dump, String adminAddress) {
            return clusterTable(dump);
        }

        @Override
        JsonNode raw(JsonNode dump, String adminAddress) {
            return dump.path("clusters");
        }
    }

    @Command(name = "endpoint", aliases = {"endpoints", "ep"}, mixinStandardHelpOptions = true,
            description = {"Show the proxy's endpoints (EDS): ENDPOINT, STATUS, OUTLIER CHECK, CLUSTER, LOCALITY, NETWORK, VIA GATEWAY.",
                    "An endpoint on another network is that network's east-west gateway (VIA GATEWAY true)."},
            footerHeading = "%nExamples:%n",
            footer = {"  meshctl proxy-config endpoint curl", "  meshctl proxy-config endpoint curl -o yaml"})
    static final class Endpoints extends Section {
        @Override
        Table table(JsonNode dump, String adminAddress) {
            return endpointTable(dump);
        }

        @Override
        JsonNode raw(JsonNode dump, String adminAddress) {
            return dump.path("endpoints");
        }
    }

    @Command(name = "listener", aliases = {"listeners", "l"}, mixinStandardHelpOptions = true,
            description = "Show the proxy's listeners (LDS), one row per filter chain: ADDRESS, PORT, MATCH, DESTINATION.",
            footerHeading = "%nExamples:%n",
            footer = {"  meshctl proxy-config listener helloworld-v1", "  meshctl proxy-config listener curl -o json"})
    static final class Listeners extends Section {
        @Override
        Table table(JsonNode dump, String adminAddress) {
            return listenerTable(dump);
        }

        @Override
        JsonNode raw(JsonNode dump, String adminAddress) {
            return dump.path("listeners");
        }
    }

    @Command(name = "route", aliases = {"routes", "r"}, mixinStandardHelpOptions = true,
            description = "Show the proxy's routes (RDS), one row per virtual host: NAME, DOMAINS, MATCH, VIRTUAL SERVICE.",
            footerHeading = "%nExamples:%n",
            footer = {"  meshctl proxy-config route curl", "  meshctl proxy-config route curl -o json"})
    static final class Routes extends Section {
        @Override
        Table table(JsonNode dump, String adminAddress) {
            return routeTable(dump);
        }

        @Override
        JsonNode raw(JsonNode dump, String adminAddress) {
            return dump.path("routes");
        }
    }

    @Command(name = "secret", aliases = {"secrets", "s"}, mixinStandardHelpOptions = true,
            description = {"Show the proxy's secrets: its workload certificate ('default', from /certs) and the",
                    "trust bundle (ROOTCA, from SDS): RESOURCE NAME, TYPE, STATUS, VALID CERT, SERIAL NUMBER, NOT AFTER, NOT BEFORE."},
            footerHeading = "%nExamples:%n",
            footer = {"  meshctl proxy-config secret curl", "  meshctl proxy-config secret curl -o json"})
    static final class Secrets extends Section {
        @Override
        Table table(JsonNode dump, String adminAddress) {
            return secretTable(dump, certs(adminAddress));
        }

        @Override
        JsonNode raw(JsonNode dump, String adminAddress) {
            var node = AdminClient.JSON.createObjectNode();
            node.set("default", certs(adminAddress));
            node.set("sds", dump.path("secrets"));
            return node;
        }

        private JsonNode certs(String adminAddress) {
            return new AdminClient(Duration.ofSeconds(5)).get(adminAddress, "/certs");
        }
    }

    // ---- tables (pure functions of the admin JSON, tested with recorded dumps) ----

    static Table clusterTable(JsonNode dump) {
        Table t = new Table("SERVICE FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE");
        for (JsonNode c : dump.path("clusters")) {
            String name = c.path("name").asString("");
            String type = c.path("type").asString("EDS");
            String[] parts = name.split("\\|", -1);
            if (parts.length == 4) {
                t.row(parts[3].isEmpty() ? "" : parts[3], parts[1], parts[2].isEmpty() ? "-" : parts[2],
                        parts[0], type);
            } else if (name.startsWith("outbound_.")) {
                // The gateway's SNI-named clusters: outbound_.<port>_.<subset>_.<host>
                String[] sni = name.split("_\\.", 4);
                t.row(sni.length == 4 ? sni[3] : name, sni.length == 4 ? sni[1] : "-",
                        sni.length == 4 && !sni[2].isEmpty() && !sni[2].equals("_") ? sni[2] : "-", "outbound", type);
            } else {
                t.row(name, "-", "-", "-", type);
            }
        }
        return t;
    }

    static Table endpointTable(JsonNode dump) {
        Set<String> ejected = new HashSet<>();
        for (JsonNode e : dump.path("ejected_endpoints")) {
            ejected.add(e.isString() ? e.asString() : e.path("cluster").asString("") + "/" + e.path("address").asString(""));
        }
        Table t = new Table("ENDPOINT", "STATUS", "OUTLIER CHECK", "CLUSTER", "LOCALITY", "NETWORK", "VIA GATEWAY");
        for (JsonNode cla : dump.path("endpoints")) {
            String cluster = cla.path("clusterName").asString("");
            for (JsonNode locality : cla.path("endpoints")) {
                JsonNode l = locality.path("locality");
                String loc = l.path("region").asString("") + "/" + l.path("zone").asString("") + "/"
                        + l.path("subZone").asString("");
                for (JsonNode lb : locality.path("lbEndpoints")) {
                    JsonNode sa = lb.path("endpoint").path("address").path("socketAddress");
                    String address = sa.path("address").asString("") + ":" + sa.path("portValue").asLong(0);
                    JsonNode istio = lb.path("metadata").path("filterMetadata").path("istio");
                    boolean isEjected = ejected.contains(address) || ejected.contains(cluster + "/" + address);
                    t.row(address, lb.path("healthStatus").asString("UNKNOWN"), isEjected ? "FAILED" : "OK", cluster, loc,
                            istio.path("network").asString("-"), istio.path("via_gateway").asBoolean(false));
                }
            }
        }
        return t;
    }

    static Table listenerTable(JsonNode dump) {
        Table t = new Table("ADDRESS", "PORT", "MATCH", "DESTINATION");
        for (JsonNode l : dump.path("listeners")) {
            JsonNode sa = l.path("address").path("socketAddress");
            String address = sa.path("address").asString("");
            long port = sa.path("portValue").asLong(0);
            JsonNode chains = l.path("filterChains");
            if (chains.isEmpty()) {
                t.row(address, port, "ALL", l.path("useOriginalDst").asBoolean(false)
                        ? "PassthroughCluster (original destination)" : "-");
                continue;
            }
            for (JsonNode chain : chains) {
                t.row(address, port, match(chain.path("filterChainMatch")), destination(chain));
            }
        }
        return t;
    }

    private static String match(JsonNode m) {
        List<String> parts = new ArrayList<>();
        if (m.has("destinationPort")) {
            parts.add("port " + m.path("destinationPort").asLong());
        }
        if (m.has("transportProtocol")) {
            parts.add("Trans: " + m.path("transportProtocol").asString());
        }
        if (m.has("serverNames")) {
            List<String> sni = new ArrayList<>();
            m.path("serverNames").forEach(s -> sni.add(s.asString()));
            parts.add("SNI: " + String.join(",", sni));
        }
        if (m.has("applicationProtocols")) {
            List<String> alpn = new ArrayList<>();
            m.path("applicationProtocols").forEach(s -> alpn.add(s.asString()));
            parts.add("App: " + String.join(",", alpn));
        }
        return parts.isEmpty() ? "ALL" : String.join("; ", parts);
    }

    private static String destination(JsonNode chain) {
        for (JsonNode f : chain.path("filters")) {
            JsonNode cfg = f.path("typedConfig");
            if (cfg.has("rds")) {
                return "Route: " + cfg.path("rds").path("routeConfigName").asString("");
            }
            if (cfg.has("routeConfig")) {
                return "Inline Route: " + cfg.path("routeConfig").path("name").asString("");
            }
            if (cfg.has("cluster")) {
                return "Cluster: " + cfg.path("cluster").asString("");
            }
        }
        return "-";
    }

    static Table routeTable(JsonNode dump) {
        Table t = new Table("NAME", "VHOST NAME", "DOMAINS", "MATCH", "VIRTUAL SERVICE");
        for (JsonNode rc : dump.path("routes")) {
            String name = rc.path("name").asString("");
            for (JsonNode vh : rc.path("virtualHosts")) {
                List<String> domains = new ArrayList<>();
                vh.path("domains").forEach(d -> domains.add(d.asString()));
                String shown = domains.isEmpty() ? "-" : domains.get(0)
                        + (domains.size() > 1 ? " + " + (domains.size() - 1) + " more..." : "");
                for (JsonNode r : vh.path("routes")) {
                    JsonNode m = r.path("match");
                    String match = m.has("prefix") ? m.path("prefix").asString() + "*"
                            : m.has("path") ? m.path("path").asString()
                            : m.has("safeRegex") ? "regex " + m.path("safeRegex").path("regex").asString() : "-";
                    JsonNode config = r.path("metadata").path("filterMetadata").path("istio").path("config");
                    t.row(name, vh.path("name").asString(""), shown, match, config.isMissingNode() ? "-" : config.asString(""));
                }
            }
        }
        return t;
    }

    static Table secretTable(JsonNode dump, JsonNode certs) {
        Table t = new Table("RESOURCE NAME", "TYPE", "STATUS", "VALID CERT", "SERIAL NUMBER", "NOT AFTER", "NOT BEFORE");
        if (certs != null && !certs.isMissingNode()) {
            JsonNode leaf = certs.path("chain").path(0);
            boolean issued = "issued".equals(certs.path("state").asString(""));
            t.row("default", "Cert Chain", issued ? "ACTIVE" : certs.path("state").asString("UNKNOWN"),
                    issued, leaf.path("serial").asString("-"), certs.path("notAfter").asString("-"),
                    certs.path("notBefore").asString("-"));
        }
        for (JsonNode s : dump.path("secrets")) {
            String name = s.path("name").asString("");
            String pem = s.path("validationContext").path("trustedCa").path("inlineString").asString("");
            List<X509Certificate> roots = parse(pem);
            if (roots.isEmpty()) {
                t.row(name, "CA", "WARMING", false, "-", "-", "-");
            }
            for (X509Certificate c : roots) {
                t.row(name, "CA", "ACTIVE", true, c.getSerialNumber().toString(16),
                        c.getNotAfter().toInstant().toString(), c.getNotBefore().toInstant().toString());
            }
        }
        return t;
    }

    private static List<X509Certificate> parse(String pem) {
        if (pem.isBlank()) {
            return List.of();
        }
        try {
            List<X509Certificate> out = new ArrayList<>();
            CertificateFactory cf = CertificateFactory.getInstance("X.509");
            for (var c : cf.generateCertificates(new ByteArrayInputStream(pem.getBytes(StandardCharsets.US_ASCII)))) {
                out.add((X509Certificate) c);
            }
            return out;
        } catch (CertificateException e) {
            return List.of();
        }
    }
}
