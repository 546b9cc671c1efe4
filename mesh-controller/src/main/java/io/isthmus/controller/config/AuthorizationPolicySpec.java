package io.isthmus.controller.config;

import java.util.List;
import tools.jackson.databind.JsonNode;

/**
 * The spec of an Istio {@code AuthorizationPolicy} (security.istio.io v1/v1beta1), field for field
 * as Istio names them. Semantics (Istio's): a request is denied when a DENY policy matches it;
 * otherwise, when any ALLOW policy selects the workload, it is allowed only if one of them matches
 * it; with no ALLOW policy it is allowed. An ALLOW policy without rules matches nothing (denies
 * all), a rule {@code {}} matches everything. {@code CUSTOM} is rejected (no external authorizer);
 * {@code AUDIT} is accepted and does not change the decision.
 */
public record AuthorizationPolicySpec(
        WorkloadSelector selector,
        JsonNode targetRef,
        List<JsonNode> targetRefs,
        Action action,
        JsonNode provider,
        List<Rule> rules) {

    public enum Action {
        ALLOW, DENY, AUDIT, CUSTOM
    }

    public AuthorizationPolicySpec {
        targetRefs = Specs.list(targetRefs);
        rules = Specs.list(rules);
        action = action == null ? Action.ALLOW : action;
    }

    /** Matches when every present part matches: one of {@code from}, one of {@code to}, every {@code when}. */
    public record Rule(List<From> from, List<To> to, List<Condition> when) {

        public Rule {
            from = Specs.list(from);
            to = Specs.list(to);
            when = Specs.list(when);
        }
    }

    public record From(Source source) {}

    public record To(Operation operation) {}

    /** Every present field must match (a list: any of its values; a {@code not*} list: none of them). */
    public record Source(
            List<String> principals,
            List<String> notPrincipals,
            List<String> requestPrincipals,
            List<String> notRequestPrincipals,
            List<String> namespaces,
            List<String> notNamespaces,
            List<String> serviceAccounts,
            List<String> notServiceAccounts,
            List<String> ipBlocks,
            List<String> notIpBlocks,
            List<String> remoteIpBlocks,
            List<String> notRemoteIpBlocks) {

        public Source {
            principals = Specs.list(principals);
            notPrincipals = Specs.list(notPrincipals);
            requestPrincipals = Specs.list(requestPrincipals);
            notRequestPrincipals = Specs.list(notRequestPrincipals);
            namespaces = Specs.list(namespaces);
            notNamespaces = Specs.list(notNamespaces);
            serviceAccounts = Specs.list(serviceAccounts);
            notServiceAccounts = Specs.list(notServiceAccounts);
            ipBlocks = Specs.list(ipBlocks);
            notIpBlocks = Specs.list(notIpBlocks);
            remoteIpBlocks = Specs.list(remoteIpBlocks);
            notRemoteIpBlocks = Specs.list(notRemoteIpBlocks);
        }

        boolean isEmpty() {
            return principals.isEmpty() && notPrincipals.isEmpty() && requestPrincipals.isEmpty()
                    && notRequestPrincipals.isEmpty() && namespaces.isEmpty() && notNamespaces.isEmpty()
                    && serviceAccounts.isEmpty() && notServiceAccounts.isEmpty() && ipBlocks.isEmpty()
                    && notIpBlocks.isEmpty() && remoteIpBlocks.isEmpty() && notRemoteIpBlocks.isEmpty();
        }
    }

    public record Operation(
            List<String> hosts,
            List<String> notHosts,
            List<String> ports,
            List<String> notPorts,
            List<String> methods,
            List<String> notMethods,
            List<String> paths,
            List<String> notPaths) {

        public Operation {
            hosts = Specs.list(hosts);
            notHosts = Specs.list(notHosts);
            ports = Specs.list(ports);
            notPorts = Specs.list(notPorts);
            methods = Specs.list(methods);
            notMethods = Specs.list(notMethods);
            paths = Specs.list(paths);
            notPaths = Specs.list(notPaths);
        }

        boolean isEmpty() {
            return hosts.isEmpty() && notHosts.isEmpty() && ports.isEmpty() && notPorts.isEmpty()
                    && methods.isEmpty() && notMethods.isEmpty() && paths.isEmpty() && notPaths.isEmpty();
        }
    }

    /** {@code when}: the attribute {@code key} has one of {@code values} and none of {@code notValues}. */
    public record Condition(String key, List<String> values, List<String> notValues) {

        public Condition {
            values = Specs.list(values);
            notValues = Specs.list(notValues);
        }
    }
}
