package io.isthmus.controller.federation;

import java.util.EnumSet;
import java.util.Set;
import java.util.concurrent.Executor;
import org.apache.ratis.grpc.server.GrpcServices;
import org.apache.ratis.thirdparty.io.grpc.Metadata;
import org.apache.ratis.thirdparty.io.grpc.ServerCall;
import org.apache.ratis.thirdparty.io.grpc.netty.NettyServerBuilder;

/**
 * Runs the peer server's two hot gRPC calls on the Netty event loop that read them, instead of
 * handing every message to gRPC's shared executor first: a follower's {@code appendEntries}
 * (each replicated entry and heartbeat) and the leader's {@code ordered} client stream (each
 * submitted command). Both of Ratis' handlers only start asynchronous work (a log append queued
 * to the log worker, a transaction started; replies come back from those threads), so they do not
 * block the event loop; what they save is one thread handoff per message on each peer, which on a
 * host with fewer cores than busy threads costs more than the work itself (see
 * {@code docs/design/federation.md}, "Benchmarks"). Every other call (votes, snapshot
 * installation, which writes files, admin) keeps gRPC's executor.
 */
final class DirectCalls implements GrpcServices.Customizer {

    /** Full gRPC method names (Ratis' {@code Grpc.proto}, package {@code ratis.grpc}). */
    static final Set<String> METHODS = Set.of(
            "ratis.grpc.RaftServerProtocolService/appendEntries",
            "ratis.grpc.RaftClientProtocolService/ordered");

    private static final Executor DIRECT = Runnable::run;

    @Override
    public NettyServerBuilder customize(NettyServerBuilder builder, EnumSet<GrpcServices.Type> types) {
        return builder.callExecutor(DirectCalls::executor);
    }

    /** Null keeps the server's default executor for the call. */
    static <ReqT, RespT> Executor executor(ServerCall<ReqT, RespT> call, Metadata headers) {
        return METHODS.contains(call.getMethodDescriptor().getFullMethodName()) ? DIRECT : null;
    }
}
