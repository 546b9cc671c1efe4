package io.isthmus.proxy.internal.telemetry;

import static java.util.Objects.requireNonNull;

import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.AsciiString;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.TraceFlags;
import io.opentelemetry.api.trace.TraceState;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.propagation.TextMapGetter;
import io.opentelemetry.context.propagation.TextMapSetter;
import io.opentelemetry.exporter.otlp.trace.OtlpGrpcSpanExporter;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.SpanProcessor;
import io.opentelemetry.sdk.trace.export.BatchSpanProcessor;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import io.opentelemetry.sdk.trace.samplers.Sampler;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * One span per sidecar hop, as Envoy's tracer makes them in Istio: a {@code CLIENT} span on
 * the outbound path, a {@code SERVER} span on the inbound path, each the child of the W3C
 * {@code traceparent} the request came with (or of its B3 {@code x-b3-*} context when it has
 * no {@code traceparent}), and each written back into {@code traceparent}/{@code tracestate}
 * so the next hop becomes its child. B3 headers pass through untouched. Spans go to an
 * OTLP/gRPC collector through the OpenTelemetry SDK's batch processor, off the event loop.
 *
 * <p>Sampling is parent-based: a request whose {@code traceparent} says sampled (or not) keeps
 * that decision; a new trace is sampled with the configured percentage.
 * When disabled, headers pass through untouched and no span is made. Thread-safe.
 */
public final class Tracing implements AutoCloseable {

  private static final W3CTraceContextPropagator W3C = W3CTraceContextPropagator.getInstance();
  private static final TextMapGetter<HttpHeaders> GETTER = new TextMapGetter<>() {
    @Override
    public Iterable<String> keys(HttpHeaders carrier) {
      return carrier.names();
    }

    @Override
    public String get(HttpHeaders carrier, String key) {
      return carrier == null ? null : carrier.get(name(key));
    }
  };
  private static final TextMapSetter<HttpHeaders> SETTER = (carrier, key, value) ->
      carrier.set(name(key), value);

  // The propagators' header names as AsciiStrings: a lookup then reuses their cached hash
  // instead of hashing the name again on every request.
  private static final Map<String, AsciiString> NAMES = Map.of(
      "traceparent", AsciiString.cached("traceparent"),
      "tracestate", AsciiString.cached("tracestate"));
  private static final AsciiString B3_TRACE_ID = AsciiString.cached("x-b3-traceid");
  private static final AsciiString B3_SPAN_ID = AsciiString.cached("x-b3-spanid");
  private static final AsciiString B3_SAMPLED = AsciiString.cached("x-b3-sampled");
  private static final AsciiString B3_FLAGS = AsciiString.cached("x-b3-flags");

  private static CharSequence name(String key) {
    AsciiString known = NAMES.get(key);
    return known != null ? known : key;
  }

  private static final String UNNAMED = "-";

  public static final Tracing DISABLED = new Tracing(null, null);

  private final SdkTracerProvider provider;
  private final Tracer tracer;

  private Tracing(SdkTracerProvider provider, Tracer tracer) {
    this.provider = provider;
    this.tracer = tracer;
  }

  /**
   * Exports to the OTLP/gRPC collector at {@code endpoint} ({@code host:port} or
   * {@code http://host:port}), sampling {@code samplingPercent} of new traces.
   */
  public static Tracing otlp(String endpoint, double samplingPercent,
      Map<String, String> resource) {
    requireNonNull(endpoint, "endpoint");
    String url = endpoint.contains("://") ? endpoint : "http://" + endpoint;
    SpanExporter exporter = OtlpGrpcSpanExporter.builder()
        .setEndpoint(url)
        .setTimeout(Duration.ofSeconds(10))
        .build();
    return withProcessor(BatchSpanProcessor.builder(exporter)
        .setScheduleDelay(Duration.ofMillis(500))
        .setMaxQueueSize(8192)
        .build(), samplingPercent, resource);
  }

