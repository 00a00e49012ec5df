import Foundation
import NeuroplexCore
import Synchronization

/// An append-only log file with group commit: many writers append, one flusher thread writes and `fdatasync`s
/// what has gathered, and every writer whose record is now on disk is resumed at once.
///
/// Each record is framed as `[length: UInt32 LE][CRC-32 of payload: UInt32 LE][payload]`. Reading stops at the
/// first frame that is short or fails its checksum — a write torn by a crash — and ``open(path:)`` truncates the
/// file there, so the log always ends on a whole record.
final class WriteAheadLog: Sendable {
    private struct State {
        var pending: [UInt8] = []
        /// Bytes appended so far (the log sequence number of the end of `pending`).
        var appended: UInt64 = 0
        /// Bytes known to be on disk.
        var durable: UInt64 = 0
        /// Callers waiting for a position to be on disk, in the order they asked (positions never decrease).
        var waiters: [(position: UInt64, done: @Sendable ((any Error)?) -> Void)] = []
        var failure: String?
        var closed = false
    }

    let path: String
    /// With a flush interval (asynchronous durability), appends do not wake the flusher; it writes what has
    /// gathered every interval (or at once past 4 MiB), so a burst of writes costs one system call, not one each.
    let flushInterval: Double?
    private let descriptor: Int32
    private let state: Mutex<State>
    private let wakeUp = NSCondition()
    private let stopped = Mutex<CheckedContinuation<Void, Never>?>(nil)

