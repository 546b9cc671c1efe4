package io.isthmus.proxy.internal.dns;

import static java.util.Objects.requireNonNull;

import io.netty.util.NetUtil;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What the DNS proxy takes from the pod's {@code /etc/resolv.conf}: the {@code nameserver}s to
 * forward to (port 53) and the {@code search} domains. Lines it does not use are ignored, as the
 * C library ignores them; a malformed nameserver is an error naming the line.
 */
record ResolvConf(List<InetSocketAddress> nameservers, List<String> search) {

  ResolvConf {
    nameservers = List.copyOf(requireNonNull(nameservers, "nameservers"));
    search = List.copyOf(requireNonNull(search, "search"));
  }

  static ResolvConf read(Path file) {
    requireNonNull(file, "file");
    try {
      return parse(Files.readString(file), file.toString());
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read " + file + " (" + e
          + "; expected: the pod's resolv.conf, or give the upstream resolvers with --dns-upstreams)", e);
    }
  }

  static ResolvConf parse(String text, String source) {
    List<InetSocketAddress> servers = new ArrayList<>();
    List<String> search = new ArrayList<>();
    String[] lines = text.split("\n");
    for (int i = 0; i < lines.length; i++) {
      String line = lines[i].strip();
      if (line.isEmpty() || line.startsWith("#") || line.startsWith(";")) {
        continue;
      }
      String[] words = line.split("\\s+");
      switch (words[0]) {
        case "nameserver" -> {
          // A zone index (fe80::1%eth0) is kept by the JDK's parser; Netty's check does not take it.
          String ip = words.length > 1 ? words[1] : "";
          String bare = ip.contains("%") ? ip.substring(0, ip.indexOf('%')) : ip;
          if (!NetUtil.isValidIpV4Address(bare) && !NetUtil.isValidIpV6Address(bare)) {
            throw new IllegalArgumentException(source + ":" + (i + 1) + ": nameserver '" + ip
                + "' (expected: an IPv4 or IPv6 address)");
          }
          servers.add(new InetSocketAddress(ip, 53));
        }
        // The last search (or domain) line wins, as in the C library.
        case "search", "domain" -> {
          search.clear();
          for (int w = 1; w < words.length; w++) {
            search.add(DnsNames.canonical(words[w]));
          }
        }
        default -> { }
      }
    }
    return new ResolvConf(servers, search);
  }
}
