package io.isthmus.proxy.internal.dns;

import static io.isthmus.proxy.internal.dns.DnsTestClient.decode;
import static io.isthmus.proxy.internal.dns.DnsTestClient.query;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.isthmus.proxy.DnsOptions;
import io.isthmus.proxy.testing.FakeDnsServer;
import io.isthmus.trust.nds.NameTable;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.buffer.ByteBufUtil;
import io.netty.handler.codec.dns.DnsRawRecord;
import io.netty.handler.codec.dns.DnsRecord;
import io.netty.handler.codec.dns.DnsRecordType;
import io.netty.handler.codec.dns.DnsResponse;
import io.netty.handler.codec.dns.DnsResponseCode;
import io.netty.handler.codec.dns.DnsSection;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The DNS proxy over real loopback sockets: a stub client on UDP and TCP, the proxy with a name
 * table, and a real upstream DNS server (Netty's codec) for the names outside the mesh.
 */
class DnsServerLoopbackTest {

  private static final NameTable TABLE = NameTable.newBuilder()
      .putTable("helloworld.sample.svc.cluster.local", info("240.240.0.1", "helloworld", "sample"))
      .putTable("reviews.bookinfo.svc.cluster.local", info("10.96.0.7", "reviews", "bookinfo"))
      .putTable("db.example.internal", NameTable.NameInfo.newBuilder().addIps("240.240.0.9")
          .setRegistry("External").build())
      .build();

  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private FakeDnsServer upstream;
  private DnsServer dns;

  @BeforeEach
  void start() throws Exception {
    upstream = new FakeDnsServer();
    // A TTL no answer of our own has, so a relayed answer is recognisable.
    upstream.ttlSeconds(1234);
    upstream.set("example.com", "93.184.216.34");
    dns = DnsServer.start(options(List.of(upstream.address())), "sample", "cluster.local",
        registry);
    dns.update(TABLE);
  }

  @AfterEach
  void stop() {
    // Null when start() failed: its error is the one to report, not a NullPointerException here.
    if (dns != null) {
      dns.close();
    }
    if (upstream != null) {
      upstream.close();
    }
  }

  @Test
  void meshNamesAreAnsweredFromTheTableOverUdpAndTcp() throws Exception {
    for (boolean tcp : new boolean[] {false, true}) {
      for (String name : List.of("helloworld.sample.svc.cluster.local.", "helloworld.",
          "helloworld.sample.", "helloworld.sample.svc.", "HelloWorld.Sample.svc.cluster.local.")) {
        DnsResponse response = ask(tcp, 7, name, DnsRecordType.A);
        try {
          assertThat(response.code()).as(name).isEqualTo(DnsResponseCode.NOERROR);
          assertThat(response.isAuthoritativeAnswer()).isTrue();
          assertThat(response.id()).isEqualTo(7);
          assertThat(records(response)).as(name)
              .containsExactly("A " + name.toLowerCase(java.util.Locale.ROOT) + " 30 240.240.0.1");
        } finally {
          response.release();
        }
      }
    }
    assertThat(upstream.questions()).isEmpty();
    assertThat(registry.get("isthmus_dns_table_answers").counter().count()).isEqualTo(10);
  }

  @Test
  void theFirstSearchDomainIsACnameToTheHost() throws Exception {
    DnsResponse response = ask(false, 1,
        "helloworld.sample.svc.cluster.local.sample.svc.cluster.local.", DnsRecordType.A);
    try {
      assertThat(records(response)).containsExactly(
          "CNAME helloworld.sample.svc.cluster.local.sample.svc.cluster.local. 30"
              + " helloworld.sample.svc.cluster.local.",
          "A helloworld.sample.svc.cluster.local. 30 240.240.0.1");
    } finally {
      response.release();
    }
  }

  @Test
  void aaaaOfAnIpv4OnlyHostIsNodataNotNxdomain() throws Exception {
    DnsResponse response = ask(false, 2, "helloworld.sample.svc.cluster.local.",
        DnsRecordType.AAAA);
    try {
      assertThat(response.code()).isEqualTo(DnsResponseCode.NOERROR);
      assertThat(response.isAuthoritativeAnswer()).isTrue();
      assertThat(response.count(DnsSection.ANSWER)).isZero();
    } finally {
      response.release();
    }
    assertThat(upstream.questions()).isEmpty();
  }

  @Test
  void otherNamesAreForwardedAndTheirAnswerRelayedUnchanged() throws Exception {
    for (boolean tcp : new boolean[] {false, true}) {
      byte[] answer = tcp ? DnsTestClient.tcp(dns.address(), query(9, "example.com.", DnsRecordType.A))
          : DnsTestClient.udp(dns.address(), query(9, "example.com.", DnsRecordType.A));
      assertThat(answer).isNotNull();
      // Byte for byte what the upstream sent.
      assertThat(DnsTestClient.hex(answer)).isEqualTo(upstream.sentHex().get(upstream.sentHex().size() - 1));
      DnsResponse response = decode(answer);
      try {
        assertThat(records(response)).containsExactly("A example.com. 1234 93.184.216.34");
      } finally {
        response.release();
      }
    }
    // A bare name of another namespace is not the proxy's: upstream says NXDOMAIN.
    DnsResponse other = ask(false, 3, "reviews.", DnsRecordType.A);
    try {
      assertThat(other.code()).isEqualTo(DnsResponseCode.NXDOMAIN);
    } finally {
      other.release();
    }
    assertThat(upstream.questions()).containsExactly("example.com. A", "example.com. A", "reviews. A");
    assertThat(registry.get("dns_upstream_requests").counter().count()).isEqualTo(3);
    assertThat(registry.get("dns_requests").counter().count()).isEqualTo(3);
    assertThat(registry.get("dns_upstream_request_duration_seconds").summary().count()).isEqualTo(3);
  }

  @Test
  void malformedMessagesAreCountedAndDropped() throws Exception {
    // No answer is the answer: wait less for it than for a real one (every query below is
    // handled in order on one event loop, so the counter check after them sees all three).
    assertThat(DnsTestClient.udp(dns.address(), new byte[] {1, 2, 3}, 300)).isNull();
    byte[] response = query(5, "helloworld.", DnsRecordType.A);
    response[2] |= (byte) 0x80; // QR=1: an answer, not a query
    assertThat(DnsTestClient.udp(dns.address(), response, 300)).isNull();
    byte[] badQuestion = query(6, "helloworld.", DnsRecordType.A);
    badQuestion[12] = 63; // a label length running past the end
    assertThat(DnsTestClient.udp(dns.address(), java.util.Arrays.copyOf(badQuestion, 20), 300))
        .isNull();
    // Counted on the proxy's loop: a drop has no answer to wait for, so the count is awaited.
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(
        registry.get("isthmus_dns_malformed_queries").tag("protocol", "udp").counter().count())
        .isEqualTo(3));
    DnsResponse ok = ask(false, 8, "helloworld.", DnsRecordType.A);
    try {
      assertThat(ok.count(DnsSection.ANSWER)).isEqualTo(1);
    } finally {
      ok.release();
    }
  }

  @Test
  void aSilentUpstreamIsSkippedAndNoneAnsweringIsServfail() throws Exception {
    try (DatagramSocket silent = new DatagramSocket(0, InetAddress.getLoopbackAddress())) {
      InetSocketAddress deaf = new InetSocketAddress("127.0.0.1", silent.getLocalPort());
      dns.close();
      dns = DnsServer.start(options(List.of(deaf, upstream.address())), "sample", "cluster.local",
          registry);
      DnsResponse second = ask(false, 4, "example.com.", DnsRecordType.A);
      try {
        assertThat(records(second)).containsExactly("A example.com. 1234 93.184.216.34");
      } finally {
        second.release();
      }
      assertThat(registry.get("dns_upstream_failures").counter().count()).isEqualTo(1);

      dns.close();
      dns = DnsServer.start(options(List.of(deaf)), "sample", "cluster.local", registry);
      DnsResponse failed = ask(true, 5, "example.com.", DnsRecordType.A);
      try {
        assertThat(failed.code()).isEqualTo(DnsResponseCode.SERVFAIL);
        assertThat(failed.id()).isEqualTo(5);
      } finally {
        failed.release();
      }
    }
  }

  @Test
  void aNewTableAppliesToTheNextQuery() throws Exception {
    dns.update(NameTable.newBuilder()
        .putTable("helloworld.sample.svc.cluster.local", info("240.240.0.2", "helloworld", "sample"))
        .build());
    DnsResponse response = ask(false, 1, "helloworld.", DnsRecordType.A);
    try {
      assertThat(records(response)).containsExactly("A helloworld. 30 240.240.0.2");
    } finally {
      response.release();
    }
    await().atMost(Duration.ofSeconds(30)).until(() -> upstream.questions().isEmpty());
  }

  private DnsOptions options(List<InetSocketAddress> upstreams) {
    return DnsOptions.enabledOn(new InetSocketAddress("127.0.0.1", 0)).withUpstreams(upstreams)
        .withSearchDomains(List.of("sample.svc.cluster.local", "svc.cluster.local", "cluster.local"))
        // Long enough for the in-process upstream on a loaded machine; the silent one costs it.
        .withUpstreamTimeout(Duration.ofSeconds(2));
  }

  private DnsResponse ask(boolean tcp, int id, String name, DnsRecordType type) throws Exception {
    byte[] message = query(id, name, type);
    byte[] answer = tcp ? DnsTestClient.tcp(dns.address(), message)
        : DnsTestClient.udp(dns.address(), message);
    assertThat(answer).as("an answer to " + name).isNotNull();
    return decode(answer);
  }

  static List<String> records(DnsResponse response) throws Exception {
    List<String> out = new ArrayList<>();
    for (int i = 0; i < response.count(DnsSection.ANSWER); i++) {
      DnsRecord record = response.recordAt(DnsSection.ANSWER, i);
      DnsRawRecord raw = (DnsRawRecord) record;
      String value;
      if (record.type() == DnsRecordType.CNAME) {
        value = io.netty.handler.codec.dns.DefaultDnsRecordDecoder.decodeName(raw.content().duplicate());
      } else {
        value = InetAddress.getByAddress(ByteBufUtil.getBytes(raw.content())).getHostAddress();
      }
      out.add(record.type().name() + " " + record.name() + " " + record.timeToLive() + " " + value);
    }
    return out;
  }

  private static NameTable.NameInfo info(String ip, String shortName, String namespace) {
    return NameTable.NameInfo.newBuilder().addIps(ip).setRegistry("Kubernetes")
        .setShortname(shortName).setNamespace(namespace).build();
  }
}
