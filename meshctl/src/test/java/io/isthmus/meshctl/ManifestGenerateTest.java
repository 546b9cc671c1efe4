package io.isthmus.meshctl;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.MutatingWebhookConfiguration;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingWebhookConfiguration;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.isthmus.topologies.kube.ApiResource;
import io.isthmus.topologies.kube.EmbeddedApiServer;
import io.isthmus.trust.CertificateAuthority;
import io.isthmus.trust.Pem;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code meshctl manifest generate}: every document of every profile parsed back with fabric8 into its
 * typed model and checked: kinds, ports, labels, selectors that match the pods they select, references
 * (service accounts, roles, config maps, webhook services) that resolve inside the output.
 */
class ManifestGenerateTest {

    private static KubernetesClient parser;

    @TempDir
    static Path dir;

    @BeforeAll
    static void parser() {
        // Only parses: never connects.
        parser = new KubernetesClientBuilder().withConfig(new ConfigBuilder().withMasterUrl("https://127.0.0.1:1").build())
                .build();
    }

    @AfterAll
    static void close() {
        parser.close();
    }

    @Test
    void defaultProfileHasEverythingAPrimaryNeedsAndItAllFitsTogether() throws Exception {
        Path root = dir.resolve("root-cert.pem");
        Files.writeString(root, Pem.encodeCertificate(CertificateAuthority.createRoot("Mesh", Duration.ofDays(1)).root()));
        List<HasMetadata> objects = generate("manifest", "generate", "--cluster", "east", "--network", "net1",
                "--root-cert", root.toString(), "--hub", "registry.example.com/isthmus", "--tag", "1.2.3");

        checkCrds(objects);
        checkReferences(objects);
        Namespace ns = one(objects, Namespace.class, "istio-system");
        assertThat(ns.getMetadata().getLabels()).containsEntry("topology.istio.io/network", "net1");

        Deployment controller = one(objects, Deployment.class, "istiod");
        assertThat(controller.getSpec().getTemplate().getSpec().getContainers()).singleElement().satisfies(c -> {
            assertThat(c.getImage()).isEqualTo("registry.example.com/isthmus/controller:1.2.3");
            assertThat(String.join(" ", c.getArgs())).contains("--cluster east", "--network net1", "--raft-id east",
                    "--bind $(POD_IP)", "--kubeconfig /etc/isthmus/kubeconfig");
            assertThat(c.getReadinessProbe().getHttpGet().getPort().getIntVal()).isEqualTo(15014);
        });
        Service istiod = one(objects, Service.class, "istiod");
        assertThat(istiod.getSpec().getPorts()).extracting(ServicePort::getPort).contains(15010, 15012, 15014, 15017);
        assertSelects(istiod.getSpec().getSelector(), controller);

        Deployment gateway = one(objects, Deployment.class, "istio-eastwestgateway");
        Service gatewayService = one(objects, Service.class, "istio-eastwestgateway");
        assertThat(gatewayService.getSpec().getType()).isEqualTo("LoadBalancer");
        assertThat(gatewayService.getSpec().getPorts()).extracting(ServicePort::getPort).contains(15443);
        assertThat(gatewayService.getMetadata().getLabels()).containsEntry("topology.istio.io/network", "net1")
                .containsEntry("istio", "eastwestgateway");
        assertSelects(gatewayService.getSpec().getSelector(), gateway);
        assertThat(gateway.getSpec().getTemplate().getSpec().getContainers().get(0).getImage())
                .isEqualTo("registry.example.com/isthmus/east-west-gateway:1.2.3");
        assertThat(String.join(" ", gateway.getSpec().getTemplate().getSpec().getContainers().get(0).getArgs()))
                .contains("--controller istiod.istio-system.svc:15012", "--port 15443", "--network net1");

        MutatingWebhookConfiguration injector = one(objects, MutatingWebhookConfiguration.class, "istio-sidecar-injector");
        assertThat(injector.getWebhooks()).singleElement().satisfies(w -> {
            assertThat(w.getNamespaceSelector().getMatchLabels()).containsEntry("istio-injection", "enabled");
            assertThat(w.getClientConfig().getService().getName()).isEqualTo("istiod");
            assertThat(w.getClientConfig().getService().getPort()).isEqualTo(15017);
            assertThat(w.getRules().get(0).getResources()).containsExactly("pods");
            assertThat(w.getRules().get(0).getOperations()).containsExactly("CREATE");
        });
        ValidatingWebhookConfiguration validator = one(objects, ValidatingWebhookConfiguration.class,
                "istio-validator-istio-system");
        assertThat(validator.getWebhooks().get(0).getClientConfig().getService().getPort()).isEqualTo(15017);
        assertThat(validator.getWebhooks().get(0).getRules().get(0).getApiGroups())
                .containsExactly("networking.istio.io", "security.istio.io", "policy.isthmus.io");
        assertThat(one(objects, ConfigMap.class, "istio-ca-root-cert").getData().get("root-cert.pem"))
                .isEqualTo(Files.readString(root));
    }

