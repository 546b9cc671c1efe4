package io.isthmus.meshctl;

import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.ContainerPortBuilder;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.EnvVarBuilder;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.ServicePortBuilder;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeBuilder;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.VolumeMountBuilder;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.MutatingWebhookConfigurationBuilder;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.RuleWithOperationsBuilder;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingWebhookConfigurationBuilder;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.WebhookClientConfig;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.WebhookClientConfigBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinitionBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinitionVersion;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinitionVersionBuilder;
import io.fabric8.kubernetes.api.model.apps.DeploymentBuilder;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBindingBuilder;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBuilder;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.api.model.rbac.PolicyRuleBuilder;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.isthmus.topologies.kube.ApiResource;
import io.isthmus.topologies.kube.EmbeddedApiServer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * The Kubernetes objects that install Isthmus on a real cluster, for {@code meshctl manifest generate}.
 * A pure function of {@link Options}: no cluster is read.
 *
 * <p>Profiles: {@code default} (a primary: CRDs, RBAC, the controller, the east-west gateway, the
 * webhooks), {@code minimal} (a primary without the east-west gateway: one network), {@code remote} (a
 * cluster whose workloads are configured by a primary's controller: CRDs, the reader RBAC, the east-west
 * gateway, webhooks pointing at that controller).
 */
final class InstallManifests {

    static final String NAMESPACE = "istio-system";
    static final String NETWORK_LABEL = "topology.istio.io/network";
    static final String CONTROLLER = "istiod";
    static final String GATEWAY = "istio-eastwestgateway";
    static final Map<String, String> CONTROLLER_LABELS = Map.of("app", CONTROLLER, "istio", "pilot");
    static final int XDS_PORT = 15010;
    static final int SECURE_PORT = 15012;
    static final int ADMIN_PORT = 15014;
    static final int WEBHOOK_PORT = 15017;
    static final int RAFT_PORT = 15031;
    static final int GATEWAY_PORT = 15443;
    static final int HEALTH_PORT = 15021;
    static final List<String> PROFILES = List.of("default", "minimal", "remote");

    /**
     * What to generate.
     *
     * @param controllerAddress for {@code remote}: the primary controller's address (host) the webhooks and
     *                          the gateway dial; empty for the other profiles
     * @param rootCertPem       the mesh root, published as ConfigMap istio-ca-root-cert for the gateway
     * @param trustDomain       the controller's and gateway's {@code --trust-domain}
     * @param trustDomainAliases their {@code --trust-domain-aliases} (Istio's meshConfig trustDomainAliases)
     */
    record Options(String profile, String cluster, String network, String hub, String tag,
            Optional<String> controllerAddress, Optional<String> rootCertPem, String trustDomain,
            List<String> trustDomainAliases) {
        Options(String profile, String cluster, String network, String hub, String tag,
                Optional<String> controllerAddress, Optional<String> rootCertPem) {
            this(profile, cluster, network, hub, tag, controllerAddress, rootCertPem, "cluster.local", List.of());
        }

        Options {
            requireNonNull(profile, "profile");
            requireNonNull(cluster, "cluster");
            requireNonNull(network, "network");
            requireNonNull(hub, "hub");
            requireNonNull(tag, "tag");
            requireNonNull(controllerAddress, "controllerAddress");
            requireNonNull(rootCertPem, "rootCertPem");
            requireNonNull(trustDomain, "trustDomain");
            trustDomainAliases = List.copyOf(trustDomainAliases);
            for (String domain : concat(List.of(trustDomain), trustDomainAliases)) {
                try {
                    io.isthmus.trust.SpiffeId.of(domain, "ns", "sa");
                } catch (IllegalArgumentException e) {
                    throw CommandException.usage((domain.equals(trustDomain) ? "--trust-domain" : "--trust-domain-aliases")
                            + ": '" + domain + "' is not a trust domain (expected: e.g. cluster.local)");
                }
            }
            if (!PROFILES.contains(profile)) {
                throw CommandException.usage("--profile: '" + profile + "' (expected: one of " + String.join(", ", PROFILES) + ")");
            }
            if (!cluster.matches("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")) {
                throw CommandException.usage("--cluster: '" + cluster + "' (expected: a DNS label, e.g. east)");
            }
            if (network.isBlank()) {
                throw CommandException.usage("--network: '' (expected: the cluster's network name, e.g. net1)");
            }
            if (profile.equals("remote") && controllerAddress.isEmpty()) {
                throw CommandException.usage("--profile remote needs --controller-address <host> (the primary "
                        + "controller's address the remote cluster can reach, e.g. its east-west gateway's IP)");
            }
        }

        String image(String name) {
            return hub + '/' + name + ':' + tag;
        }

        /** The flags by which the controller and the gateway agree on whose identities to accept. */
        List<String> trustArgs() {
            List<String> args = new ArrayList<>(List.of("--trust-domain", trustDomain));
            if (!trustDomainAliases.isEmpty()) {
                args.addAll(List.of("--trust-domain-aliases", String.join(",", trustDomainAliases)));
            }
            return args;
        }

        private static List<String> concat(List<String> a, List<String> b) {
            List<String> all = new ArrayList<>(a);
            all.addAll(b);
            return all;
        }
    }

