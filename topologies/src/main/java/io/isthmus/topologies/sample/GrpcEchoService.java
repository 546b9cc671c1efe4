package io.isthmus.topologies.sample;

import com.google.protobuf.StringValue;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.protobuf.ProtoUtils;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.StreamObserver;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * The echo app's gRPC face: {@code isthmus.sample.v1.Echo/Echo} takes a
 * {@code google.protobuf.StringValue} (any text) and answers a {@code StringValue} holding the same
 * JSON as the HTTP echo, with {@code protocol} {@code gRPC} and {@code path} the full method name.
 * Standard protobuf on the wire, so any gRPC client with the well-known types can call it.
 */
final class GrpcEchoService {

    static final String SERVICE = "isthmus.sample.v1.Echo";

    static final MethodDescriptor<StringValue, StringValue> ECHO = MethodDescriptor.<StringValue, StringValue>newBuilder()
            .setType(MethodDescriptor.MethodType.UNARY)
            .setFullMethodName(MethodDescriptor.generateFullMethodName(SERVICE, "Echo"))
            .setRequestMarshaller(ProtoUtils.marshaller(StringValue.getDefaultInstance()))
            .setResponseMarshaller(ProtoUtils.marshaller(StringValue.getDefaultInstance()))
            .build();

    private static final ObjectMapper JSON = JsonMapper.builder().build();
    private static final Context.Key<Metadata> HEADERS = Context.key("isthmus-echo-headers");

    private GrpcEchoService() {
    }

    static ServerServiceDefinition definition(EchoIdentity identity) {
        ServerServiceDefinition service = ServerServiceDefinition.builder(SERVICE)
                .addMethod(ECHO, ServerCalls.asyncUnaryCall(
                        (StringValue request, StreamObserver<StringValue> response) -> {
                            response.onNext(StringValue.of(JSON.writeValueAsString(describe(identity, HEADERS.get()))));
                            response.onCompleted();
                        }))
                .build();
        return ServerInterceptors.intercept(service, new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                    ServerCallHandler<Q, R> next) {
                return Contexts.interceptCall(Context.current().withValue(HEADERS, headers), call, headers, next);
            }
        });
    }

    static Map<String, Object> describe(EchoIdentity identity, Metadata metadata) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("cluster", identity.cluster());
        out.put("version", identity.version());
        out.put("pod", identity.pod());
        out.put("namespace", identity.namespace());
        out.put("locality", identity.locality());
        out.put("protocol", "gRPC");
        out.put("method", "POST");
        out.put("path", "/" + ECHO.getFullMethodName());
        out.put("callerIdentity", EchoHttpHandler.callerIdentity(text(metadata, "x-forwarded-client-cert")));
        out.put("forwardedFor", EchoHttpHandler.lastForwardedFor(text(metadata, "x-forwarded-for")));
        Map<String, String> headers = new LinkedHashMap<>();
        for (String key : metadata.keys()) {
            if (!key.endsWith(Metadata.BINARY_HEADER_SUFFIX)) {
                headers.put(key.toLowerCase(Locale.ROOT), text(metadata, key));
            }
        }
        out.put("headers", headers);
        return out;
    }

    private static String text(Metadata metadata, String key) {
        Iterable<String> values = metadata.getAll(Metadata.Key.of(key, Metadata.ASCII_STRING_MARSHALLER));
        return values == null ? null : String.join(",", values);
    }
}
