package io.isthmus.controller.dashboard;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The Grafana dashboards in {@code observability/grafana/} parse, have panels with queries, and
 * every PromQL expression (panel targets and variable queries) uses only Istio's standard metric
 * names and labels, so the same dashboards work against an Istio mesh.
 */
class GrafanaDashboardsTest {

    private static final Path DIR = Path.of("..", "observability", "grafana");
    private static final List<String> EXPECTED = List.of("isthmus-cross-cluster.json", "isthmus-mesh.json",
            "isthmus-service.json", "isthmus-workload.json");

    /** Istio's standard metrics (Prometheus names, histograms with their series suffixes). */
    static final Set<String> ISTIO_METRICS = Set.of(
            "istio_requests_total",
            "istio_request_duration_milliseconds_bucket", "istio_request_duration_milliseconds_sum",
            "istio_request_duration_milliseconds_count",
            "istio_request_bytes_bucket", "istio_request_bytes_sum", "istio_request_bytes_count",
            "istio_response_bytes_bucket", "istio_response_bytes_sum", "istio_response_bytes_count",
            "istio_tcp_sent_bytes_total", "istio_tcp_received_bytes_total",
            "istio_tcp_connections_opened_total", "istio_tcp_connections_closed_total");

    /** Istio's standard labels, plus the histogram bucket bound. */
    static final Set<String> ISTIO_LABELS = Set.of("reporter", "source_workload", "source_workload_namespace",
            "source_principal", "source_app", "source_version", "source_cluster", "destination_workload",
            "destination_workload_namespace", "destination_principal", "destination_app", "destination_version",
            "destination_service", "destination_service_name", "destination_service_namespace",
            "destination_cluster", "request_protocol", "response_code", "grpc_response_status", "response_flags",
            "connection_security_policy", "le");

    private static final Set<String> FUNCTIONS = Set.of("sum", "rate", "irate", "increase", "round",
            "histogram_quantile", "vector", "avg", "max", "min", "count", "topk", "bottomk", "clamp_min",
            "clamp_max", "label_values", "abs", "delta", "sort", "sort_desc", "absent");
    private static final Set<String> KEYWORDS = Set.of("by", "without", "on", "ignoring", "group_left",
            "group_right", "and", "or", "unless", "bool", "offset");

    private static final JsonMapper JSON = JsonMapper.builder().build();

