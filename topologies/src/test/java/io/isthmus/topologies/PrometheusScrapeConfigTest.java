package io.isthmus.topologies;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class PrometheusScrapeConfigTest {

    private static final String YAML = """
            name: scrape
            addressBase: 171
            clusters:
              - {name: east, network: net1, region: us-east, zone: us-east-1a}
              - {name: eu, network: net2, region: eu-central, zone: eu-central-1a}
            workloads:
              - name: helloworld-v1
                cluster: east
                namespace: sample
                service: helloworld
                serviceAccount: helloworld
                labels: {app: helloworld, version: v1}
                ports: [{name: http, port: 5000}]
                role: server
              - name: curl
                cluster: eu
                namespace: sample
                serviceAccount: curl
                labels: {app: curl, version: v1}
                role: client
            """;

    @Test
    void everySidecarOn15020AndEveryGatewayOnItsAdminPort() {
        Topology topology = Topology.parse(YAML);
        String config = PrometheusScrapeConfig.render(topology, Duration.ofSeconds(2));

        assertThat(config).contains("scrape_interval: 2000ms")
                .contains("metrics_path: /stats/prometheus")
                .contains("- targets: ['" + topology.podIp(topology.workload("helloworld-v1")) + ":15020']")
                .contains("- targets: ['" + topology.podIp(topology.workload("curl")) + ":15020']")
                .contains("cluster: 'east'").contains("cluster: 'eu'")
                .contains("- targets: ['" + topology.gatewayAddress("east") + ":15000']")
                .contains("- targets: ['" + topology.gatewayAddress("eu") + ":15000']");
    }

    @Test
    void refusesAnIntervalPrometheusWouldReject() {
        assertThatThrownBy(() -> PrometheusScrapeConfig.render(Topology.parse(YAML), Duration.ZERO))
                .hasMessageContaining("interval");
    }
}