    @Test
    void minimalHasNoGatewayAndRemoteHasNoController() {
        List<HasMetadata> minimal = generate("manifest", "generate", "--profile", "minimal");
        checkCrds(minimal);
        checkReferences(minimal);
        assertThat(minimal).extracting(o -> o.getMetadata().getName()).contains("istiod")
                .doesNotContain("istio-eastwestgateway", "istio-ca-root-cert");
        assertThat(one(minimal, Namespace.class, "istio-system").getMetadata().getLabels())
                .containsEntry("topology.istio.io/network", "network1");

        List<HasMetadata> remote = generate("manifest", "generate", "--profile", "remote", "--cluster", "edge",
                "--network", "net2", "--controller-address", "10.0.0.5");
        checkCrds(remote);
        checkReferences(remote);
        assertThat(remote).filteredOn(o -> o.getMetadata().getName().startsWith("istiod")).isEmpty();
        assertThat(one(remote, Namespace.class, "istio-system").getMetadata().getAnnotations())
                .containsKey("topology.istio.io/controlPlaneClusters");
        assertThat(one(remote, MutatingWebhookConfiguration.class, "istio-sidecar-injector").getWebhooks().get(0)
                .getClientConfig().getUrl()).isEqualTo("https://10.0.0.5:15017/inject");
        assertThat(String.join(" ", one(remote, Deployment.class, "istio-eastwestgateway").getSpec().getTemplate()
                .getSpec().getContainers().get(0).getArgs())).contains("--controller 10.0.0.5:15012");
    }

    @Test
    void controllerAndGatewayGetTheTrustDomainAndItsAliases() {
        List<HasMetadata> plain = generate("manifest", "generate");
        assertThat(String.join(" ", one(plain, Deployment.class, "istiod").getSpec().getTemplate().getSpec()
                .getContainers().get(0).getArgs())).contains("--trust-domain cluster.local").doesNotContain("aliases");

        List<HasMetadata> objects = generate("manifest", "generate", "--trust-domain", "mesh.example.com",
                "--trust-domain-aliases", "old.example.com, cluster.local");
        for (String name : List.of("istiod", "istio-eastwestgateway")) {
            assertThat(String.join(" ", one(objects, Deployment.class, name).getSpec().getTemplate().getSpec()
                    .getContainers().get(0).getArgs()))
                    .as(name).contains("--trust-domain mesh.example.com --trust-domain-aliases old.example.com,cluster.local");
        }
        CliRunner bad = CliRunner.run("manifest", "generate", "--trust-domain-aliases", "ok.example,Bad_Alias");
        assertThat(bad.code).isEqualTo(2);
        assertThat(bad.err.toString()).contains("--trust-domain-aliases: 'Bad_Alias' is not a trust domain");
    }

    @Test
    void badInputsAreUsageErrors() {
        CliRunner profile = CliRunner.run("manifest", "generate", "--profile", "huge");
        assertThat(profile.code).isEqualTo(2);
        assertThat(profile.err().strip()).isEqualTo("meshctl: --profile: 'huge' (expected: one of default, minimal, remote)");
        CliRunner remote = CliRunner.run("manifest", "generate", "--profile", "remote");
        assertThat(remote.code).isEqualTo(2);
        assertThat(remote.err()).contains("--controller-address");
        assertThat(CliRunner.run("manifest", "generate", "--cluster", "Bad_Name").code).isEqualTo(2);
        assertThat(CliRunner.run("manifest", "generate", "--root-cert", "/nonexistent.pem").code).isEqualTo(2);
        assertThat(CliRunner.run("manifest").code).isEqualTo(2);
    }

    private static List<HasMetadata> generate(String... args) {
        CliRunner r = CliRunner.run(args);
        assertThat(r.code).as(r.err()).isZero();
        assertThat(r.err()).isEmpty();
        List<HasMetadata> objects = parser.load(new ByteArrayInputStream(r.out().getBytes(StandardCharsets.UTF_8))).items();
        assertThat(objects).doesNotContainNull().hasSizeGreaterThan(10);
        // Typed: fabric8 recognised every document's kind.
        assertThat(objects).noneMatch(o -> o instanceof io.fabric8.kubernetes.api.model.GenericKubernetesResource);
        assertThat(objects.stream().map(o -> o.getKind() + "/" + o.getMetadata().getName()).distinct().count())
                .as("no duplicate objects").isEqualTo(objects.size());
        return objects;
    }