    private InstallManifests() {
    }

    static List<HasMetadata> generate(Options o) {
        requireNonNull(o, "o");
        boolean remote = o.profile().equals("remote");
        List<HasMetadata> out = new ArrayList<>();
        NamespaceBuilder ns = new NamespaceBuilder().withNewMetadata().withName(NAMESPACE)
                .withLabels(Map.of(NETWORK_LABEL, o.network())).endMetadata();
        if (remote) {
            ns.editMetadata().withAnnotations(Map.of("topology.istio.io/controlPlaneClusters", "*")).endMetadata();
        }
        out.add(ns.build());
        out.addAll(crds());
        out.addAll(readerRbac());
        o.rootCertPem().ifPresent(pem -> out.add(new ConfigMapBuilder().withNewMetadata().withName("istio-ca-root-cert")
                .withNamespace(NAMESPACE).endMetadata().withData(Map.of("root-cert.pem", pem)).build()));
        if (!remote) {
            out.addAll(controller(o));
        }
        if (!o.profile().equals("minimal")) {
            out.addAll(gateway(o));
        }
        out.addAll(webhooks(o));
        return List.copyOf(out);
    }

    /** Multi-document YAML, {@code kubectl apply -f -} ready. */
    static String render(List<HasMetadata> objects) {
        KubernetesSerialization yaml = new KubernetesSerialization();
        StringBuilder s = new StringBuilder();
        for (HasMetadata o : objects) {
            String doc = yaml.asYaml(o);
            s.append(doc.startsWith("---") ? doc : "---\n" + doc);
            if (!doc.endsWith("\n")) {
                s.append('\n');
            }
        }
        return s.toString();
    }

    /** One CRD per Istio kind the mesh reads, every version served, structural schema left open. */
    static List<HasMetadata> crds() {
        Map<String, List<ApiResource>> byCrd = new TreeMap<>();
        for (ApiResource r : EmbeddedApiServer.RESOURCES) {
            if (r.isCustom()) {
                byCrd.computeIfAbsent(r.plural() + '.' + r.group(), k -> new ArrayList<>()).add(r);
            }
        }
        List<HasMetadata> out = new ArrayList<>();
        byCrd.forEach((name, versions) -> {
            ApiResource first = versions.get(0);
            List<CustomResourceDefinitionVersion> vs = new ArrayList<>();
            for (ApiResource v : versions) {
                vs.add(new CustomResourceDefinitionVersionBuilder().withName(v.version()).withServed(true)
                        .withStorage(v == first)
                        .withNewSchema().withNewOpenAPIV3Schema().withType("object")
                        .withXKubernetesPreserveUnknownFields(true).endOpenAPIV3Schema().endSchema()
                        .withNewSubresources().withNewStatus().endStatus().endSubresources()
                        .build());
            }
            out.add(new CustomResourceDefinitionBuilder().withNewMetadata().withName(name)
                    .withLabels(Map.of("app", "istio-pilot")).endMetadata()
                    .withNewSpec().withGroup(first.group()).withScope(first.namespaced() ? "Namespaced" : "Cluster")
                    .withNewNames().withKind(first.kind()).withListKind(first.kind() + "List").withPlural(first.plural())
                    .withSingular(first.kind().toLowerCase(Locale.ROOT)).withShortNames(first.shortNames())
                    .withCategories(categories(first.group())).endNames()
                    .withVersions(vs).endSpec().build());
        });
        return out;
    }

