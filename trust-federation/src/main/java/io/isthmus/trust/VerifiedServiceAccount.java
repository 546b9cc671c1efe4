package io.isthmus.trust;

import static java.util.Objects.requireNonNull;

/**
 * The Kubernetes identity a verified service-account token proves. {@code podName} is empty when
 * the token is not bound to a pod.
 */
public record VerifiedServiceAccount(String namespace, String serviceAccount, String podName) {

    public VerifiedServiceAccount {
        requireNonNull(namespace, "namespace");
        requireNonNull(serviceAccount, "serviceAccount");
        requireNonNull(podName, "podName");
    }

    /** The SPIFFE identity of this service account in {@code trustDomain}. */
    public SpiffeId spiffeId(String trustDomain) {
        return SpiffeId.of(trustDomain, namespace, serviceAccount);
    }
}
