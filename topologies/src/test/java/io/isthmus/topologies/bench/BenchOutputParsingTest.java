package io.isthmus.topologies.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import org.junit.jupiter.api.Test;

/** What the bench reads from wrk, h2load and /proc: real outputs of those tools. */
class BenchOutputParsingTest {

  private static final String WRK = """
      Running 10s test @ http://127.181.2.1:15001/
        1 threads and 32 connections
        Thread Stats   Avg      Stdev     Max   +/- Stdev
          Latency     1.52ms    2.01ms  48.30ms   93.12%
          Req/Sec    18.46k     1.20k   20.11k    71.00%
        Latency Distribution
           50%  812.00us
           75%    1.36ms
           90%    2.43ms
           99%    1.02s
        183731 requests in 10.00s, 33.12MB read
        Socket errors: connect 0, read 2, write 0, timeout 3
        Non-2xx or 3xx responses: 7
      Requests/sec:  18373.10
      Transfer/sec:      3.31MB
      """;

  @Test
  void wrkReportGivesRatePercentilesInMicrosAndEveryKindOfError() {
    LoadResult r = WrkOutput.parse("isthmus-plain", WRK);

    assertThat(r.requestsPerSecond()).isEqualTo(18373.10);
    assertThat(r.requests()).isEqualTo(183731);
    assertThat(r.p50Micros()).isEqualTo(812.0);
    assertThat(r.p90Micros()).isEqualTo(2430.0, within(1e-6));
    assertThat(r.p99Micros()).isEqualTo(1_020_000.0, within(1e-6));
    assertThat(r.errors()).isEqualTo(2 + 3 + 7);
    assertThat(r.cpuMicrosPerRequest()).isNaN();
  }

  @Test
  void wrkWithoutLatencyDistributionOrThatFailedIsAnErrorShowingItsOutput() {
    String noLatency = WRK.replaceAll("(?s)  Latency Distribution.*?99%\\s+1.02s\n", "");
    assertThatThrownBy(() -> WrkOutput.parse("direct", noLatency))
        .hasMessageContaining("direct: wrk printed no latency distribution");
    assertThatThrownBy(() -> WrkOutput.parse("direct", "unable to connect to 127.0.0.1:1"))
        .hasMessageContaining("direct: wrk printed no request count or rate")
        .hasMessageContaining("unable to connect");
  }

  @Test
  void h2loadLogGivesNearestRankPercentilesAndCountsNon2xxAsErrors() {
    StringBuilder log = new StringBuilder();
    for (int i = 1; i <= 100; i++) {
      log.append(1764230000000000L + i).append('\t').append(i == 100 ? 503 : 200).append('\t')
          .append(i * 10).append('\n');
    }

    LoadResult r = H2loadLog.parse("direct-tls", log.toString(), 10);

    assertThat(r.requests()).isEqualTo(100);
    assertThat(r.requestsPerSecond()).isEqualTo(10.0);
    assertThat(r.p50Micros()).isEqualTo(500);
    assertThat(r.p90Micros()).isEqualTo(900);
    assertThat(r.p99Micros()).isEqualTo(990);
    assertThat(r.errors()).isEqualTo(1);
  }

  @Test
  void h2loadLogThatIsEmptyOrMalformedIsRefused() {
    assertThatThrownBy(() -> H2loadLog.parse("x", "\n", 1)).hasMessageContaining("no request");
    assertThatThrownBy(() -> H2loadLog.parse("x", "1\t200\n", 1))
        .hasMessageContaining("line 1").hasMessageContaining("tab-separated");
    assertThatThrownBy(() -> H2loadLog.parse("x", "1\tok\t5\n", 1))
        .hasMessageContaining("numeric status");
  }

  @Test
  void procStatFieldsAreReadAfterTheCommandNameEvenWithSpacesInIt() {
    String stat = "4242 (java main (x)) S 1 4242 4242 0 -1 4194560 9 0 0 0 1234 567 0 0 20 0 31 0"
        + " 100 1000 200 18446744073709551615";
    assertThat(ProcessStats.cpuTicks(stat, 4242)).isEqualTo(1234 + 567);
    assertThat(ProcessStats.rssKib("Name:\tjava\nVmRSS:\t  204800 kB\nThreads:\t31\n", 4242))
        .isEqualTo(204800);
  }

  @Test
  void thisProcessHasCpuTimeAndMemory() {
    ProcessStats stats = ProcessStats.system();
    List<Long> self = List.of(ProcessHandle.current().pid());

    assertThat(stats.cpuMicros(self)).isPositive();
    assertThat(stats.rssMiB(self)).isGreaterThan(10);
  }
}
