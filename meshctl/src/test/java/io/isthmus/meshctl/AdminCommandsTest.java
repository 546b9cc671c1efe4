package io.isthmus.meshctl;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;

/**
 * proxy-status, federation status, remote-clusters and proxy-config against fake admin servers
 * serving JSON recorded from a running demo ({@code src/test/resources/recorded}), found through a
 * run directory laid out as the launcher writes it.
 */
class AdminCommandsTest {

    @TempDir
    Path run;

    private FakeAdminServer west;
    private FakeAdminServer east;
    private FakeAdminServer curlProxy;
    private FakeAdminServer helloworldProxy;

    @BeforeEach
    void startFakes() throws IOException {
        west = new FakeAdminServer().recorded("/debug/syncz", "syncz-102.json")
                .recorded("/debug/federation", "federation-102.json");
        east = new FakeAdminServer().recorded("/debug/syncz", "syncz-101.json")
                .recorded("/debug/federation", "federation-102.json");
        curlProxy = new FakeAdminServer().recorded("/config_dump", "config_dump-curl.json")
                .recorded("/certs", "certs-curl.json");
        helloworldProxy = new FakeAdminServer().recorded("/config_dump", "config_dump-hw1.json");
        writeCluster("east", east, "helloworld-v1-95682", helloworldProxy);
        writeCluster("west", west, "curl-72d60", curlProxy);
    }

    @AfterEach
    void stopFakes() {
        for (FakeAdminServer s : new FakeAdminServer[] {west, east, curlProxy, helloworldProxy}) {
            s.close();
        }
    }

    private void writeCluster(String cluster, FakeAdminServer controller, String pod, FakeAdminServer proxy)
            throws IOException {
        Path dir = Files.createDirectories(run.resolve(cluster));
        Files.writeString(dir.resolve("kubeconfig"), "apiVersion: v1\nkind: Config\n");
        Files.writeString(dir.resolve("controller.log"), "# /usr/bin/java -Xmx192m @" + run + "/classpath.args "
                + "io.isthmus.controller.ControllerMain --cluster " + cluster + " --bind 127.0.0.1 --xds-port 15010 "
                + "--admin-port " + controller.port() + " --raft-id " + cluster + "\n10:00:00.000 [main] INFO started\n");
        Files.writeString(dir.resolve(pod.substring(0, pod.lastIndexOf('-')) + "-sidecar.log"), "# /usr/bin/java "
                + "-Disthmus.component=x @" + run + "/classpath.args io.isthmus.proxy.ProxyMain --pod-ip 127.0.0.1 "
                + "--localhost 127.0.0.1 --pod-name " + pod + " --namespace sample --cluster " + cluster
                + " --admin-port " + proxy.port() + "\n");
    }

    @Test
    void proxyStatusShowsEveryProxyOfEveryControllerWithItsSyncState() {
        CliRunner r = CliRunner.run("proxy-status", "--run-dir", run.toString());

        assertThat(r.code).as(r.err()).isZero();
        assertThat(r.out().lines().findFirst().orElseThrow())
                .containsSubsequence("NAME", "CLUSTER", "CONTROLLER", "VERSION", "CDS", "LDS", "EDS", "RDS");
        assertThat(r.out()).containsPattern("curl-72d60\\.sample\\s+west\\s+127\\.0\\.0\\.1:" + west.port()
                + "\\s+18\\s+SYNCED\\s+SYNCED\\s+SYNCED\\s+SYNCED");
        // Gateways get no RDS.
        assertThat(r.out()).containsPattern("istio-eastwestgateway-6b860\\.istio-system\\s+east\\s+\\S+\\s+18"
                + "\\s+SYNCED\\s+SYNCED\\s+SYNCED\\s+NOT SENT");
        assertThat(r.out().lines()).hasSize(5);
    }

