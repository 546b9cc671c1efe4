package io.isthmus.proxy.policy;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import com.google.protobuf.BoolValue;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption.HeaderAppendAction;
import io.envoyproxy.envoy.extensions.filters.common.fault.v3.FaultDelay;
import io.envoyproxy.envoy.extensions.filters.http.fault.v3.FaultAbort;
import io.envoyproxy.envoy.extensions.filters.http.fault.v3.HTTPFault;
import io.envoyproxy.envoy.type.v3.FractionalPercent;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class HeaderMutationAndFaultTest {

  private static HeaderValueOption add(String name, String value) {
    return HeaderValueOption.newBuilder()
        .setHeader(HeaderValue.newBuilder().setKey(name).setValue(value)).build();
  }

  @Test
  void removalsRunFirstThenEachAppendActionAsEnvoyDefinesIt() {
    HeaderMutation mutation = HeaderMutation.of(List.of(
        add("x-append", "2"),
        add("x-set", "new").toBuilder().setAppend(BoolValue.of(false)).build(),
        add("x-if-absent", "kept").toBuilder()
            .setAppendAction(HeaderAppendAction.ADD_IF_ABSENT).build(),
        add("x-overwrite-if-exists", "no").toBuilder()
            .setAppendAction(HeaderAppendAction.OVERWRITE_IF_EXISTS).build(),
        add("x-removed", "re-added")),
        List.of("x-removed", "x-secret"), "route.request_headers");
    HttpHeaders headers = new DefaultHttpHeaders()
        .add("x-append", "1").add("x-set", "old").add("x-if-absent", "original")
        .add("x-removed", "gone").add("x-secret", "s");

    mutation.apply(headers);

    assertThat(headers.getAll("x-append")).containsExactly("1", "2");
    assertThat(headers.getAll("x-set")).containsExactly("new");
    assertThat(headers.getAll("x-if-absent")).containsExactly("original");
    assertThat(headers.contains("x-overwrite-if-exists")).isFalse();
    assertThat(headers.getAll("x-removed")).containsExactly("re-added");
    assertThat(headers.contains("x-secret")).isFalse();
  }

  @Test
  void faultPercentagesAreDrawnFromTheInjectedGenerator() {
    HTTPFault fault = HTTPFault.newBuilder()
        .setDelay(FaultDelay.newBuilder()
            .setFixedDelay(com.google.protobuf.Duration.newBuilder().setSeconds(2))
            .setPercentage(FractionalPercent.newBuilder().setNumerator(10)))
        .setAbort(FaultAbort.newBuilder().setHttpStatus(503)
            .setPercentage(FractionalPercent.newBuilder().setNumerator(2500)
                .setDenominator(FractionalPercent.DenominatorType.TEN_THOUSAND)))
        .build();
    FaultPolicy policy = FaultPolicy.of(Map.of(FaultPolicy.FILTER_NAME, Any.pack(fault)), "r")
        .orElseThrow();
    assertThat(policy.delay()).isEqualTo(Duration.ofSeconds(2));
    assertThat(policy.abortStatus()).isEqualTo(503);

    SplittableRandom random = new SplittableRandom(42);
    int delayed = 0;
    int aborted = 0;
    for (int i = 0; i < 10_000; i++) {
      delayed += policy.delayFraction().roll(random) ? 1 : 0;
      aborted += policy.abortFraction().roll(random) ? 1 : 0;
    }
    assertThat(delayed).isBetween(900, 1100);
    assertThat(aborted).isBetween(2350, 2650);
    assertThat(new Fraction(0, 100).roll(random)).isFalse();
    assertThat(Fraction.ALL.roll(random)).isTrue();
  }

  @Test
  void noFaultConfigMeansNoFault() {
    assertThat(FaultPolicy.of(Map.of(), "r")).isEmpty();
  }
}
