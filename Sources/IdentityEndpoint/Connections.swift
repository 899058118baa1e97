import Dispatch
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import VaultCrypto
#if canImport(Glibc)
import Glibc
#endif

/// The connections of one server, across its event loops: a cap, and which connection gives way when it is reached.
final class ConnectionTable: Sendable {
    struct Entry {
        let channel: any Channel
        /// It sent a request the router accepted (for App Service: with the right header).
        var trusted = false
        /// A request of it is being answered.
        var busy = false
        var since: UInt64
    }

    let limit: Int
    private let entries = Mutex<[ObjectIdentifier: Entry]>([:])

    init(limit: Int) { self.limit = limit }

    var count: Int { entries.withLock { $0.count } }

    /// Registers a connection. When the table is full, the idle connection that never sent an accepted request and
    /// was idle longest is closed to make room (then the longest-idle trusted one); false when every connection is
    /// busy, and the new one is to be closed.
    func admit(_ id: ObjectIdentifier, _ channel: any Channel) -> Bool {
        let now = DispatchTime.now().uptimeNanoseconds
        let (admitted, victim) = entries.withLock { e -> (Bool, (any Channel)?) in
            var victim: (any Channel)?
            if e.count >= limit {
                guard let v = e.filter({ !$0.value.busy }).min(by: { ($0.value.trusted ? 1 : 0, $0.value.since) < ($1.value.trusted ? 1 : 0, $1.value.since) }) else {
                    return (false, nil)
                }
                e[v.key] = nil
                victim = v.value.channel
            }
            e[id] = Entry(channel: channel, since: now)
            return (true, victim)
        }
        victim?.close(promise: nil)
        return admitted
    }

    func update(_ id: ObjectIdentifier, busy: Bool, trusted: Bool = false) {
        let now = DispatchTime.now().uptimeNanoseconds
        entries.withLock { e in
            guard var entry = e[id] else { return }
            entry.busy = busy
            entry.trusted = entry.trusted || trusted
            entry.since = now
            e[id] = entry
        }
    }

    func remove(_ id: ObjectIdentifier) { entries.withLock { _ = $0.removeValue(forKey: id) } }
}

/// `struct ucred` (pid_t, uid_t, gid_t), as `SO_PEERCRED` fills it.
struct PeerCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

/// Token fetches queued or running: past the limit a request is answered 503 at once instead of queueing.
final class FetchGate: Sendable {
    let limit: Int
    private let running = Atomic<Int>(0)
    init(limit: Int) { self.limit = limit }

    func enter() -> Bool {
        if running.wrappingAdd(1, ordering: .relaxed).newValue > limit {
            running.wrappingSubtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    func leave() { running.wrappingSubtract(1, ordering: .relaxed) }
}

/// First in each connection's pipeline (raw bytes): registers it with the table and closes it when a request takes
/// longer than `requestTimeout` to arrive from its first byte (slowloris), a new connection sends nothing for as long,
/// or a keep-alive connection stays idle past `idleTimeout`.
final class ConnectionTracker: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let table: ConnectionTable
    let requestTimeout: TimeAmount
    let idleTimeout: TimeAmount
    private var deadline: Scheduled<Void>?
    private var receiving = false
    private var busy = false
    private var bytesWhileBusy = false
    private weak var channel: (any Channel)?

    init(table: ConnectionTable, requestTimeout: TimeAmount, idleTimeout: TimeAmount) {
        self.table = table
        self.requestTimeout = requestTimeout
        self.idleTimeout = idleTimeout
    }

    var id: ObjectIdentifier { ObjectIdentifier(self) }

    func channelActive(context: ChannelHandlerContext) {
        channel = context.channel
        guard table.admit(id, context.channel) else {
            context.close(promise: nil)
            return
        }
        receiving = true
        arm(context.eventLoop, requestTimeout)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        table.remove(id)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if busy {
            bytesWhileBusy = true
        } else if !receiving {
            receiving = true
            arm(context.eventLoop, requestTimeout)
        }
        context.fireChannelRead(data)
    }

    /// A whole request arrived: no deadline while it is answered.
    func requestReceived() {
        receiving = false
        busy = true
        deadline?.cancel()
        deadline = nil
        table.update(id, busy: true)
    }

    /// The response was written; `trusted`: the request was accepted.
    func responseSent(on loop: any EventLoop, trusted: Bool) {
        busy = false
        table.update(id, busy: false, trusted: trusted)
        if bytesWhileBusy {
            bytesWhileBusy = false
            receiving = true
            arm(loop, requestTimeout)
        } else {
            arm(loop, idleTimeout)
        }
    }

    private func arm(_ loop: any EventLoop, _ after: TimeAmount) {
        deadline?.cancel()
        let bound = NIOLoopBound(self, eventLoop: loop)
        deadline = loop.scheduleTask(in: after) {
            let tracker = bound.value
            guard !tracker.busy else { return }
            tracker.channel?.close(promise: nil)
        }
    }
}
