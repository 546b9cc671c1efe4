package io.isthmus.e2e;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;

/** What the e2e tests share besides {@link ConfigDumps}: admin-port reads and helloworld's Istio objects. */
final class E2eSupport {

    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    private E2eSupport() {}

    /** The body of a GET that must answer 200 within 5 s; anything else fails the test naming the URL. */
    static String get(String url) {
        try {
            HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(url))
                    .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() != 200) {
                throw new AssertionError("GET " + url + ": HTTP " + r.statusCode() + " (expected: 200)");
            }
            return r.body();
        } catch (IOException e) {
            throw new AssertionError("GET " + url + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    /** A networking.istio.io/v1 object named sample/helloworld with this spec. */
    static GenericKubernetesResource helloworldObject(String kind, Map<String, Object> spec) {
        return istioObject(kind, "helloworld", spec);
    }

    /** A networking.istio.io/v1 object named sample/{@code name} with this spec. */
    static GenericKubernetesResource istioObject(String kind, String name, Map<String, Object> spec) {
        return new GenericKubernetesResourceBuilder()
                .withApiVersion("networking.istio.io/v1").withKind(kind)
                .withNewMetadata().withName(name).withNamespace("sample").endMetadata()
                .withAdditionalProperties(Map.of("spec", spec))
                .build();
    }
}
