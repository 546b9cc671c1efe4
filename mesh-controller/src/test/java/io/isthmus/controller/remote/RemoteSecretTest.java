package io.isthmus.controller.remote;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/** Reading remote secrets: the format meshctl and istioctl write, and every way it can be wrong. */
class RemoteSecretTest {

    private static final String GOOD = """
            apiVersion: v1
            kind: Config
            current-context: eu
            clusters:
            - name: eu
              cluster:
                server: https://127.103.0.1:6443
                certificate-authority-data: AAAA
            contexts:
            - name: eu
              context:
                cluster: eu
                user: eu
            users:
            - name: eu
              user:
                token: abc
            """;

    @Test
    void readsEachKeyAsAClusterKubeconfig() {
        RemoteSecret secret = RemoteSecret.read(secret(Map.of("eu", b64(GOOD))));
        assertThat(secret.ref()).isEqualTo("istio-system/istio-remote-secret-eu");
        assertThat(secret.errors()).isEmpty();
        RemoteKubeconfig eu = secret.clusters().get("eu");
        assertThat(eu.server()).isEqualTo("https://127.103.0.1:6443");
        assertThat(eu.sha256()).hasSize(64);
        assertThat(RemoteKubeconfig.parse("eu", GOOD + "\n").sha256()).isNotEqualTo(eu.sha256());
    }

    @Test
    void aBadKeyDoesNotSpoilTheGoodOnes() {
        RemoteSecret secret = RemoteSecret.read(secret(Map.of("eu", b64(GOOD), "west", "!!notbase64!!",
                "Bad_Name", b64(GOOD))));
        assertThat(secret.clusters()).containsOnlyKeys("eu");
        assertThat(secret.errors().get("west")).contains("key 'west' is not base64");
        assertThat(secret.errors().get("Bad_Name")).contains("not a valid cluster name");
    }

    @Test
    void anEmptySecretIsNamed() {
        assertThat(RemoteSecret.read(secret(Map.of())).errors().get(""))
                .contains("istio-system/istio-remote-secret-eu has no data");
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "empty                  | ''                                                   | kubeconfig is empty",
        "not yaml               | 'kind: [oops'                                        | does not parse",
        "no current context     | 'current-context: \"\"'                              | no current-context",
        "unknown context        | 'current-context: nope'                              | 'current-context ''nope'' is not among its contexts'",
        "no server              | 'server: https://127.103.0.1:6443=>server: \"\"'     | has no server address",
        "not a url              | 'server: https://127.103.0.1:6443=>server: \"ftp://x\"' | is not an https:// URL",
        "unknown user           | 'user: eu=>user: nobody'                             | names user 'nobody'",
        "exec plugin            | '    token: abc=>    exec:\n      command: aws'      | uses an exec plugin (aws)",
        "auth provider          | '    token: abc=>    auth-provider:\n      name: gcp' | uses an auth-provider plugin (gcp)",
    })
    void refusesWithAReasonNamingTheProblem(String name, String edit, String expected) {
        String yaml = edit.isEmpty() ? "" : edit.contains("=>") ? GOOD.replace(edit.split("=>")[0],
                edit.split("=>")[1].replace("\\n", "\n")) : GOOD.replaceAll("current-context: eu", edit);
        if (name.equals("not yaml")) {
            yaml = edit;
        }
        String finalYaml = yaml;
        assertThatThrownBy(() -> RemoteKubeconfig.parse("eu", finalYaml))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(expected);
    }

    private static String b64(String text) {
        return Base64.getEncoder().encodeToString(text.getBytes(StandardCharsets.UTF_8));
    }

    private static Secret secret(Map<String, String> data) {
        return new SecretBuilder().withNewMetadata().withName("istio-remote-secret-eu").withNamespace("istio-system")
                .addToLabels(RemoteSecret.LABEL, "true").endMetadata().withData(data).build();
    }
}