    private static void checkCrds(List<HasMetadata> objects) {
        Set<String> expected = EmbeddedApiServer.RESOURCES.stream().filter(ApiResource::isCustom)
                .map(r -> r.plural() + "." + r.group()).collect(Collectors.toSet());
        List<CustomResourceDefinition> crds = all(objects, CustomResourceDefinition.class);
        assertThat(crds).extracting(c -> c.getMetadata().getName()).containsExactlyInAnyOrderElementsOf(expected)
                .contains("virtualservices.networking.istio.io", "destinationrules.networking.istio.io",
                        "peerauthentications.security.istio.io", "authorizationpolicies.security.istio.io",
                        "ratelimitpolicies.policy.isthmus.io");
        for (CustomResourceDefinition crd : crds) {
            assertThat(crd.getMetadata().getName()).isEqualTo(crd.getSpec().getNames().getPlural() + "." + crd.getSpec().getGroup());
            assertThat(crd.getSpec().getVersions()).filteredOn(v -> v.getStorage()).hasSize(1);
            assertThat(crd.getSpec().getVersions()).allMatch(v -> v.getServed() && v.getSchema().getOpenAPIV3Schema() != null);
            assertThat(crd.getSpec().getVersions()).extracting(v -> v.getName())
                    .contains(crd.getSpec().getGroup().endsWith(".isthmus.io") ? "v1alpha1" : "v1");
        }
    }

    /** Every service account, role, config map and namespace the output refers to is in the output. */
    private static void checkReferences(List<HasMetadata> objects) {
        Set<String> serviceAccounts = all(objects, ServiceAccount.class).stream()
                .map(s -> s.getMetadata().getNamespace() + "/" + s.getMetadata().getName()).collect(Collectors.toSet());
        Set<String> roles = all(objects, ClusterRole.class).stream().map(r -> r.getMetadata().getName())
                .collect(Collectors.toSet());
        for (ClusterRoleBinding b : all(objects, ClusterRoleBinding.class)) {
            assertThat(roles).contains(b.getRoleRef().getName());
            b.getSubjects().forEach(s -> assertThat(serviceAccounts).contains(s.getNamespace() + "/" + s.getName()));
        }
        Set<String> configMaps = all(objects, ConfigMap.class).stream().map(c -> c.getMetadata().getName())
                .collect(Collectors.toSet());
        for (Deployment d : all(objects, Deployment.class)) {
            assertThat(d.getMetadata().getNamespace()).isEqualTo("istio-system");
            assertThat(serviceAccounts).contains("istio-system/" + d.getSpec().getTemplate().getSpec().getServiceAccountName());
            assertSelects(d.getSpec().getSelector().getMatchLabels(), d);
            d.getSpec().getTemplate().getSpec().getVolumes().stream().filter(v -> v.getConfigMap() != null)
                    .filter(v -> !v.getConfigMap().getName().equals("istio-ca-root-cert")) // documented: from --root-cert
                    .forEach(v -> assertThat(configMaps).contains(v.getConfigMap().getName()));
        }
        for (MutatingWebhookConfiguration m : all(objects, MutatingWebhookConfiguration.class)) {
            m.getWebhooks().forEach(w -> {
                if (w.getClientConfig().getService() != null) {
                    assertThat(one(objects, Service.class, w.getClientConfig().getService().getName()).getSpec().getPorts())
                            .extracting(ServicePort::getPort).contains(w.getClientConfig().getService().getPort());
                }
            });
        }
    }

    private static void assertSelects(Map<String, String> selector, Deployment d) {
        assertThat(selector).isNotEmpty();
        assertThat(d.getSpec().getTemplate().getMetadata().getLabels()).containsAllEntriesOf(selector);
    }

    private static <T extends HasMetadata> List<T> all(List<HasMetadata> objects, Class<T> type) {
        return objects.stream().filter(type::isInstance).map(type::cast).toList();
    }

    private static <T extends HasMetadata> T one(List<HasMetadata> objects, Class<T> type, String name) {
        List<T> found = all(objects, type).stream().filter(o -> o.getMetadata().getName().equals(name)).toList();
        assertThat(found).as(type.getSimpleName() + " " + name).hasSize(1);
        return found.get(0);
    }
}
