package io.isthmus.controller.config;

import static java.util.Objects.requireNonNull;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.regex.Pattern;

/**
 * An IP block as Istio writes it ({@code 10.1.0.0/16}, {@code 10.1.2.3} for a /32, IPv6 alike),
 * parsed without any name lookup.
 *
 * @param address   the address as written (before the slash)
 * @param prefixLen the prefix length; the full address length when none is written
 */
public record Cidr(String address, int prefixLen) {

    private static final Pattern IPV4 = Pattern.compile("(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})");

    public Cidr {
        requireNonNull(address, "address");
    }

    public static Cidr parse(String text) {
        if (text == null || text.isBlank()) {
            throw new IllegalArgumentException("empty (expected: an IP address or CIDR block, e.g. 10.0.0.0/8)");
        }
        String trimmed = text.trim();
        int slash = trimmed.indexOf('/');
        String address = slash < 0 ? trimmed : trimmed.substring(0, slash);
        int max;
        var v4 = IPV4.matcher(address);
        if (v4.matches()) {
            for (int i = 1; i <= 4; i++) {
                if (Integer.parseInt(v4.group(i)) > 255) {
                    throw bad(text);
                }
            }
            max = 32;
        } else if (address.contains(":") && address.matches("[0-9a-fA-F:.]+")) {
            try {
                // A literal with ':' is never looked up by name.
                InetAddress.getByName(address);
            } catch (UnknownHostException e) {
                throw bad(text);
            }
            max = 128;
        } else {
            throw bad(text);
        }
        int len = max;
        if (slash >= 0) {
            try {
                len = Integer.parseInt(trimmed.substring(slash + 1));
            } catch (NumberFormatException e) {
                throw bad(text);
            }
            if (len < 0 || len > max) {
                throw bad(text);
            }
        }
        return new Cidr(address, len);
    }

    private static IllegalArgumentException bad(String text) {
        return new IllegalArgumentException("'" + text + "' (expected: an IP address or CIDR block, e.g. 10.0.0.0/8"
                + " or 2001:db8::/32)");
    }
}