    @Test
    void proxyStatusReportsStaleAndNackedTypes() {
        west.page("/debug/syncz", """
                [ {"id": "sidecar~127.102.1.1~curl-1.sample~sample.svc.cluster.local", "cluster": "west",
                   "network": "net1", "type": "SIDECAR", "stateIndex": 21,
                   "types": {"CDS": {"sent": "aa", "acked": "bb", "synced": false, "nacks": 1,
                                     "lastNackError": "cluster x: bad"},
                             "LDS": {"sent": "cc", "acked": "cc", "synced": true, "nacks": 0, "lastNackError": ""}}} ]
                """);

        CliRunner r = CliRunner.run("proxy-status", "--controller", west.address(), "--verbose");

        assertThat(r.code).isZero();
        assertThat(r.out()).containsPattern("curl-1\\.sample\\s+west\\s+\\S+\\s+21\\s+STALE \\(aa/bb\\)\\s+"
                + "SYNCED \\(cc/cc\\)\\s+NOT SENT\\s+NOT SENT\\s+NOT SENT\\s+CDS: cluster x: bad");
    }

    @Test
    void proxyStatusJsonIsTheControllersDocumentsWithTheControllerAdded() {
        CliRunner r = CliRunner.run("proxy-status", "--controller", west.address(), "-o", "json");

        assertThat(r.code).isZero();
        JsonNode json = AdminClient.JSON.readTree(r.out());
        assertThat(json.size()).isEqualTo(2);
        assertThat(json.get(1).path("id").asString()).startsWith("sidecar~127.102.1.1~curl-72d60");
        assertThat(json.get(1).path("controller").asString()).isEqualTo(west.address());
        assertThat(json.get(1).path("types").path("RDS").path("synced").asBoolean()).isTrue();
    }

    @Test
    void anUnreachableControllerIsOneLineNamingItAndExits1WhileTheOthersStillPrint() throws IOException {
        // Bound but not listening: connections are refused, and no other socket can take the port.
        try (Socket holder = new Socket()) {
            holder.bind(new InetSocketAddress(0));
            int closedPort = holder.getLocalPort();
            CliRunner r = CliRunner.run("proxy-status", "--controller", west.address() + ",127.0.0.1:" + closedPort);

            assertThat(r.code).isEqualTo(1);
            assertThat(r.out()).contains("curl-72d60.sample");
            assertThat(r.err().strip()).hasLineCount(1)
                    .startsWith("meshctl: http://127.0.0.1:" + closedPort + "/debug/syncz: unreachable");
        }
    }

    @Test
    void badUsageExits2() {
        assertThat(CliRunner.run("proxy-status", "--controller", "nohostport").code).isEqualTo(2);
        assertThat(CliRunner.run("proxy-status", "--controller", west.address(), "-o", "xml").code).isEqualTo(2);
        CliRunner missing = CliRunner.run("proxy-status", "--run-dir", run.resolve("nope").toString());
        assertThat(missing.code).isEqualTo(1);
        assertThat(missing.err()).contains(run.resolve("nope") + ": no such run directory");
    }

    @Test
    void federationStatusShowsMembersLeaderTermCommitIndexAndPerClusterState() {
        CliRunner r = CliRunner.run("federation", "status", "--controller", west.address());

        assertThat(r.code).as(r.err()).isZero();
        assertThat(r.out()).containsPattern("west\\s+127\\.0\\.0\\.1:\\d+\\s+follower\\s+eu\\s+3\\s+19\\s+19\\s+0\\s+no\\s+east,eu,west");
        assertThat(r.out()).containsPattern("eu\\s+net2\\s+eu-central/eu-central-1a/\\s+127\\.103\\.0\\.1:15012\\s+present\\s+1\\s+1\\s+1\\s+1/1");
        assertThat(r.out()).containsPattern("west\\s+net1\\s+us-west/us-west-1a/\\s+127\\.102\\.0\\.1:15012\\s+present\\s+0\\s+0\\s+1");
    }

    @Test
    void federationStatusMarksAMissingClusterStateAndAStaleReplica() {
        west.page("/debug/federation", FakeAdminServer.resource("federation-102.json")
                .replace("\"stale\" : false", "\"stale\" : true")
                .replaceFirst("\"hasState\" : true", "\"hasState\" : false"));

        CliRunner r = CliRunner.run("federation", "status", "--controller", west.address(), "-o", "table");

        assertThat(r.code).isZero();
        assertThat(r.out()).containsPattern("follower\\s+eu\\s+3\\s+19\\s+19\\s+0\\s+yes");
        assertThat(r.out()).containsPattern("east\\s+net1\\s+\\S+\\s+\\S+\\s+missing\\s+1\\s+1\\s+1\\s+0/1");
    }

