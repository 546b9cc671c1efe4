package io.isthmus.topologies;

import java.util.regex.Pattern;

/** Checks shared by the topology records; messages name the field and the expected form. */
final class Names {

    private static final Pattern DNS_LABEL = Pattern.compile("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?");
    private static final Pattern LOCALITY_PART = Pattern.compile("[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?");

    private Names() {}

    static void requireDnsLabel(String field, String value) {
        if (value == null) {
            throw new IllegalArgumentException(field + ": missing (expected: a DNS label such as 'east')");
        }
        if (!DNS_LABEL.matcher(value).matches()) {
            throw new IllegalArgumentException(field + ": '" + value
                    + "' (expected: a DNS label: lower-case letters, digits and '-', at most 63 characters)");
        }
    }

    static void requireLocalityPart(String field, String value, boolean mayBeEmpty) {
        if (value == null || value.isEmpty()) {
            if (mayBeEmpty && value != null) {
                return;
            }
            throw new IllegalArgumentException(field + ": missing (expected: a name such as 'us-east-1a')");
        }
        if (!LOCALITY_PART.matcher(value).matches()) {
            throw new IllegalArgumentException(field + ": '" + value
                    + "' (expected: letters, digits, '-', '_' or '.', no '/')");
        }
    }
}
