package io.isthmus.meshctl;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinitionBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.isthmus.topologies.kube.EmbeddedApiServer;
import io.isthmus.trust.CertificateAuthority;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code meshctl precheck} against embedded API servers: a fresh cluster (version, the permission check the
 * embedded server cannot answer), a mesh to join with and without a root, a CRD conflict, a port taken on
 * the local address, a cluster with a CA under another root, an unreachable cluster.
 */
class PrecheckCommandTest {

    /** This test's loopback range (e2e addressBase 191 belongs to meshctl's tests). */
    private static final String LOCAL = "127.191.9.1";

    @TempDir
    static Path run;

    private static EmbeddedApiServer fresh;
    private static EmbeddedApiServer mesh;

    @BeforeAll
    static void start() {
        fresh = EmbeddedApiServer.start("fresh", "127.0.0.1", 0);
        mesh = EmbeddedApiServer.start("east", "127.0.0.1", 0);
        fresh.writeKubeconfig(run.resolve("fresh").resolve("kubeconfig"));
        mesh.writeKubeconfig(run.resolve("east").resolve("kubeconfig"));
    }

    @AfterAll
    static void stop() {
        fresh.close();
        mesh.close();
    }

    @Test
    void freshClusterPassesWithAWarningThatPermissionsWereNotChecked() throws IOException {
        CliRunner r = CliRunner.run("precheck", "--context", "fresh", "--run-dir", run.toString(), "--local-address", LOCAL);

        assertThat(r.err()).isEmpty();
        assertThat(r.out().lines()).satisfiesExactly(
                l -> assertThat(l).startsWith("Warning [IST0922] (Cluster fresh) the API server does not evaluate "
                        + "SelfSubjectAccessReview"),
                l -> assertThat(l).startsWith("Info [IST0920] (Cluster fresh) API server " + fresh.url() + " answers; version "));
        assertThat(r.code).isZero();

        // A port of the local mesh taken on that address is an error naming it.
        try (ServerSocket held = new ServerSocket()) {
            held.bind(new InetSocketAddress(InetAddress.getByName(LOCAL), 15014));
            CliRunner busy = CliRunner.run("precheck", "--context", "fresh", "--run-dir", run.toString(),
                    "--local-address", LOCAL);
            assertThat(busy.code).isEqualTo(1);
            assertThat(busy.out()).contains("Error [IST0924] (Cluster fresh) on " + LOCAL + " port 15014 (");
            assertThat(busy.out()).doesNotContain("port 15010");
        }
    }

    @Test
    void joinNeedsAMeshRootAndACompatibleCa() {
        CliRunner noRoot = CliRunner.run("precheck", "--context", "fresh", "--mesh", "east", "--run-dir", run.toString());
        assertThat(noRoot.code).isEqualTo(1);
        assertThat(noRoot.out()).contains("Error [IST0925] (Cluster east) no Secret istio-system/cacerts: there is no "
                + "mesh root for fresh to join");

        CertificateAuthority root = CertificateAuthority.createRoot("Mesh", Duration.ofDays(1));
        CertificateAuthority rogue = CertificateAuthority.createRoot("Rogue", Duration.ofDays(1));
        cacerts(mesh, root.createIntermediate("east", Duration.ofDays(1)));
        CliRunner ok = CliRunner.run("precheck", "--context", "fresh", "--mesh", "east", "--run-dir", run.toString());
        assertThat(ok.out()).doesNotContain("Error");
        assertThat(ok.code).isZero();

        cacerts(fresh, rogue.createIntermediate("fresh", Duration.ofDays(1)));
        try {
            CliRunner split = CliRunner.run("precheck", "--context", "fresh", "--mesh", "east", "--run-dir", run.toString());
            assertThat(split.code).isEqualTo(1);
            assertThat(split.out()).contains("Error [IST0906] (Cluster fresh) its istio-system/cacerts root "
                    + "(CN=Rogue Root CA,O=Rogue) is not the root of the mesh east belongs to (CN=Mesh Root CA,O=Mesh)",
                    "Info [IST0926] (Cluster fresh) Secret istio-system/cacerts exists");
        } finally {
            try (KubernetesClient client = fresh.newClient()) {
                client.secrets().inNamespace("istio-system").withName("cacerts").delete();
            }
        }
    }

    @Test
    void aConflictingIstioCrdIsAnError() {
        try (KubernetesClient client = fresh.newClient()) {
            client.resource(new CustomResourceDefinitionBuilder().withNewMetadata()
                    .withName("sidecars.networking.istio.io").endMetadata().withNewSpec()
                    .withGroup("networking.istio.io").withScope("Cluster").withNewNames().withKind("Sidecar")
                    .withPlural("sidecars").endNames().addNewVersion().withName("v1alpha3").withServed(true)
                    .withStorage(true).endVersion().endSpec().build()).create();
        }
        try {
            CliRunner r = CliRunner.run("precheck", "--context", "fresh", "--run-dir", run.toString());
            assertThat(r.code).isEqualTo(1);
            assertThat(r.out()).contains("Error [IST0923] (CustomResourceDefinition sidecars.networking.istio.io) exists "
                    + "with scope Cluster (expected: Namespaced), serves [v1alpha3] (expected: v1 among them");
        } finally {
            try (KubernetesClient client = fresh.newClient()) {
                client.apiextensions().v1().customResourceDefinitions().withName("sidecars.networking.istio.io").delete();
            }
        }
    }

    @Test
    void anUnreachableClusterIsAnErrorAndBadFlagsAreUsageErrors() throws IOException {
        Path dead = run.resolve("dead");
        Files.createDirectories(dead.resolve("gone"));
        Files.writeString(dead.resolve("gone").resolve("kubeconfig"), fresh.kubeconfig().replace(fresh.url(),
                "https://127.0.0.1:1"));
        CliRunner gone = CliRunner.run("precheck", "--context", "gone", "--run-dir", dead.toString());
        assertThat(gone.code).isEqualTo(1);
        assertThat(gone.out().strip()).startsWith("Error [IST0901] (Cluster gone) API server not readable: "
                + "https://127.0.0.1:1: unreachable").hasLineCount(1);

        assertThat(CliRunner.run("precheck", "--context", "mars", "--run-dir", run.toString()).code).isEqualTo(2);
        assertThat(CliRunner.run("precheck", "--context", "fresh", "--run-dir", run.toString(), "-o", "xml").code)
                .isEqualTo(2);
        assertThat(CliRunner.run("precheck", "--context", "fresh", "--mesh", "mars", "--run-dir", run.toString()).code)
                .isEqualTo(2);
    }

    private static void cacerts(EmbeddedApiServer api, CertificateAuthority ca) {
        try (KubernetesClient client = api.newClient()) {
            if (client.namespaces().withName("istio-system").get() == null) {
                client.resource(new NamespaceBuilder().withNewMetadata().withName("istio-system").endMetadata().build())
                        .create();
            }
            client.resource(new SecretBuilder().withNewMetadata().withName("cacerts").withNamespace("istio-system")
                    .endMetadata().withStringData(ca.toCacerts()).build()).createOr(c -> c.update());
        }
    }
}