    @Test
    void remoteClustersListsTheOtherClustersAsEachControllerSeesThem() {
        CliRunner r = CliRunner.run("remote-clusters", "--controller", west.address());

        assertThat(r.code).isZero();
        assertThat(r.out().lines().findFirst().orElseThrow())
                .containsSubsequence("NAME", "SECRET", "STATUS", "CONTROLLER");
        assertThat(r.out()).containsPattern("west\\s+east\\s+-\\s+synced\\s+127\\.101\\.0\\.1:15012");
        assertThat(r.out()).containsPattern("west\\s+eu\\s+-\\s+synced\\s+127\\.103\\.0\\.1:15012");
        assertThat(r.out()).doesNotContainPattern("west\\s+west");
    }

    @Test
    void proxyConfigClusterFindsThePodByPrefixInTheRunDirectory() {
        CliRunner r = CliRunner.run("proxy-config", "cluster", "curl", "--run-dir", run.toString());

        assertThat(r.code).as(r.err()).isZero();
        assertThat(r.out()).containsPattern("SERVICE FQDN\\s+PORT\\s+SUBSET\\s+DIRECTION\\s+TYPE");
        assertThat(r.out()).containsPattern("helloworld\\.sample\\.svc\\.cluster\\.local\\s+5000\\s+-\\s+outbound\\s+EDS");
    }

    @Test
    void proxyConfigClusterShowsInboundClusters() {
        CliRunner r = CliRunner.run("pc", "cluster", "helloworld-v1-95682.sample", "--run-dir", run.toString());

        assertThat(r.code).as(r.err()).isZero();
        assertThat(r.out()).containsPattern("\\s+5000\\s+-\\s+inbound\\s+STATIC");
    }

    @Test
    void proxyConfigEndpointShowsLocalityNetworkAndTheGatewayHop() {
        CliRunner r = CliRunner.run("proxy-config", "endpoint", "--admin", curlProxy.address());

        assertThat(r.code).as(r.err()).isZero();
        assertThat(r.out()).containsPattern("127\\.103\\.0\\.2:15443\\s+HEALTHY\\s+OK\\s+outbound\\|5000\\|\\|helloworld\\.sample\\.svc\\.cluster\\.local"
                + "\\s+eu-central/eu-central-1a/\\s+net2\\s+true");
        assertThat(r.out()).containsPattern("127\\.101\\.1\\.1:5000\\s+HEALTHY\\s+OK\\s+\\S+\\s+us-east/us-east-1a/\\s+net1\\s+false");
    }

    @Test
    void proxyConfigEndpointMarksEjectedEndpoints() {
        curlProxy.page("/config_dump", FakeAdminServer.resource("config_dump-curl.json").replace(
                "\"ejected_endpoints\" : [ ]", "\"ejected_endpoints\" : [ {\"cluster\": "
                        + "\"outbound|5000||helloworld.sample.svc.cluster.local\", \"address\": \"127.101.1.1:5000\", "
                        + "\"health_status\": \"EJECTED\"} ]"));

        CliRunner r = CliRunner.run("proxy-config", "endpoint", "--admin", curlProxy.address());

        assertThat(r.out()).containsPattern("127\\.101\\.1\\.1:5000\\s+HEALTHY\\s+FAILED");
        assertThat(r.out()).containsPattern("127\\.103\\.0\\.2:15443\\s+HEALTHY\\s+OK");
    }

    @Test
    void proxyConfigListenerShowsOneRowPerFilterChain() {
        CliRunner r = CliRunner.run("proxy-config", "listener", "helloworld", "--run-dir", run.toString());

        assertThat(r.code).as(r.err()).isZero();
        assertThat(r.out()).containsPattern("0\\.0\\.0\\.0\\s+5000\\s+ALL\\s+Route: 5000");
        assertThat(r.out()).containsPattern("0\\.0\\.0\\.0\\s+15006\\s+port 5000; Trans: tls\\s+Inline Route: inbound\\|5000\\|\\|");
        assertThat(r.out()).containsPattern("0\\.0\\.0\\.0\\s+15001\\s+ALL\\s+PassthroughCluster");
    }