    /** Istio's kubectl categories for its groups; Isthmus' own kinds get {@code isthmus-io}. */
    private static List<String> categories(String group) {
        String prefix = group.split("\\.")[0];
        return group.endsWith(".isthmus.io") ? List.of("isthmus-io", prefix + "-isthmus-io")
                : List.of("istio-io", prefix + "-istio-io");
    }

    /** The least-privilege account other clusters' remote secrets hold (as create-remote-secret makes). */
    private static List<HasMetadata> readerRbac() {
        String sa = CreateRemoteSecretCommand.DEFAULT_SERVICE_ACCOUNT;
        String role = "istio-reader-clusterrole-" + NAMESPACE;
        return List.of(
                new ServiceAccountBuilder().withNewMetadata().withName(sa).withNamespace(NAMESPACE).endMetadata().build(),
                new ClusterRoleBuilder().withNewMetadata().withName(role).withLabels(Map.of("app", "istio-reader"))
                        .endMetadata().withRules(CreateRemoteSecretCommand.readerRules()).build(),
                binding(role, sa));
    }

    private static List<HasMetadata> controller(Options o) {
        String role = "istiod-clusterrole-" + NAMESPACE;
        List<String> read = List.of("get", "list", "watch");
        List<PolicyRule> rules = new ArrayList<>(CreateRemoteSecretCommand.readerRules());
        rules.add(new PolicyRuleBuilder().withApiGroups("admissionregistration.k8s.io")
                .withResources("mutatingwebhookconfigurations", "validatingwebhookconfigurations")
                .withVerbs("get", "list", "watch", "update", "patch").build());
        rules.add(new PolicyRuleBuilder().withApiGroups("apiextensions.k8s.io").withResources("customresourcedefinitions")
                .withVerbs(read).build());
        String kubeconfig = """
                apiVersion: v1
                kind: Config
                clusters:
                - name: in-cluster
                  cluster:
                    server: https://kubernetes.default.svc
                    certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
                users:
                - name: istiod
                  user:
                    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token
                contexts:
                - name: in-cluster
                  context: {cluster: in-cluster, user: istiod}
                current-context: in-cluster
                """;
        List<ServicePort> ports = List.of(port("grpc-xds", XDS_PORT), port("https-dns", SECURE_PORT),
                port("http-monitoring", ADMIN_PORT), port("https-webhook", WEBHOOK_PORT), port("tcp-raft", RAFT_PORT));
        List<String> args = new ArrayList<>(List.of("--cluster", o.cluster(), "--network", o.network(),
                "--kubeconfig", "/etc/isthmus/kubeconfig", "--bind", "$(POD_IP)",
                "--xds-port", String.valueOf(XDS_PORT), "--secure-port", String.valueOf(SECURE_PORT),
                "--admin-port", String.valueOf(ADMIN_PORT), "--raft-id", o.cluster(),
                "--raft-port", String.valueOf(RAFT_PORT),
                "--raft-peers", o.cluster() + "=" + CONTROLLER + "." + NAMESPACE + ".svc:" + RAFT_PORT,
                "--data-dir", "/var/lib/isthmus"));
        args.addAll(o.trustArgs());
        return List.of(
                new ServiceAccountBuilder().withNewMetadata().withName(CONTROLLER).withNamespace(NAMESPACE).endMetadata()
                        .build(),
                new ClusterRoleBuilder().withNewMetadata().withName(role).withLabels(Map.of("app", CONTROLLER))
                        .endMetadata().withRules(rules).build(),
                binding(role, CONTROLLER),
                new ConfigMapBuilder().withNewMetadata().withName("istiod-kubeconfig").withNamespace(NAMESPACE)
                        .endMetadata().withData(Map.of("kubeconfig", kubeconfig)).build(),
                new DeploymentBuilder().withNewMetadata().withName(CONTROLLER).withNamespace(NAMESPACE)
                        .withLabels(CONTROLLER_LABELS).endMetadata()
                        .withNewSpec().withReplicas(1).withNewSelector().withMatchLabels(CONTROLLER_LABELS).endSelector()
                        .withNewStrategy().withType("Recreate").endStrategy()
                        .withNewTemplate().withNewMetadata().withLabels(withNetwork(CONTROLLER_LABELS, o.network()))
                        .withAnnotations(Map.of("sidecar.istio.io/inject", "false")).endMetadata()
                        .withNewSpec().withServiceAccountName(CONTROLLER)
                        .addNewContainer().withName("discovery").withImage(o.image("controller"))
                        .withArgs(args).withEnv(podIp())
                        .withPorts(ports.stream().map(p -> new ContainerPortBuilder().withName(p.getName())
                                .withContainerPort(p.getPort()).withProtocol("TCP").build()).toList())
                        .withNewReadinessProbe().withNewHttpGet().withPath("/ready").withPort(new IntOrString(ADMIN_PORT))
                        .endHttpGet().withInitialDelaySeconds(1).withPeriodSeconds(3).endReadinessProbe()
                        .withVolumeMounts(mount("kubeconfig", "/etc/isthmus"), mount("data", "/var/lib/isthmus"))
                        .endContainer()
                        .withVolumes(new VolumeBuilder().withName("kubeconfig").withNewConfigMap()
                                        .withName("istiod-kubeconfig").endConfigMap().build(),
                                new VolumeBuilder().withName("data").withNewEmptyDir().endEmptyDir().build())
                        .endSpec().endTemplate().endSpec().build(),
                new ServiceBuilder().withNewMetadata().withName(CONTROLLER).withNamespace(NAMESPACE)
                        .withLabels(CONTROLLER_LABELS).endMetadata()
                        .withNewSpec().withSelector(CONTROLLER_LABELS).withPorts(ports).endSpec().build());
    }

