package io.isthmus.proxy.internal.dns;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.isthmus.trust.nds.NameTable;
import java.net.InetAddress;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** istio-agent's lookup table, as a table: this query from a proxy in {@code sample} → that answer. */
class NameLookupTest {

  private static final NameTable TABLE = NameTable.newBuilder()
      .putTable("helloworld.sample.svc.cluster.local", kube("240.240.0.1", "helloworld", "sample"))
      .putTable("reviews.bookinfo.svc.cluster.local", kube("10.96.0.7", "reviews", "bookinfo"))
      .putTable("dual.sample.svc.cluster.local",
          kube("10.96.0.8", "dual", "sample").toBuilder().addIps("fd00::8").build())
      .putTable("api.example.com", external("240.240.0.9"))
      .putTable("*.wild.example.com", external("240.240.0.10"))
      .putTable("remote.sample.svc.other.domain", kube("10.1.0.1", "remote", "sample"))
      .build();

  private static final NameLookup LOOKUP = NameLookup.of(TABLE, "sample", "cluster.local",
      List.of("sample.svc.cluster.local", "svc.cluster.local", "cluster.local"));

  @ParameterizedTest(name = "{0} {1} → {2}")
  @CsvSource(delimiter = '|', textBlock = """
      helloworld.sample.svc.cluster.local. | 1  | 240.240.0.1
      helloworld.sample.svc.cluster.local  | 1  | 240.240.0.1
      HELLOWORLD.Sample.Svc.Cluster.Local. | 1  | 240.240.0.1
      helloworld.                          | 1  | 240.240.0.1
      helloworld.sample.                   | 1  | 240.240.0.1
      helloworld.sample.svc.               | 1  | 240.240.0.1
      helloworld.sample.svc.cluster.local. | 28 | NODATA
      helloworld.                          | 28 | NODATA
      reviews.bookinfo.                    | 1  | 10.96.0.7
      reviews.bookinfo.svc.                | 1  | 10.96.0.7
      reviews.                             | 1  | FORWARD
      dual.                                | 1  | 10.96.0.8
      dual.                                | 28 | fd00:0:0:0:0:0:0:8
      api.example.com.                     | 1  | 240.240.0.9
      api.example.com.                     | 28 | NODATA
      a.wild.example.com.                  | 1  | 240.240.0.10
      a.b.wild.example.com.                | 1  | 240.240.0.10
      wild.example.com.                    | 1  | FORWARD
      example.com.                         | 1  | FORWARD
      remote.sample.svc.other.domain.      | 1  | 10.1.0.1
      remote.sample.                       | 1  | FORWARD
      helloworld.sample.svc.cluster.local. | 33 | FORWARD
      helloworld.                          | 12 | FORWARD
      """)
  void answers(String name, int type, String expected) {
    NameLookup.Result result = LOOKUP.lookup(name, type);
    if (expected.equals("FORWARD")) {
      assertThat(result).isInstanceOf(NameLookup.NotOurs.class);
      return;
    }
    assertThat(result).isInstanceOf(NameLookup.Answer.class);
    NameLookup.Answer answer = (NameLookup.Answer) result;
    assertThat(answer.cname()).isEmpty();
    String ips = answer.addresses().stream().map(InetAddress::getHostAddress)
        .collect(Collectors.joining(","));
    assertThat(ips.isEmpty() ? "NODATA" : ips).isEqualTo(expected);
  }

  @ParameterizedTest(name = "{0} → CNAME {1}")
  @CsvSource(delimiter = '|', textBlock = """
      helloworld.sample.svc.cluster.local.sample.svc.cluster.local. | helloworld.sample.svc.cluster.local.
      helloworld.sample.sample.svc.cluster.local.                   | helloworld.sample.svc.cluster.local.
      reviews.bookinfo.sample.svc.cluster.local.                    | reviews.bookinfo.svc.cluster.local.
      api.example.com.sample.svc.cluster.local.                     | api.example.com.
      """)
  void theFirstSearchDomainExpansionIsACname(String name, String target) {
    NameLookup.Answer answer = (NameLookup.Answer) LOOKUP.lookup(name, NameLookup.TYPE_A);
    assertThat(answer.cname()).contains(target);
    assertThat(answer.name()).isEqualTo(target);
    assertThat(answer.addresses()).hasSize(1);
  }

  @Test
  void theSecondSearchDomainIsNotOurs() {
    // Istio precomputes only the first search domain: a resolver asks it first.
    assertThat(LOOKUP.lookup("helloworld.svc.cluster.local.", NameLookup.TYPE_A))
        .isInstanceOf(NameLookup.NotOurs.class);
  }

  @Test
  void anEmptyTableForwardsEverything() {
    assertThat(NameLookup.EMPTY.lookup("helloworld.", NameLookup.TYPE_A))
        .isInstanceOf(NameLookup.NotOurs.class);
  }

  @Test
  void resolvConfGivesNameserversAndTheLastSearchLine() {
    ResolvConf conf = ResolvConf.parse("""
        # written by the kubelet
        domain ignored.example
        search sample.svc.cluster.local svc.cluster.local cluster.local
        nameserver 10.96.0.10
        nameserver fd00::a
        options ndots:5
        """, "resolv.conf");
    assertThat(conf.nameservers()).extracting(a -> a.getHostString() + ":" + a.getPort())
        .containsExactly("10.96.0.10:53", "fd00:0:0:0:0:0:0:a:53");
    assertThat(conf.search()).containsExactly("sample.svc.cluster.local.", "svc.cluster.local.",
        "cluster.local.");
    assertThatThrownBy(() -> ResolvConf.parse("nameserver dns.example\n", "resolv.conf"))
        .hasMessage("resolv.conf:1: nameserver 'dns.example' (expected: an IPv4 or IPv6 address)");
  }

  private static NameTable.NameInfo kube(String ip, String shortName, String namespace) {
    return NameTable.NameInfo.newBuilder().addIps(ip).setRegistry("Kubernetes")
        .setShortname(shortName).setNamespace(namespace).build();
  }

  private static NameTable.NameInfo external(String ip) {
    return NameTable.NameInfo.newBuilder().addIps(ip).setRegistry("External").build();
  }
}
