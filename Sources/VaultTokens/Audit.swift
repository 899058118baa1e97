import FoundationEssentials
import Synchronization
import VaultCrypto
import VaultErrors
import VaultStore
import VaultFormat
import VaultRecords
#if canImport(Glibc)
import Glibc
import VaultJSON
#endif

/// Who asked for a token or a secret use.
public struct AuditRequester: Sendable, Equatable {
    /// `token`, `run`, `exec`, `serve`, `rotate-secret`, …
    public var command: String
    public var pid: Int32 = getpid()
    /// The program `vault exec` runs.
    public var childPID: Int32?
    /// A `vault serve` / `vault exec` client: `127.0.0.1:PORT` or `unix`.
    public var peer: String?
    public var peerUID: UInt32?
    /// A local peer's process (the agent's clients, Unix-socket clients of `vault serve`).
    public var peerPID: Int32?
    /// The peer's executable (/proc/PID/exe) where it can be read, and its command name (/proc/PID/comm).
    public var peerExecutable: String?
    public var peerCommand: String?

    public init(command: String, childPID: Int32? = nil, peer: String? = nil, peerUID: UInt32? = nil, peerPID: Int32? = nil,
                peerExecutable: String? = nil, peerCommand: String? = nil) {
        self.command = command
        self.childPID = childPID
        self.peer = peer
        self.peerUID = peerUID
        self.peerPID = peerPID
        self.peerExecutable = peerExecutable
        self.peerCommand = peerCommand
    }
}

/// One audit line. Never holds a token or a secret: only names, ids and outcomes.
public struct AuditEvent: Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// A token handed to a caller (printed by `vault token`, served to an exec child or a serve client).
        case handout = "token.handout"
        /// The app's credential sent to Entra ID for a token.
        case entraRequest = "entra.token_request"
        /// A step of a credential rotation through Graph.
        case rotationStep = "rotation.step"
        /// The agent gave a vault's master key to a process.
        case agentHandout = "agent.key_handout"
        /// The vault's key slots changed (`step`: `key-add-file`, `key-remove`, `passwd`, `rekey`).
        case keySlots = "vault.key_slots"
    }
    public var time: Date
    public var kind: Kind
    /// The stored app (nil for events about the vault itself).
    public var app: String?
    public var clientID: String?
    /// The resource (or scope) of the token.
    public var resource: String?
    public var requester: AuditRequester
    /// `cache` or `fetch` (handouts).
    public var source: String?
    /// The `client-request-id` vault sent, which Entra ID reports as its correlation id.
    public var correlationID: String?
    /// `ok`, or the error code.
    public var outcome: String
    /// For rotation steps: the step's name.
    public var step: String?
    /// For a line standing for several handouts from memory (one app and resource within a minute): how many.
    public var count: Int?
    /// For a federated app's Entra request: the external token's `iss` and `sub` (its claims, never the token).
    public var issuer: String?
    public var subject: String?

    public init(time: Date, kind: Kind, app: String?, clientID: String?, resource: String?, requester: AuditRequester,
                source: String? = nil, correlationID: String? = nil, outcome: String, step: String? = nil, count: Int? = nil) {
        self.time = time; self.kind = kind; self.app = app; self.clientID = clientID; self.resource = resource
        self.requester = requester; self.source = source; self.correlationID = correlationID; self.outcome = outcome; self.step = step
        self.count = count
    }

    /// The JSON line (no newline): fixed key order, every string escaped, at most `AuditLogFile.maxLine` bytes.
    public func jsonLine() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(320)
        out.append(contentsOf: #"{"time":""#.utf8)
        out.append(contentsOf: Self.timestamp(time).utf8)
        out.append(UInt8(ascii: "\""))
        func key(_ name: StaticString) {
            out.append(contentsOf: [UInt8(ascii: ","), UInt8(ascii: "\"")])
            out.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            out.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        }
        func field(_ name: StaticString, _ given: String?) {
            guard var value = given else { return }
            key(name)
            out.append(UInt8(ascii: "\""))
            value.withUTF8 { bytes in
                let cut = UnsafeBufferPointer(rebasing: bytes[0..<min(bytes.count, 512)])
                if cut.allSatisfy({ $0 >= 0x20 && $0 != 0x22 && $0 != 0x5c && $0 != 0x7f }) {
                    out.append(contentsOf: cut)
                } else {
                    for b in cut { Self.escape(b, into: &out) }
                }
            }
            out.append(UInt8(ascii: "\""))
        }
        func number(_ name: StaticString, _ value: Int64?) {
            guard let value else { return }
            key(name)
            out.append(contentsOf: String(value).utf8)
        }
        field("event", kind.rawValue)
        field("app", app)
        field("client_id", clientID)
        field("resource", resource)
        field("command", requester.command)
        number("pid", Int64(requester.pid))
        number("child_pid", requester.childPID.map(Int64.init))
        field("peer", requester.peer)
        number("peer_uid", requester.peerUID.map(Int64.init))
        number("peer_pid", requester.peerPID.map(Int64.init))
        field("peer_exe", requester.peerExecutable)
        field("peer_comm", requester.peerCommand)
        field("source", source)
        field("correlation_id", correlationID)
        field("issuer", issuer)
        field("subject", subject)
        field("step", step)
        number("count", count.map(Int64.init))
        field("outcome", outcome)
        out.append(UInt8(ascii: "}"))
        return out
    }

    static func escape(_ b: UInt8, into out: inout [UInt8]) { JSONWriter.escape(b, into: &out) }

    /// RFC 3339 in UTC with milliseconds: `2026-12-01T21:40:00.123Z`. Computed from the epoch (days to civil date,
    /// Howard Hinnant's algorithm), so no time-zone file is read on the way to a token.
    public static func timestamp(_ date: Date) -> String {
        let ms = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        let seconds = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        let millis = Int(ms - seconds * 1000)
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let secOfDay = Int(seconds - days * 86400)
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = Int(doy - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        let year = Int(yoe + era * 400) + (month <= 2 ? 1 : 0)
        func pad(_ v: Int, _ w: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secOfDay / 3600, 2)):\(pad(secOfDay / 60 % 60, 2)):\(pad(secOfDay % 60, 2)).\(pad(millis, 3))Z"
    }
}