    private static List<HasMetadata> gateway(Options o) {
        Map<String, String> labels = new TreeMap<>(Map.of("app", GATEWAY, "istio", "eastwestgateway",
                NETWORK_LABEL, o.network()));
        String controller = o.controllerAddress().orElse(CONTROLLER + "." + NAMESPACE + ".svc") + ":" + SECURE_PORT;
        List<String> args = new ArrayList<>(List.of("--pod-ip", "$(POD_IP)", "--localhost", "127.0.0.1",
                "--pod-name", "$(POD_NAME)", "--namespace", NAMESPACE, "--service-account", GATEWAY,
                "--cluster", o.cluster(), "--network", o.network(), "--labels", "app=" + GATEWAY + ",istio=eastwestgateway",
                "--controller", controller, "--root-cert", "/etc/istio/root/root-cert.pem",
                "--token-file", "/var/run/secrets/tokens/istio-token", "--port", String.valueOf(GATEWAY_PORT)));
        args.addAll(o.trustArgs());
        List<EnvVar> env = new ArrayList<>(podIp());
        env.add(new EnvVarBuilder().withName("POD_NAME").withNewValueFrom().withNewFieldRef()
                .withFieldPath("metadata.name").endFieldRef().endValueFrom().build());
        return List.of(
                new ServiceAccountBuilder().withNewMetadata().withName(GATEWAY).withNamespace(NAMESPACE).endMetadata().build(),
                new DeploymentBuilder().withNewMetadata().withName(GATEWAY).withNamespace(NAMESPACE).withLabels(labels)
                        .endMetadata()
                        .withNewSpec().withReplicas(1).withNewSelector().withMatchLabels(labels).endSelector()
                        .withNewTemplate().withNewMetadata().withLabels(labels)
                        .withAnnotations(Map.of("sidecar.istio.io/inject", "false")).endMetadata()
                        .withNewSpec().withServiceAccountName(GATEWAY)
                        .addNewContainer().withName("istio-proxy").withImage(o.image("east-west-gateway"))
                        .withArgs(args).withEnv(env)
                        .withPorts(new ContainerPortBuilder().withName("tls").withContainerPort(GATEWAY_PORT).build(),
                                new ContainerPortBuilder().withName("status-port").withContainerPort(HEALTH_PORT).build())
                        .withNewReadinessProbe().withNewHttpGet().withPath("/ready").withPort(new IntOrString(15000))
                        .endHttpGet().withPeriodSeconds(3).endReadinessProbe()
                        .withVolumeMounts(mount("root-cert", "/etc/istio/root"), mount("istio-token", "/var/run/secrets/tokens"))
                        .endContainer()
                        .withVolumes(rootCertVolume(), tokenVolume())
                        .endSpec().endTemplate().endSpec().build(),
                new ServiceBuilder().withNewMetadata().withName(GATEWAY).withNamespace(NAMESPACE).withLabels(labels)
                        .endMetadata().withNewSpec().withType("LoadBalancer").withSelector(labels)
                        .withPorts(port("tls", GATEWAY_PORT), port("status-port", HEALTH_PORT)).endSpec().build());
    }

