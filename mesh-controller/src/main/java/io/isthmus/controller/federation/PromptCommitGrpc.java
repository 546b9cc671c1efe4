package io.isthmus.controller.federation;

import org.apache.ratis.conf.Parameters;
import org.apache.ratis.grpc.GrpcFactory;
import org.apache.ratis.grpc.server.GrpcLogAppender;
import org.apache.ratis.proto.RaftProtos.AppendEntriesRequestProto;
import org.apache.ratis.rpc.RpcFactory;
import org.apache.ratis.rpc.RpcType;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.leader.FollowerInfo;
import org.apache.ratis.server.leader.LeaderState;
import org.apache.ratis.server.leader.LogAppender;
import org.apache.ratis.server.raftlog.RaftLog;
import org.apache.ratis.server.raftlog.RaftLogIOException;

/**
 * Ratis' gRPC transport, unchanged except that the leader tells a follower at once when its
 * commit index has advanced and there is no entry to carry the news. Selected by class name
 * ({@code raft.rpc.type}, which Ratis instantiates by reflection: hence public); not an API.
 *
 * <p>Why: a follower learns the commit index only from an AppendEntries. With Ratis' metadata
 * entries off ({@code log-metadata=false}) a lone commit is followed by no entry, and Ratis 3.2's
 * appender, woken by the new commit index, finds nothing to send and waits for the next heartbeat
 * (half the minimum election timeout, ~500 ms): the follower applies the commit that late, and a
 * change published through it reaches its own proxies that late. Here the appender sends an empty
 * AppendEntries (a heartbeat, on the same ordered stream) carrying the new commit index instead,
 * once per commit index and only when nothing is in flight to that follower (in-flight entries
 * carry it anyway, and a heartbeat sent meanwhile could not: Ratis caps the commit index it sends
 * at the last entry the follower is known to hold). With metadata entries on, the metadata entry
 * is the entry that carries it, and nothing changes. Safety is Ratis' own: a heartbeat is an
 * ordinary AppendEntries, checked by the follower against its log like any other.
 */
public final class PromptCommitGrpc implements RpcType {

    /** For Ratis' reflection. */
    public PromptCommitGrpc() {
    }

    @Override
    public String name() {
        return PromptCommitGrpc.class.getName();
    }

    @Override
    public RpcFactory newFactory(Parameters parameters) {
        return new Factory(parameters);
    }

    private static final class Factory extends GrpcFactory {

        Factory(Parameters parameters) {
            super(parameters);
        }

        @Override
        public LogAppender newLogAppender(RaftServer.Division server, LeaderState state, FollowerInfo follower) {
            return new Appender(server, state, follower);
        }
    }

    /** Called only on the appender's own thread, under its lock (GrpcLogAppender.appendLog). */
    static final class Appender extends GrpcLogAppender {

        /** The highest commit index sent to this follower. */
        private long commitSent = RaftLog.INVALID_LOG_INDEX;

        Appender(RaftServer.Division server, LeaderState state, FollowerInfo follower) {
            super(server, state, follower);
        }

        @Override
        public AppendEntriesRequestProto newAppendEntriesRequest(long callId, boolean heartbeat)
                throws RaftLogIOException {
            AppendEntriesRequestProto request = super.newAppendEntriesRequest(callId, heartbeat);
            if (request == null && !hasPendingDataRequests()) {
                long committed = getRaftLog().getLastCommittedIndex();
                if (committed > getFollower().getCommitIndex() && committed > commitSent) {
                    request = super.newAppendEntriesRequest(callId, true);
                }
            }
            if (request != null) {
                commitSent = Math.max(commitSent, request.getLeaderCommit());
            }
            return request;
        }
    }
}
