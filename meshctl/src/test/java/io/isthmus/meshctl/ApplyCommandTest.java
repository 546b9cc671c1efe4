package io.isthmus.meshctl;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.isthmus.topologies.kube.EmbeddedApiServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** apply/delete against an embedded API server, through a run directory's kubeconfig ({@code --context <cluster>}). */
class ApplyCommandTest {

    private static final String VS = """
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: helloworld
            spec:
              hosts: [helloworld.sample.svc.cluster.local]
              http:
              - route:
                - destination: {host: helloworld.sample.svc.cluster.local, subset: %s}
            ---
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: settings, namespace: other}
            data: {mode: %s}
            """;

    @TempDir
    static Path run;

    private static EmbeddedApiServer api;

    @BeforeAll
    static void startApiServer() {
        api = EmbeddedApiServer.start("west", "127.0.0.1", 0);
        api.writeKubeconfig(run.resolve("west").resolve("kubeconfig"));
    }

    @AfterAll
    static void stopApiServer() {
        api.close();
    }

    @Test
    void createsThenLeavesUnchangedThenReplacesThenDeletes() throws Exception {
        Path file = run.resolve("vs.yaml");
        Files.writeString(file, VS.formatted("v1", "a"));
        String[] apply = {"apply", "-f", file.toString(), "--context", "west", "--run-dir", run.toString(), "-n", "sample"};

        CliRunner created = CliRunner.run(apply);
        assertThat(created.code).as(created.err()).isZero();
        assertThat(created.out()).isEqualTo("virtualservice/helloworld created\nconfigmap/settings created\n");

        CliRunner again = CliRunner.run(apply);
        assertThat(again.out()).isEqualTo("virtualservice/helloworld unchanged\nconfigmap/settings unchanged\n");

        Files.writeString(file, VS.formatted("v2", "a"));
        CliRunner changed = CliRunner.run(apply);
        assertThat(changed.code).isZero();
        assertThat(changed.out()).isEqualTo("virtualservice/helloworld configured\nconfigmap/settings unchanged\n");

        try (KubernetesClient client = api.newClient()) {
            GenericKubernetesResource vs = client.genericKubernetesResources("networking.istio.io/v1", "VirtualService")
                    .inNamespace("sample").withName("helloworld").get();
            assertThat(vs.toString()).contains("subset=v2");
            ConfigMap cm = client.configMaps().inNamespace("other").withName("settings").get();
            assertThat(cm.getData()).isEqualTo(Map.of("mode", "a"));
        }

        CliRunner deleted = CliRunner.run("delete", "-f", file.toString(), "--context", "west", "--run-dir", run.toString(),
                "-n", "sample");
        assertThat(deleted.code).isZero();
        assertThat(deleted.out()).isEqualTo("virtualservice/helloworld deleted\nconfigmap/settings deleted\n");

        CliRunner gone = CliRunner.run("delete", "-f", file.toString(), "--context", "west", "--run-dir", run.toString(),
                "-n", "sample");
        assertThat(gone.code).isEqualTo(1);
        assertThat(gone.err()).contains("meshctl: cluster west: virtualservice/helloworld: not found",
                "meshctl: cluster west: configmap/settings: not found");
    }

    @Test
    void readsStandardInputAndUsesTheContextsNamespaceByDefault() {
        CliRunner r = CliRunner.runWithStdin("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-stdin}\ndata: {k: v}\n",
                "apply", "-f", "-", "--kubeconfig", run.resolve("west/kubeconfig").toString());

        assertThat(r.code).as(r.err()).isZero();
        assertThat(r.out()).isEqualTo("configmap/from-stdin created\n");
        try (KubernetesClient client = api.newClient()) {
            assertThat(client.configMaps().inNamespace("default").withName("from-stdin").get()).isNotNull();
        }
    }

    @Test
    void refusesUnknownKindsBeforeSendingAnything() throws Exception {
        Path file = run.resolve("mixed.yaml");
        Files.writeString(file, """
                apiVersion: v1
                kind: ConfigMap
                metadata: {name: never-created}
                ---
                apiVersion: example.com/v1
                kind: Widget
                metadata: {name: w}
                """);

        CliRunner r = CliRunner.run("apply", "-f", file.toString(), "--context", "west", "--run-dir", run.toString());

        assertThat(r.code).isEqualTo(2);
        assertThat(r.err()).contains(file + ": document 2: kind Widget (example.com/v1) is not served by the embedded API servers");
        try (KubernetesClient client = api.newClient()) {
            assertThat(client.configMaps().inNamespace("default").withName("never-created").get()).isNull();
        }
    }

    @Test
    void validationProblemsNameTheDocumentAndField() throws Exception {
        Path file = run.resolve("bad.yaml");
        Files.writeString(file, """
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: Bad_Name}
                spec: {host: x}
                """);

        CliRunner r = CliRunner.run("apply", "-f", file.toString(), "--context", "west", "--run-dir", run.toString());

        assertThat(r.code).isEqualTo(2);
        assertThat(r.err().strip()).hasLineCount(1)
                .contains(file + ": document 1 (DestinationRule Bad_Name): metadata.name: 'Bad_Name' (expected: a DNS subdomain");
    }

    @Test
    void refusesAnIstioResourceTheControllersWouldRejectWithTheirMessage() throws Exception {
        Path file = run.resolve("bad-weights.yaml");
        Files.writeString(file, """
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: split, namespace: sample}
                spec:
                  hosts: [helloworld.sample.svc.cluster.local]
                  http:
                  - route:
                    - destination: {host: helloworld.sample.svc.cluster.local, subset: v1}
                      weight: 70
                    - destination: {host: helloworld.sample.svc.cluster.local, subset: v2}
                      weight: 20
                """);

        CliRunner r = CliRunner.run("apply", "-f", file.toString(), "--context", "west", "--run-dir", run.toString());

        assertThat(r.code).isEqualTo(2);
        assertThat(r.err()).contains("VirtualService sample/split").contains("weight");
        try (KubernetesClient client = api.newClient()) {
            assertThat(client.genericKubernetesResources("networking.istio.io/v1", "VirtualService")
                    .inNamespace("sample").withName("split").get()).isNull();
        }
    }

    @Test
    void anUnknownClusterOrFileIsAUsageError() {
        CliRunner cluster = CliRunner.run("apply", "-f", "-", "--context", "mars", "--run-dir", run.toString());
        assertThat(cluster.code).isEqualTo(2);
        assertThat(cluster.err()).contains("--context mars: no cluster 'mars' in run directory " + run);

        CliRunner file = CliRunner.run("apply", "-f", "/nonexistent.yaml", "--context", "west", "--run-dir", run.toString());
        assertThat(file.code).isEqualTo(2);
        assertThat(file.err().strip()).isEqualTo("meshctl: /nonexistent.yaml: no such file");

        assertThat(CliRunner.run("apply", "--context", "west").code).isEqualTo(2);
    }
}
