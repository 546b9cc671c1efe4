package io.isthmus.controller.federation;

import io.isthmus.discovery.ClusterInfo;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.Endpoint;
import io.isthmus.discovery.Locality;
import io.isthmus.discovery.MeshService;
import io.isthmus.discovery.NetworkGateway;
import io.isthmus.discovery.ServiceKey;
import io.isthmus.discovery.ServicePort;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;

/** Small, valid model values for federation tests. */
final class Fixtures {

    /** Self-signed ECDSA P-256 roots (CN=root-a, CN=root-b), valid until 2126. */
    static final String ROOT_A = """
            -----BEGIN CERTIFICATE-----
            MIIBpzCCAU2gAwIBAgIUQYZUcREz8aGIXKR6g9UPqQvaId0wCgYIKoZIzj0EAwIw
            KDEVMBMGA1UECgwMaXN0aG11cy10ZXN0MQ8wDQYDVQQDDAZyb290LWEwIBcNMjYx
            MTI3MDI1NTE4WhgPMjEyNjExMDMwMjU1MThaMCgxFTATBgNVBAoMDGlzdGhtdXMt
            dGVzdDEPMA0GA1UEAwwGcm9vdC1hMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE
            xyqtDZDDAI+BuOJD1USe4R6BJnop7NlXajK2f1PNyJzyMGLrtqfIfP/Suay2U1Wn
            wQEeO3pV19BImeOPeFTNhKNTMFEwHQYDVR0OBBYEFNPDxXQzu1Kz0nda9WHFO73X
            CgvHMB8GA1UdIwQYMBaAFNPDxXQzu1Kz0nda9WHFO73XCgvHMA8GA1UdEwEB/wQF
            MAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgR7pNn3EXAs8c3y/75VJsoTTUpyRbBBpZ
            6zQhgomco0UCIQCRqg8Gs1ls9bLrzBlKkVlcOQGeW4Tafll2ePck9/WGAQ==
            -----END CERTIFICATE-----
            """;

    static final String ROOT_B = """
            -----BEGIN CERTIFICATE-----
            MIIBpjCCAU2gAwIBAgIUag5jKuwis7DTv2KG42ukY4O1gO8wCgYIKoZIzj0EAwIw
            KDEVMBMGA1UECgwMaXN0aG11cy10ZXN0MQ8wDQYDVQQDDAZyb290LWIwIBcNMjYx
            MTI3MDI1NTE4WhgPMjEyNjExMDMwMjU1MThaMCgxFTATBgNVBAoMDGlzdGhtdXMt
            dGVzdDEPMA0GA1UEAwwGcm9vdC1iMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE
            0Al+MpE6CpSCWpO4smFAVIOA2uteILg0K65ecJNpLYPCiCUHsys1xpCwCKDBb71J
            6m0y3qqxU/d0L1tQWhYCqKNTMFEwHQYDVR0OBBYEFFEvyWre0W5rqgWWHG6CT98V
            37cNMB8GA1UdIwQYMBaAFFEvyWre0W5rqgWWHG6CT98V37cNMA8GA1UdEwEB/wQF
            MAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgQoykgvUEuN6Oxu6Na9uHQX4RnOXZ083J
            BjZJo8x5kx0CICWggXlDcjnArUpov3cbg5sA20cA8cSM+FmXBCWMMxla
            -----END CERTIFICATE-----
            """;

    static final ServiceKey HELLOWORLD = new ServiceKey("sample", "helloworld");

    private Fixtures() {
    }

    static ClusterInfo cluster(String name, String network) {
        return new ClusterInfo(name, network, new Locality("region-" + name, "zone-" + name, ""),
                "127.0.0.1:15012");
    }

    static RegisterCluster register(String name, String network) {
        return new RegisterCluster(cluster(name, network));
    }

    /** A cluster state with {@code endpoints} helloworld endpoints and one east-west gateway. */
    static ClusterState state(String cluster, String network, int endpoints) {
        Locality locality = new Locality("region-" + cluster, "zone-" + cluster, "");
        MeshService service = new MeshService(HELLOWORLD, HELLOWORLD.hostname("cluster.local"),
                List.of(new ServicePort("http", 5000, 5000, "HTTP")), Map.of("app", "helloworld"),
                new LinkedHashSet<>(List.of("sample", "*", "istio-system")), false);
        List<Endpoint> list = new ArrayList<>();
        for (int i = 1; i <= endpoints; i++) {
            list.add(new Endpoint(HELLOWORLD, "127.0.1." + i, Map.of("http", 5000), true, locality, cluster,
                    network, "helloworld", "helloworld-v1-" + i, Map.of("app", "helloworld", "version", "v1")));
        }
        return new ClusterState(cluster, network, List.of(service), list,
                List.of(new NetworkGateway(network, cluster, "127.0.0.2", NetworkGateway.DEFAULT_PORT)));
    }

    static PublishClusterState publish(String cluster, String network, int endpoints) {
        return new PublishClusterState(state(cluster, network, endpoints));
    }
}
