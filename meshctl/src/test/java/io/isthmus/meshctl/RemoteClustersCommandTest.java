package io.isthmus.meshctl;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** {@code remote-clusters} shows remote secrets with their status next to the federation's clusters. */
class RemoteClustersCommandTest {

    @Test
    void showsRemoteSecretsWithStatusAndReason() {
        String doc = """
                {"status": {"peerId": "east"},
                 "clusters": [
                   {"name": "east", "controllerAddress": "127.101.0.1:15012", "hasState": true},
                   {"name": "west", "controllerAddress": "127.102.0.1:15012", "hasState": false},
                   {"name": "eu", "controllerAddress": "127.101.0.1:15012", "hasState": true}],
                 "remoteClusters": [
                   {"cluster": "eu", "secret": "istio-system/istio-remote-secret-eu", "status": "synced",
                    "reason": "", "server": "https://127.103.0.1:6443"},
                   {"cluster": "ap", "secret": "istio-system/istio-remote-secret-ap", "status": "error",
                    "reason": "kubeconfig does not parse", "server": ""}]}
                """;
        try (FakeAdminServer east = new FakeAdminServer().page("/debug/federation", doc)) {
            CliRunner r = CliRunner.run("remote-clusters", "--controller", east.address());

            assertThat(r.code).as(r.err()).isZero();
            assertThat(r.out()).containsPattern("east\\s+west\\s+-\\s+pending\\s+127\\.102\\.0\\.1:15012");
            assertThat(r.out()).containsPattern("east\\s+eu\\s+istio-remote-secret-eu\\s+synced\\s+east");
            assertThat(r.out()).containsPattern(
                    "east\\s+ap\\s+istio-remote-secret-ap\\s+error\\s+east\\s+kubeconfig does not parse");
            assertThat(r.out()).doesNotContainPattern("east\\s+eu\\s+-");
        }
    }
}