  /** Spans go to {@code processor} (tests use a simple processor and an in-memory exporter). */
  public static Tracing withProcessor(SpanProcessor processor, double samplingPercent,
      Map<String, String> resource) {
    requireNonNull(processor, "processor");
    requireNonNull(resource, "resource");
    if (!(samplingPercent >= 0 && samplingPercent <= 100)) {
      throw new IllegalArgumentException("--trace-sampling: " + samplingPercent
          + " (expected: a percentage, 0 to 100)");
    }
    var attributes = Attributes.builder();
    resource.forEach(attributes::put);
    SdkTracerProvider provider = SdkTracerProvider.builder()
        .setResource(Resource.getDefault().merge(Resource.create(attributes.build())))
        .setSampler(Sampler.parentBased(Sampler.traceIdRatioBased(samplingPercent / 100.0)))
        .addSpanProcessor(processor)
        .build();
    return new Tracing(provider, provider.get("io.isthmus.proxy"));
  }

  public boolean enabled() {
    return tracer != null;
  }

  /**
   * Starts this hop's span as the child of the context in {@code headers} and writes the new
   * span's context into them. The name and attributes are only built when the span is
   * recorded (sampled): an unsampled request costs the context propagation and nothing more.
   * Returns {@link HopSpan#NONE} when tracing is disabled.
   */
  public HopSpan start(SpanKind kind, Supplier<String> name, HttpHeaders headers,
      long startEpochNanos, Supplier<Attributes> attributes) {
    if (tracer == null) {
      return HopSpan.NONE;
    }
    Context parent = W3C.extract(Context.root(), headers, GETTER);
    if (!Span.fromContext(parent).getSpanContext().isValid()) {
      SpanContext b3 = b3(headers);
      if (b3.isValid()) {
        parent = Context.root().with(Span.wrap(b3));
      }
    }
    // The sampler (parent-based, trace-id ratio) looks at neither the name nor the attributes.
    Span span = tracer.spanBuilder(UNNAMED)
        .setParent(parent)
        .setSpanKind(kind)
        .setStartTimestamp(startEpochNanos, TimeUnit.NANOSECONDS)
        .startSpan();
    if (span.isRecording()) {
      span.updateName(name.get());
      span.setAllAttributes(attributes.get());
    }
    W3C.inject(Context.root().with(span), headers, SETTER);
    return new HopSpan(span);
  }

  /** The B3 multi-header context ({@code x-b3-traceid}, {@code x-b3-spanid}, {@code x-b3-sampled}). */
  static SpanContext b3(HttpHeaders headers) {
    String traceId = headers.get(B3_TRACE_ID);
    String spanId = headers.get(B3_SPAN_ID);
    if (traceId == null || spanId == null) {
      return SpanContext.getInvalid();
    }
    String t = traceId.trim().toLowerCase(Locale.ROOT);
    if (t.length() == 16) {
      t = "0000000000000000" + t;
    }
    String sampled = headers.get(B3_SAMPLED, "1");
    boolean on = sampled.equals("1") || sampled.equalsIgnoreCase("true")
        || "1".equals(headers.get(B3_FLAGS));
    return SpanContext.createFromRemoteParent(t, spanId.trim().toLowerCase(Locale.ROOT),
        on ? TraceFlags.getSampled() : TraceFlags.getDefault(), TraceState.getDefault());
  }

  /** Exports what is buffered and stops. */
  @Override
  public void close() {
    if (provider != null) {
      provider.shutdown().join(3, TimeUnit.SECONDS);
    }
  }

  /** This hop's span; ended once, with the response's attributes. */
  public static final class HopSpan {
    static final HopSpan NONE = new HopSpan(null);

    private final Span span;

    private HopSpan(Span span) {
      this.span = span;
    }

    /** True when this span is sampled: only then are its attributes worth building. */
    public boolean recording() {
      return span != null && span.isRecording();
    }

    /** The trace id (32 hex digits), or null when not traced. */
    public String traceId() {
      return span == null ? null : span.getSpanContext().getTraceId();
    }

    public void end(int status, Attributes attributes, long endEpochNanos) {
      if (span == null) {
        return;
      }
      if (!span.isRecording()) {
        span.end();
        return;
      }
      span.setAllAttributes(attributes);
      span.setAttribute(AttributeKey.longKey("http.status_code"), status);
      if (status == 0 || status >= 500) {
        span.setStatus(StatusCode.ERROR);
      }
      span.end(endEpochNanos, TimeUnit.NANOSECONDS);
    }
  }
}
