package io.isthmus.controller.translate;

import static io.isthmus.controller.translate.Protos.pack;

import com.google.protobuf.UInt32Value;
import io.envoyproxy.envoy.config.route.v3.RetryPolicy;
import io.envoyproxy.envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate;
import io.envoyproxy.envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig;
import io.isthmus.controller.config.Durations;
import io.isthmus.controller.config.VirtualServiceSpec;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A route's {@code RetryPolicy} as pilot's {@code retry.ConvertPolicy} builds it: Istio's default
 * policy for a route without {@code retries} (and for the default route of a service no
 * VirtualService routes), overridden field by field by what {@code retries} sets.
 */
final class RetryPolicies {

    static final String DEFAULT_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";
    static final String PREVIOUS_HOSTS = "envoy.retry_host_predicates.previous_hosts";
    static final String PREVIOUS_PRIORITIES = "envoy.retry_priorities.previous_priorities";
    /** Pilot's: the priority load moves off attempted priorities every second attempt. */
    static final int PRIORITY_UPDATE_FREQUENCY = 2;

    private RetryPolicies() {}

    /**
     * Istio's default: 2 retries of connect failures, refused streams, gRPC unavailable/cancelled
     * and 503, preferring another host, unless the route hashes (consistent hashing wants the
     * same host again).
     */
    static RetryPolicy defaultPolicy(boolean hashed) {
        RetryPolicy.Builder policy = RetryPolicy.newBuilder()
                .setNumRetries(UInt32Value.of(2))
                .setRetryOn(DEFAULT_RETRY_ON)
                .addRetriableStatusCodes(503)
                .setHostSelectionRetryMaxAttempts(5);
        if (!hashed) {
            policy.addRetryHostPredicate(previousHosts());
        }
        return policy.build();
    }

    /**
     * The policy for a VirtualService route's {@code retries}: empty when it disables retries
     * ({@code attempts} absent or 0, as pilot reads the proto's 0), the default when
     * {@code retries} is absent.
     */
    static Optional<RetryPolicy> convert(VirtualServiceSpec.Retry in, boolean hashed) {
        RetryPolicy.Builder out = defaultPolicy(hashed).toBuilder();
        if (in == null) {
            return Optional.of(out.build());
        }
        if (in.attempts() == null || in.attempts() <= 0) {
            return Optional.empty();
        }
        out.setNumRetries(UInt32Value.of(in.attempts()));
        if (in.retryOn() != null && !in.retryOn().isBlank()) {
            List<String> on = new ArrayList<>();
            List<Integer> codes = new ArrayList<>();
            for (String token : in.retryOn().split(",")) {
                String t = token.trim();
                if (t.isEmpty()) {
                    continue;
                }
                if (isStatusCode(t)) {
                    codes.add(Integer.parseInt(t));
                } else {
                    on.add(t);
                }
            }
            // As pilot: numeric codes without retriable-status-codes would never fire; add it.
            if (!codes.isEmpty() && !on.contains("retriable-status-codes")) {
                on.add("retriable-status-codes");
            }
            out.setRetryOn(String.join(",", on)).clearRetriableStatusCodes().addAllRetriableStatusCodes(codes);
        }
        if (in.perTryTimeout() != null) {
            out.setPerTryTimeout(Durations.proto(Durations.parse(in.perTryTimeout())));
        }
        if (in.retryIgnorePreviousHosts() != null) {
            out.clearRetryHostPredicate();
            if (in.retryIgnorePreviousHosts()) {
                out.addRetryHostPredicate(previousHosts());
            }
        }
        if (Boolean.TRUE.equals(in.retryRemoteLocalities())) {
            out.setRetryPriority(RetryPolicy.RetryPriority.newBuilder()
                    .setName(PREVIOUS_PRIORITIES)
                    .setTypedConfig(pack(PreviousPrioritiesConfig.newBuilder()
                            .setUpdateFrequency(PRIORITY_UPDATE_FREQUENCY).build())));
        }
        if (in.backoff() != null) {
            out.setRetryBackOff(RetryPolicy.RetryBackOff.newBuilder()
                    .setBaseInterval(Durations.proto(Durations.parse(in.backoff()))));
        }
        return Optional.of(out.build());
    }

    /** Pilot counts a number as a status code when Go's {@code http.StatusText} knows it. */
    private static boolean isStatusCode(String token) {
        if (token.isEmpty() || token.length() > 3 || !token.chars().allMatch(Character::isDigit)) {
            return false;
        }
        int code = Integer.parseInt(token);
        return code >= 100 && code <= 599;
    }

    private static RetryPolicy.RetryHostPredicate previousHosts() {
        return RetryPolicy.RetryHostPredicate.newBuilder()
                .setName(PREVIOUS_HOSTS)
                .setTypedConfig(pack(PreviousHostsPredicate.getDefaultInstance()))
                .build();
    }
}