/// Where audit events go. An audit line that cannot be written is reported once through `warn`, never fatal: the
/// log is a record, not a gate (the note in SECURITY.md says so).
public protocol AuditSink: Sendable {
    func record(_ event: AuditEvent)
}

/// The audit log of a vault directory (or standard error).
/// The file is opened at the first event: a command that uses no secret and hands out no token leaves no log.
public final class AuditLog: AuditSink {
    let target: AuditLogFile.Target
    let file = Mutex<AuditLogFile?>(nil)
    let warn: @Sendable (String) -> Void
    let warned = Atomic<Bool>(false)
    let maxBytes: Int64
    /// Called for every line that could not be written (the warning is said once; this counts them all).
    let onFailure: (@Sendable () -> Void)?

    public init(_ target: AuditLogFile.Target, maxBytes: Int64 = AuditLogFile.defaultMaxBytes, warn: @escaping @Sendable (String) -> Void,
                onFailure: (@Sendable () -> Void)? = nil) {
        self.onFailure = onFailure
        self.target = target
        self.maxBytes = maxBytes
        self.warn = warn
    }

    public func record(_ event: AuditEvent) {
        let line = event.jsonLine()
        do {
            try file.withLock { open in
                if open == nil { open = try AuditLogFile(target, maxBytes: maxBytes) }
                try open!.append(line)
            }
        } catch let e as VaultError {
            onFailure?()
            if !warned.exchange(true, ordering: .relaxed) { warn("audit log: " + e.reason) }
        } catch {
            onFailure?()
        }
    }

    public func reopen() {
        do { try file.withLock { try $0?.reopen() } } catch let e as VaultError { warn("audit log: " + e.reason) } catch {}
    }
}
