package io.isthmus.controller.webhook;

import static org.assertj.core.api.Assertions.assertThat;

import io.isthmus.controller.ca.ServingCertificate;
import io.isthmus.trust.CertificateAuthority;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import javax.net.ssl.HttpsURLConnection;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The webhook over real HTTPS: the client trusts only the mesh root and checks the server's
 * name against {@code istiod.istio-system.svc}, as the API server does with the
 * ValidatingWebhookConfiguration's caBundle.
 */
class ValidationWebhookTest {

    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final CertificateAuthority ROOT = CertificateAuthority.createRoot("webhook-test", Duration.ofDays(2));

    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private ValidationWebhook webhook;
    private SSLContext tls;

    @BeforeEach
    void start() throws Exception {
        CertificateAuthority east = ROOT.createIntermediate("east", Duration.ofDays(1));
        ServingCertificate serving = new ServingCertificate(east, "cluster.local", Duration.ofHours(1),
                Clock.systemUTC());
        webhook = ValidationWebhook.start("127.0.0.1", 0, serving, registry);

        KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
        trust.load(null, null);
        trust.setCertificateEntry("root", ROOT.root());
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext tls = SSLContext.getInstance("TLS");
        tls.init(null, tmf.getTrustManagers(), null);
        this.tls = tls;
    }

    @AfterEach
    void stop() {
        webhook.close();
    }

    private static String review(String operation, String object) {
        return """
                {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                 "request": {"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "operation": "%s",
                   "kind": {"group": "networking.istio.io", "version": "v1", "kind": "VirtualService"},
                   "namespace": "sample", "name": "helloworld", "object": %s}}
                """.formatted(operation, object);
    }

    private static String virtualService(String http) {
        return """
                {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                 "metadata": {"name": "helloworld", "namespace": "sample"},
                 "spec": {"hosts": ["helloworld"], "http": %s}}
                """.formatted(http);
    }

    /** A status and body, as the API server sees them. */
    private record Reply(int statusCode, String body) {
    }

    private Reply post(String body) throws Exception {
        HttpsURLConnection connection = (HttpsURLConnection) URI.create("https://127.0.0.1:"
                + webhook.address().getPort() + ValidationWebhook.PATH).toURL().openConnection();
        connection.setSSLSocketFactory(tls.getSocketFactory());
        // The API server dials the webhook Service by name: the certificate must carry that name.
        connection.setHostnameVerifier((host, session) -> {
            try {
                X509Certificate leaf = (X509Certificate) session.getPeerCertificates()[0];
                return leaf.getSubjectAlternativeNames().stream()
                        .anyMatch(san -> ServingCertificate.DNS_NAME.equals(san.get(1)));
            } catch (Exception e) {
                return false;
            }
        });
        connection.setRequestMethod("POST");
        connection.setDoOutput(true);
        connection.setRequestProperty("Content-Type", "application/json");
        try (OutputStream out = connection.getOutputStream()) {
            out.write(body.getBytes(StandardCharsets.UTF_8));
        }
        int status = connection.getResponseCode();
        try (InputStream in = status < 400 ? connection.getInputStream() : connection.getErrorStream()) {
            return new Reply(status, new String(in.readAllBytes(), StandardCharsets.UTF_8));
        }
    }

    @Test
    void allowsAValidVirtualServiceAndDeniesAnInvalidOneNamingTheField() throws Exception {
        Reply ok = post(review("CREATE", virtualService(
                "[{\"route\": [{\"destination\": {\"host\": \"helloworld\", \"subset\": \"v1\"}, \"weight\": 80},"
                        + " {\"destination\": {\"host\": \"helloworld\", \"subset\": \"v2\"}, \"weight\": 20}]}]")));
        assertThat(ok.statusCode()).isEqualTo(200);
        JsonNode allowed = JSON.readTree(ok.body()).path("response");
        assertThat(allowed.path("uid").asString()).isEqualTo("705ab4f5-6393-11e8-b7cc-42010a800002");
        assertThat(allowed.path("allowed").asBoolean()).isTrue();

        Reply bad = post(review("UPDATE", virtualService(
                "[{\"route\": [{\"destination\": {\"host\": \"helloworld\"}, \"weight\": 80},"
                        + " {\"destination\": {\"host\": \"helloworld\"}, \"weight\": 30}]}]")));
        JsonNode denied = JSON.readTree(bad.body()).path("response");
        assertThat(denied.path("allowed").asBoolean()).isFalse();
        assertThat(denied.path("status").path("code").asInt()).isEqualTo(400);
        assertThat(denied.path("status").path("message").asString())
                .startsWith("VirtualService sample/helloworld: ").contains("weight");

        assertThat(registry.counter("isthmus.webhook.reviews", "result", "allowed").count()).isEqualTo(1);
        assertThat(registry.counter("isthmus.webhook.reviews", "result", "denied").count()).isEqualTo(1);
    }

    @Test
    void deniesAnInvalidRateLimitPolicyNamingTheFieldAndTheFix() throws Exception {
        String object = """
                {"apiVersion": "policy.isthmus.io/v1alpha1", "kind": "RateLimitPolicy",
                 "metadata": {"name": "helloworld", "namespace": "sample"},
                 "spec": {"rules": [{"limit": {"requests": 10, "unit": "SECOND", "burst": 5}}]}}
                """;
        Reply bad = post(review("CREATE", object).replace(
                "\"group\": \"networking.istio.io\", \"version\": \"v1\", \"kind\": \"VirtualService\"",
                "\"group\": \"policy.isthmus.io\", \"version\": \"v1alpha1\", \"kind\": \"RateLimitPolicy\""));
        JsonNode denied = JSON.readTree(bad.body()).path("response");
        assertThat(denied.path("allowed").asBoolean()).as(bad.body()).isFalse();
        assertThat(denied.path("status").path("message").asString())
                .startsWith("RateLimitPolicy sample/helloworld: ")
                .contains("spec.rules[0].limit.burst: 5 is below requests 10", "expected: >= requests");
    }

    @Test
    void deletionsAreAllowedWithoutAnObject() throws Exception {
        Reply response = post("""
                {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                 "request": {"uid": "u-1", "operation": "DELETE",
                   "kind": {"group": "networking.istio.io", "version": "v1", "kind": "VirtualService"},
                   "namespace": "sample", "name": "helloworld"}}
                """);
        assertThat(JSON.readTree(response.body()).path("response").path("allowed").asBoolean()).isTrue();
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "not JSON | {\"apiVersion\": | body is not JSON",
            "not a review | {\"kind\": \"Pod\"} | kind: 'Pod' (expected: AdmissionReview)",
            "no uid | {\"kind\": \"AdmissionReview\", \"request\": {\"operation\": \"CREATE\", \"object\": {}}} | request.uid: missing",
            "no object | {\"kind\": \"AdmissionReview\", \"request\": {\"uid\": \"u\", \"operation\": \"CREATE\"}} | request.object: missing",
    })
    void aRequestThatIsNotAReviewIsRefusedWithItsReasonAndCounted(String name, String body, String reason)
            throws Exception {
        Reply response = post(body);
        assertThat(response.statusCode()).isEqualTo(400);
        assertThat(JSON.readTree(response.body()).path("error").asString()).contains(reason);
        assertThat(registry.counter("isthmus.webhook.reviews", "result", "bad_request").count()).isEqualTo(1);
    }

    @Test
    void anOversizedBodyIsRefused() throws Exception {
        Reply response = post("x".repeat(ValidationWebhook.MAX_BODY_BYTES + 10));
        assertThat(response.statusCode()).isEqualTo(413);
    }
}