    private static List<HasMetadata> webhooks(Options o) {
        WebhookClientConfig inject = clientConfig(o, "/inject");
        WebhookClientConfig validate = clientConfig(o, "/validate");
        // Ignore, not Fail: a webhook that is down must not block every pod or config change of the cluster.
        return List.of(
                new MutatingWebhookConfigurationBuilder().withNewMetadata().withName("istio-sidecar-injector")
                        .withLabels(Map.of("app", "sidecar-injector")).endMetadata()
                        .addNewWebhook().withName("namespace.sidecar-injector.istio.io").withClientConfig(inject)
                        .withRules(new RuleWithOperationsBuilder().withOperations("CREATE").withApiGroups("")
                                .withApiVersions("v1").withResources("pods").build())
                        .withNewNamespaceSelector().addToMatchLabels("istio-injection", "enabled").endNamespaceSelector()
                        .withNewObjectSelector().addNewMatchExpression().withKey("sidecar.istio.io/inject")
                        .withOperator("NotIn").withValues("false").endMatchExpression().endObjectSelector()
                        .withSideEffects("None").withFailurePolicy("Ignore").withAdmissionReviewVersions("v1")
                        .withReinvocationPolicy("Never").withTimeoutSeconds(10)
                        .endWebhook().build(),
                new ValidatingWebhookConfigurationBuilder().withNewMetadata().withName("istio-validator-" + NAMESPACE)
                        .withLabels(Map.of("app", "istiod")).endMetadata()
                        .addNewWebhook().withName("validation.istio.io").withClientConfig(validate)
                        .withRules(new RuleWithOperationsBuilder().withOperations("CREATE", "UPDATE")
                                .withApiGroups("networking.istio.io", "security.istio.io", "policy.isthmus.io")
                                .withApiVersions("*")
                                .withResources("*").build())
                        .withSideEffects("None").withFailurePolicy("Ignore").withAdmissionReviewVersions("v1")
                        .withTimeoutSeconds(10)
                        .endWebhook().build());
    }

    private static WebhookClientConfig clientConfig(Options o, String path) {
        if (o.controllerAddress().isPresent() && o.profile().equals("remote")) {
            return new WebhookClientConfigBuilder().withUrl("https://" + o.controllerAddress().get() + ":" + WEBHOOK_PORT
                    + path).build();
        }
        return new WebhookClientConfigBuilder().withNewService().withName(CONTROLLER).withNamespace(NAMESPACE)
                .withPath(path).withPort(WEBHOOK_PORT).endService().build();
    }

    private static HasMetadata binding(String role, String serviceAccount) {
        return new ClusterRoleBindingBuilder().withNewMetadata().withName(role).endMetadata()
                .withNewRoleRef().withApiGroup("rbac.authorization.k8s.io").withKind("ClusterRole").withName(role)
                .endRoleRef().addNewSubject().withKind("ServiceAccount").withName(serviceAccount)
                .withNamespace(NAMESPACE).endSubject().build();
    }

    private static ServicePort port(String name, int port) {
        return new ServicePortBuilder().withName(name).withPort(port).withTargetPort(new IntOrString(port))
                .withProtocol("TCP").build();
    }

    private static List<EnvVar> podIp() {
        return List.of(new EnvVarBuilder().withName("POD_IP").withNewValueFrom().withNewFieldRef()
                .withFieldPath("status.podIP").endFieldRef().endValueFrom().build());
    }

    private static VolumeMount mount(String name, String path) {
        return new VolumeMountBuilder().withName(name).withMountPath(path).withReadOnly(!name.equals("data")).build();
    }

    private static Volume rootCertVolume() {
        return new VolumeBuilder().withName("root-cert").withNewConfigMap().withName("istio-ca-root-cert").endConfigMap()
                .build();
    }

    private static Volume tokenVolume() {
        return new VolumeBuilder().withName("istio-token").withNewProjected().addNewSource().withNewServiceAccountToken()
                .withAudience("istio-ca").withExpirationSeconds(43200L).withPath("istio-token").endServiceAccountToken()
                .endSource().endProjected().build();
    }

    private static Map<String, String> withNetwork(Map<String, String> labels, String network) {
        Map<String, String> out = new LinkedHashMap<>(new TreeMap<>(labels));
        out.put(NETWORK_LABEL, network);
        return out;
    }
}