    /// Opens (or creates) the log, returning it with every intact record already in it.
    static func open(path: String, flushInterval: Double? = nil) throws -> (WriteAheadLog, records: [[UInt8]]) {
        let descriptor = Foundation.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw POSIXFailure("open \(path)") }
        let (records, intactLength) = try readRecords(descriptor: descriptor)
        let size = lseek(descriptor, 0, SEEK_END)
        if size > intactLength {
            guard ftruncate(descriptor, off_t(intactLength)) == 0 else { throw POSIXFailure("truncate \(path)") }
            _ = fsync(descriptor)
        }
        _ = lseek(descriptor, off_t(intactLength), SEEK_SET)
        let log = WriteAheadLog(
            path: path, descriptor: descriptor, length: UInt64(intactLength), flushInterval: flushInterval)
        return (log, records)
    }

    private init(path: String, descriptor: Int32, length: UInt64, flushInterval: Double?) {
        self.path = path
        self.flushInterval = flushInterval
        self.descriptor = descriptor
        self.state = Mutex(State(appended: length, durable: length))
        let thread = Thread { [weak self] in self?.flushLoop() }
        thread.name = "neuroplex-wal"
        thread.start()
    }

    deinit { close(descriptor) }

    /// Appends one record; returns the position a caller waits on with ``waitUntilDurable(_:)``.
    func append(_ payload: [UInt8]) -> UInt64 {
        let checksum = CRC32.checksum(payload)
        let (position, pendingBytes) = state.withLock { state in
            Self.put(UInt32(payload.count), into: &state.pending)
            Self.put(checksum, into: &state.pending)
            state.pending.append(contentsOf: payload)
            state.appended += UInt64(payload.count + 8)
            return (state.appended, state.pending.count)
        }
        if flushInterval != nil && pendingBytes < 4 << 20 { return position }
        wakeUp.lock()
        wakeUp.signal()
        wakeUp.unlock()
        return position
    }

    /// Suspends until everything up to `position` is on disk.
    /// - Throws: when the log could not be written (the disk is full, say); the write is then not durable.
    func waitUntilDurable(_ position: UInt64) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            whenDurable(position) { error in
                if let error { continuation.resume(throwing: error) } else { continuation.resume() }
            }
        }
    }

    /// Calls `done` once everything up to `position` is on disk (`nil`) or the log has failed (the error): at once
    /// when that is already so, else from the flusher thread.
    func whenDurable(_ position: UInt64, _ done: @escaping @Sendable ((any Error)?) -> Void) {
        let now: (any Error)?? = state.withLock { state in
            if let failure = state.failure { return .some(POSIXFailure(failure)) }
            if state.durable >= position { return .some(nil) }
            state.waiters.append((position, done))
            return nil
        }
        if let now { done(now) }
    }

    /// The number of bytes in the log, flushed or not.
    var length: UInt64 { state.withLock { $0.appended } }

    /// Writes what is pending, stops the flusher thread, and closes nothing else (the descriptor closes on deinit).
    func shutdown() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            stopped.withLock { $0 = continuation }
            state.withLock { $0.closed = true }
            wakeUp.lock()
            wakeUp.signal()
            wakeUp.unlock()
        }
    }

    private func flushLoop() {
        while true {
            wakeUp.lock()
            if let flushInterval {
                if !state.withLock({ $0.closed }) { _ = wakeUp.wait(until: Date(timeIntervalSinceNow: flushInterval)) }
            } else {
                while state.withLock({ $0.pending.isEmpty && !$0.closed }) { wakeUp.wait() }
            }
            wakeUp.unlock()
            let (batch, end, closing) = state.withLock { state -> ([UInt8], UInt64, Bool) in
                let batch = state.pending
                state.pending.removeAll(keepingCapacity: true)
                return (batch, state.appended, state.closed)
            }
            var failure: String?
            if !batch.isEmpty {
                let written = batch.withUnsafeBytes { raw -> Bool in
                    var offset = 0
                    while offset < raw.count {
                        let count = write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                        if count < 0 {
                            if errno == EINTR { continue }
                            return false
                        }
                        offset += count
                    }
                    return true
                }
                if !written || fdatasync(descriptor) != 0 {
                    failure = "write-ahead log \(path): \(String(cString: strerror(errno)))"
                }
            }
            let ready = state.withLock { state -> [(position: UInt64, done: @Sendable ((any Error)?) -> Void)] in
                if let failure { state.failure = failure }
                if failure == nil { state.durable = end }
                let ready = state.waiters.filter { $0.position <= state.durable || state.failure != nil }
                state.waiters.removeAll { $0.position <= state.durable || state.failure != nil }
                return ready
            }
            for waiter in ready { waiter.done(failure.map { POSIXFailure($0) }) }
            if closing && state.withLock({ $0.pending.isEmpty }) {
                stopped.withLock { $0?.resume(); $0 = nil }
                return
            }
        }
    }

    // MARK: Reading

    private static func readRecords(descriptor: Int32) throws -> ([[UInt8]], Int) {
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        _ = lseek(descriptor, 0, SEEK_SET)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw POSIXFailure("read write-ahead log")
            }
            if count == 0 { break }
            data.append(contentsOf: chunk[0..<count])
        }
        return frames(in: data)
    }

    /// The intact frames of `data` and the length they cover.
    static func frames(in data: [UInt8]) -> ([[UInt8]], Int) {
        var records: [[UInt8]] = []
        var offset = 0
        while offset + 8 <= data.count {
            let length = Int(get(data, offset))
            let checksum = get(data, offset + 4)
            guard offset + 8 + length <= data.count else { break }
            let payload = Array(data[(offset + 8)..<(offset + 8 + length)])
            guard CRC32.checksum(payload) == checksum else { break }
            records.append(payload)
            offset += 8 + length
        }
        return (records, offset)
    }

    static func put(_ value: UInt32, into out: inout [UInt8]) {
        out.append(UInt8(truncatingIfNeeded: value))
        out.append(UInt8(truncatingIfNeeded: value >> 8))
        out.append(UInt8(truncatingIfNeeded: value >> 16))
        out.append(UInt8(truncatingIfNeeded: value >> 24))
    }

    static func get(_ data: [UInt8], _ offset: Int) -> UInt32 {
        UInt32(data[offset]) | UInt32(data[offset + 1]) << 8 | UInt32(data[offset + 2]) << 16
            | UInt32(data[offset + 3]) << 24
    }
}

/// A failed system call, with `errno`'s text.
struct POSIXFailure: Error, CustomStringConvertible {
    var description: String
    init(_ what: String) {
        let code = errno
        description = code == 0 ? what : "\(what): \(String(cString: strerror(code)))"
    }
}