    @Test
    void theFourDashboardsParseAndEveryQueryUsesOnlyIstioNamesAndLabels() throws IOException {
        List<String> files;
        try (Stream<Path> list = Files.list(DIR)) {
            files = list.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".json")).sorted().toList();
        }
        assertThat(files).containsExactlyElementsOf(EXPECTED);
        Set<String> uids = new TreeSet<>();
        for (String file : files) {
            JsonNode dashboard = JSON.readTree(Files.readString(DIR.resolve(file)));
            assertThat(dashboard.path("title").asString("")).as(file).startsWith("Isthmus / ");
            assertThat(uids.add(dashboard.path("uid").asString(""))).as("unique uid in %s", file).isTrue();
            JsonNode panels = dashboard.path("panels");
            assertThat(panels.size()).as("panels of %s", file).isGreaterThanOrEqualTo(6);
            List<String> expressions = new ArrayList<>();
            for (JsonNode panel : panels) {
                JsonNode targets = panel.path("targets");
                assertThat(targets.size()).as("queries of panel '%s' in %s", panel.path("title").asString(""), file)
                        .isPositive();
                targets.forEach(t -> expressions.add(t.path("expr").asString("")));
            }
            for (JsonNode variable : dashboard.path("templating").path("list")) {
                if (variable.path("type").asString("").equals("query")) {
                    expressions.add(variable.path("definition").asString(""));
                }
            }
            for (String expr : expressions) {
                assertThat(problems(expr)).as("%s: %s", file, expr).isEmpty();
            }
            assertThat(String.join("\n", expressions)).as(file).contains("istio_requests_total");
        }
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "sum(rate(envoy_cluster_upstream_rq_total[1m]))                     | metric envoy_cluster_upstream_rq_total",
            "sum by (pod) (rate(istio_requests_total[1m]))                     | label pod",
            "istio_requests_total{kubernetes_namespace=\"x\"}                  | label kubernetes_namespace",
            "label_values(isthmus_dashboard_scrape_failures_total, reason)     | metric isthmus_dashboard_scrape_failures_total",
            "sum(rate(istio_requests_total[1m])                                | unbalanced",
            "frobnicate(istio_requests_total)                                  | function frobnicate",
    })
    void theCheckerRejectsWhatIsNotIstio(String expr, String problem) {
        assertThat(problems(expr)).anySatisfy(p -> assertThat(p).contains(problem));
    }

    private static final Pattern STRING = Pattern.compile("\"(?:[^\"\\\\]|\\\\.)*\"");
    private static final Pattern VARIABLE = Pattern.compile("\\$\\{?[A-Za-z_][A-Za-z0-9_]*\\}?");
    private static final Pattern RANGE = Pattern.compile("\\[[^\\]]*\\]");
    private static final Pattern TOKEN = Pattern.compile("[A-Za-z_:][A-Za-z0-9_:]*|[{}()]|,|=~|!~|!=|=");

    /** What in one expression is not Istio's, or is malformed; empty when it is fine. */
    static List<String> problems(String expr) {
        List<String> problems = new ArrayList<>();
        String e = VARIABLE.matcher(STRING.matcher(expr).replaceAll("\"\"")).replaceAll(" ");
        e = RANGE.matcher(e).replaceAll(" ");
        e = e.replaceAll("\\b\\d+(\\.\\d+)?([eE][+-]?\\d+)?\\b", " ");
        Matcher m = TOKEN.matcher(e);
        List<String> tokens = new ArrayList<>();
        while (m.find()) {
            tokens.add(m.group());
        }
        int parens = 0;
        int braces = 0;
        boolean inBraces = false;
        boolean labelList = false;
        int labelListDepth = -1;
        boolean labelValuesArg = false;
        for (int i = 0; i < tokens.size(); i++) {
            String t = tokens.get(i);
            String next = i + 1 < tokens.size() ? tokens.get(i + 1) : "";
            switch (t) {
                case "(" -> parens++;
                case ")" -> {
                    if (labelList && parens == labelListDepth) {
                        labelList = false;
                    }
                    parens--;
                }
                case "{" -> {
                    braces++;
                    inBraces = true;
                }
                case "}" -> {
                    braces--;
                    inBraces = false;
                }
                case ",", "=~", "!~", "!=", "=" -> {
                    if (t.equals(",") && labelValuesArg && !inBraces && parens == 1) {
                        String label = next;
                        if (!ISTIO_LABELS.contains(label)) {
                            problems.add("label " + label + " is not an Istio label");
                        }
                        labelValuesArg = false;
                        i++;
                    }
                }
                default -> {
                    if (inBraces || labelList) {
                        if (!ISTIO_LABELS.contains(t)) {
                            problems.add("label " + t + " is not an Istio label");
                        }
                    } else if ((next.equals("(") || next.equals("by") || next.equals("without")) && !KEYWORDS.contains(t)) {
                        if (!FUNCTIONS.contains(t)) {
                            problems.add("function " + t + " is not a PromQL function this check knows");
                        }
                        if (t.equals("label_values")) {
                            labelValuesArg = true;
                        }
                    } else if (t.equals("by") || t.equals("without") || t.equals("on") || t.equals("ignoring")) {
                        labelList = true;
                        labelListDepth = parens + 1;
                    } else if (!KEYWORDS.contains(t) && !ISTIO_METRICS.contains(t)) {
                        problems.add("metric " + t + " is not an Istio standard metric");
                    }
                }
            }
            if (parens < 0 || braces < 0) {
                problems.add("unbalanced brackets in " + expr);
                return problems;
            }
        }
        if (parens != 0 || braces != 0) {
            problems.add("unbalanced brackets in " + expr);
        }
        return problems;
    }
}