    @Test
    void proxyConfigOfAGatewayShowsItsSniClustersAndChains() {
        FakeAdminServer gw = new FakeAdminServer().recorded("/config_dump", "config_dump-gateway-eu.json");
        try (gw) {
            CliRunner clusters = CliRunner.run("proxy-config", "cluster", "--admin", gw.address());
            CliRunner listeners = CliRunner.run("proxy-config", "listener", "--admin", gw.address());

            assertThat(clusters.out()).containsPattern("helloworld\\.sample\\.svc\\.cluster\\.local\\s+5000\\s+-\\s+outbound\\s+EDS");
            assertThat(listeners.out()).containsPattern("0\\.0\\.0\\.0\\s+15443\\s+SNI: outbound_\\.5000_\\._\\.helloworld\\.sample\\.svc\\.cluster\\.local"
                    + "\\s+Cluster: outbound_\\.5000_\\._\\.helloworld");
        }
    }

    @Test
    void proxyConfigRouteShowsDomainsAndMatch() {
        CliRunner r = CliRunner.run("proxy-config", "route", "curl-72d60", "--run-dir", run.toString());

        assertThat(r.code).as(r.err()).isZero();
        assertThat(r.out()).containsPattern("5000\\s+helloworld\\.sample\\.svc\\.cluster\\.local:5000\\s+"
                + "helloworld\\.sample\\.svc\\.cluster\\.local \\+ 7 more\\.\\.\\.\\s+/\\*\\s+-");
    }

    @Test
    void proxyConfigSecretShowsTheWorkloadCertificateAndTheTrustBundle() {
        CliRunner r = CliRunner.run("proxy-config", "secret", "curl", "--run-dir", run.toString());

        assertThat(r.code).as(r.err()).isZero();
        assertThat(r.out()).containsPattern("default\\s+Cert Chain\\s+ACTIVE\\s+true\\s+51cc39b9a064857d2e3dabcdd71ed6bf90d7fb17"
                + "\\s+2026-11-28T03:50:46Z\\s+2026-11-27T03:45:46Z");
        // Parsed from the PEM the proxy holds, not copied from a field.
        assertThat(r.out()).containsPattern("ROOTCA\\s+CA\\s+ACTIVE\\s+true\\s+7712b502b89fad42da4d0adff65ba88b40e38e6f"
                + "\\s+2036-11-24T03:49:20Z");
    }

    @Test
    void proxyConfigJsonAndYamlPrintTheRawSection() {
        CliRunner json = CliRunner.run("proxy-config", "cluster", "--admin", curlProxy.address(), "-o", "json");
        CliRunner yaml = CliRunner.run("proxy-config", "route", "--admin", curlProxy.address(), "-o", "yaml");

        JsonNode clusters = AdminClient.JSON.readTree(json.out());
        assertThat(clusters.get(0).path("name").asString()).isEqualTo("outbound|5000||helloworld.sample.svc.cluster.local");
        assertThat(yaml.out()).startsWith("- name: \"5000\"\n").contains("  virtualHosts:\n");
    }

    @Test
    void anUnknownOrAmbiguousPodIsOneLineWithTheChoices() throws IOException {
        CliRunner unknown = CliRunner.run("proxy-config", "cluster", "nope", "--run-dir", run.toString());
        assertThat(unknown.code).isEqualTo(1);
        assertThat(unknown.err().strip()).hasLineCount(1).contains("pod 'nope' not found in " + run,
                "west/curl-72d60.sample", "east/helloworld-v1-95682.sample");

        writeCluster("eu", east, "curl-00000", curlProxy);
        CliRunner ambiguous = CliRunner.run("proxy-config", "cluster", "curl", "--run-dir", run.toString());
        assertThat(ambiguous.code).isEqualTo(1);
        assertThat(ambiguous.err()).contains("pod 'curl' is ambiguous", "--cluster");
        assertThat(CliRunner.run("proxy-config", "cluster", "curl", "--cluster", "eu", "--run-dir", run.toString()).code)
                .isZero();
    }

    @Test
    void proxyConfigWithoutPodOrAdminIsAUsageError() {
        CliRunner r = CliRunner.run("proxy-config", "cluster", "--run-dir", run.toString());
        assertThat(r.code).isEqualTo(2);
        assertThat(r.err()).contains("<pod>: missing");
        assertThat(CliRunner.run("proxy-config").code).isEqualTo(2);
    }
}
