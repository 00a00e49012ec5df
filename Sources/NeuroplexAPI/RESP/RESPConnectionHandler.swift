import DequeModule
import Logging
import NIOCore
import NeuroplexCore
import NeuroplexGateway
import NeuroplexMemory

/// One Redis-protocol connection, on its event loop.
///
/// The hot commands (`GET`, plain `SET`, `PING`) run right here, synchronously, straight off the received bytes:
/// no task, no thread hop, no per-argument arrays. Everything else — `AUTH`, transactions, CRDT commands, pub/sub —
/// is handed as one batch (every complete command that has arrived) to a task running ``RESPSession``, which owns
/// the connection's state; while it runs, nothing else from the connection executes, so replies keep their order.
///
/// Replies gather per read and are written with one flush. With sync durability a batch holding writes is held
/// back until the log has them on disk (group commit across connections), and later replies wait behind it.
/// Reading pauses while the socket is not writable or a batch is out, so a client that only sends is bounded.
final class RESPConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private struct Reply {
        var id: UInt64
        var buffer: ByteBuffer
        var ready: Bool
    }

    private let memory: Memory
    private let logger: Logger
    /// The connection's state; `nil` while a batch is running with it.
    private var session: RESPSession?
    /// Whether `session` is here (not with a batch), and whether it is not subscribed (so `PING` is answered on the
    /// fast path): kept apart so that the hot path never copies the session (a struct of references) to ask.
    private var sessionHere = true
    private var pingHere = true
    /// Whether `GET`/`SET` may run on the fast path: authenticated, no MULTI, not subscribed; and the scopes.
    private var fastRead = false
    private var fastWrite = false
    private var input: ByteBuffer?
    private var arguments: [Range<Int>] = []
    /// Replies of the commands run since the last flush, and the durability they wait for (`nil` only while
    /// ``process(context:)`` has them).
    private var replies: RESPWriter?
    private var repliesTicket: DurabilityTicket?
    /// Replies sealed but not yet written, oldest first; the front one waits for the disk when not ready.
    private var outbox: Deque<Reply> = []
    private var nextReplyID: UInt64 = 0
    private var readPending = false
    private var closeWhenWritten = false
    private var active = true
    private var forwarding: Task<Void, Never>?

    init(session: RESPSession, allocator: ByteBufferAllocator, logger: Logger) {
        self.memory = session.memory
        self.session = session
        self.pingHere = session.subscribedCount == 0
        self.logger = logger
        self.replies = RESPWriter(buffer: allocator.buffer(capacity: 512), protocolVersion: 2)
    }

    // MARK: Events

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if input == nil { input = bytes } else { input!.writeBuffer(&bytes) }
        process(context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        sealReplies(context: context)
        writeReadyReplies(context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        active = false
        forwarding?.cancel()
        session?.endSubscription()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("redis connection ended", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        if !sessionHere || !context.channel.isWritable || closeWhenWritten {
            readPending = true
        } else {
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        resumeReading(context: context)
        context.fireChannelWritabilityChanged()
    }

    private func resumeReading(context: ChannelHandlerContext) {
        guard readPending, sessionHere, context.channel.isWritable, !closeWhenWritten else { return }
        readPending = false
        context.read()
    }

    // MARK: Running commands

    /// Runs every complete command in `input`, the hot ones here and the rest as a batch; stops at a batch.
    private func process(context: ChannelHandlerContext) {
        guard sessionHere, !closeWhenWritten, var buffer = input.take() else { return }
        // Worked on in locals, so the loop pays no exclusivity checks on the handler's properties.
        var arguments: [Range<Int>] = []
        swap(&arguments, &self.arguments)
        var hot = HotCommands(
            memory: memory, read: fastRead, write: fastWrite, ping: pingHere,
            replies: replies.take()!, ticket: repliesTicket)
        var batch: [RESPCommand] = []
        var violation: (any Error)?
        do {
            while buffer.readableBytes > 0 {
                let scanned = try buffer.withUnsafeReadableBytes { try RESPScanner.command($0, into: &arguments) }
                if case .command(let length) = scanned, buffer.withUnsafeReadableBytes({ hot.run($0, arguments) }) {
                    buffer.moveReaderIndex(forwardBy: length)
                    continue
                }
                if case .incomplete = scanned { break }
                while let command = try RESPCommandDecoder.parse(&buffer) { batch.append(command) }
                break
            }
        } catch {
            violation = error
        }
        swap(&arguments, &self.arguments)
        replies = hot.replies
        repliesTicket = hot.ticket
        if let violation {
            replies!.error("ERR Protocol error: \(violation)")
            closeWhenWritten = true
            sealReplies(context: context)
            writeReadyReplies(context: context)
            return
        }
        if buffer.readableBytes > 0 { input = buffer }
        if !batch.isEmpty { runBatch(batch, context: context) }
    }

    /// Hands `batch` to a task with the session; the connection resumes when it comes back.
    private func runBatch(_ batch: [RESPCommand], context: ChannelHandlerContext) {
        guard var session = session.take() else { return }
        sessionHere = false
        sealReplies(context: context)
        let loop = context.eventLoop
        let handler = NIOLoopBound(self, eventLoop: loop)
        let bound = NIOLoopBound(context, eventLoop: loop)
        let allocator = context.channel.allocator
        Task {
            var writer = RESPWriter(
                buffer: allocator.buffer(capacity: 64 * batch.count), protocolVersion: session.protocolVersion)
            for command in batch {
                await session.execute(command, into: &writer)
                if session.closeAfterReply { break }
            }
            let output = writer.buffer
            let finished = session
            loop.execute { handler.value.batchFinished(finished, output: output, context: bound.value) }
        }
    }

    private func batchFinished(_ finished: RESPSession, output: ByteBuffer, context: ChannelHandlerContext) {
        var session = finished
        replies!.protocolVersion = session.protocolVersion
        fastRead = session.key?.scopes.grant(.memoryRead) == true && session.queued == nil
            && session.subscribedCount == 0
        fastWrite = fastRead && session.key?.scopes.grant(.memoryWrite) == true
        if session.closeAfterReply {
            closeWhenWritten = true
            input = nil
        }
        outbox.append(Reply(id: takeReplyID(), buffer: output, ready: true))
        if let subscription = session.newSubscription {
            session.newSubscription = nil
            startForwarding(subscription, version: session.protocolVersion, channel: context.channel)
        }
        self.session = session
        sessionHere = true
        pingHere = session.subscribedCount == 0
        guard active else {
            session.endSubscription()
            return
        }
        process(context: context)
        sealReplies(context: context)
        writeReadyReplies(context: context)
        resumeReading(context: context)
    }

    // MARK: Replies

    private func takeReplyID() -> UInt64 {
        nextReplyID += 1
        return nextReplyID
    }

    /// Moves the replies gathered so far into the outbox; held until durable when they acknowledge writes.
    private func sealReplies(context: ChannelHandlerContext) {
        guard replies!.buffer.readableBytes > 0 else { return }
        let id = takeReplyID()
        let ticket = repliesTicket
        outbox.append(Reply(id: id, buffer: replies!.buffer, ready: ticket == nil))
        replies!.buffer = context.channel.allocator.buffer(capacity: 512)
        repliesTicket = nil
        guard let ticket else { return }
        let loop = context.eventLoop
        let handler = NIOLoopBound(self, eventLoop: loop)
        let bound = NIOLoopBound(context, eventLoop: loop)
        ticket.whenDurable { error in
            loop.execute { handler.value.durable(id, error: error, context: bound.value) }
        }
    }

    private func durable(_ id: UInt64, error: (any Error)?, context: ChannelHandlerContext) {
        if let error {
            // The writes are applied but could not be made durable: the client must not take them as acknowledged.
            logger.error("redis connection closed: write-ahead log failed", metadata: ["error": "\(error)"])
            outbox.removeAll()
            context.close(promise: nil)
            return
        }
        if let index = outbox.firstIndex(where: { $0.id == id }) { outbox[index].ready = true }
        writeReadyReplies(context: context)
    }

    /// Writes the ready replies at the front of the outbox, in order, with one flush.
    private func writeReadyReplies(context: ChannelHandlerContext) {
        var wrote = false
        while let first = outbox.first, first.ready {
            outbox.removeFirst()
            context.write(wrapOutboundOut(first.buffer), promise: nil)
            wrote = true
        }
        if wrote { context.flush() }
        if closeWhenWritten && outbox.isEmpty && sessionHere { context.close(promise: nil) }
    }

    /// Forwards pub/sub messages of the connection's subscription (written as they come, outside the reply order,
    /// as Redis pushes are).
    private func startForwarding(
        _ subscription: (id: UInt64, messages: AsyncThrowingStream<ChannelMessage, any Error>), version: Int,
        channel: any Channel
    ) {
        let events = memory.events
        forwarding = Task {
            do {
                for try await message in subscription.messages {
                    var push = RESPWriter(buffer: channel.allocator.buffer(capacity: 64), protocolVersion: version)
                    if let pattern = events.matchedPattern(subscription.id, channel: message.channel) {
                        push.pushHeader(4)
                        push.bulk("pmessage")
                        push.bulk(pattern)
                    } else {
                        push.pushHeader(3)
                        push.bulk("message")
                    }
                    push.bulk(message.channel)
                    push.value(message.data)
                    try await channel.writeAndFlush(push.buffer)
                }
            } catch {
                // The connection closed or the subscription ended.
            }
        }
    }
}

/// The commands a connection runs on its event loop without the session: `GET key`, `SET key value`, `PING`.
/// Each is refused (`run` returns `false`, and the session takes it) when the connection's state needs more:
/// before AUTH, without the scope, inside MULTI, while subscribed.
private struct HotCommands {
    let memory: Memory
    let read: Bool
    let write: Bool
    let ping: Bool
    var replies: RESPWriter
    var ticket: DurabilityTicket?

    /// Runs the command whose arguments are at `arguments` in `bytes`; `false` when it is not a hot one.
    mutating func run(_ bytes: UnsafeRawBufferPointer, _ arguments: [Range<Int>]) -> Bool {
        let name = arguments[0]
        if arguments.count == 2, RESPScanner.equals(bytes, name, "GET") {
            guard read else { return false }
            let key = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[arguments[1]]), as: UTF8.self)
            switch memory.get(key) {
            case nil: replies.null()
            case let entry? where entry.type != "json": replies.wrongType()
            case let entry?: replies.value(entry.value)
            }
            return true
        }
        if arguments.count == 3, RESPScanner.equals(bytes, name, "SET") {
            guard write else { return false }
            let key = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[arguments[1]]), as: UTF8.self)
            let value = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[arguments[2]]), as: UTF8.self)
            do {
                let (_, written) = try memory.setApplying(key, .string(value))
                ticket = DurabilityTicket.latest(ticket, written)
                replies.ok()
            } catch let error as NeuroplexError {
                replies.error(RESPSession.redisError(error))
            } catch {
                replies.error("ERR \(error)")
            }
            return true
        }
        if arguments.count == 1, ping, RESPScanner.equals(bytes, name, "PING") {
            replies.simple("PONG")
            return true
        }
        return false
    }
}

/// Finds the argument ranges of a RESP array command without copying it: the hot path's parser.
enum RESPScanner {
    enum Result {
        /// A whole command of this many bytes; its arguments' ranges are in `arguments`.
        case command(length: Int)
        /// More bytes are needed.
        case incomplete
        /// Not for the hot path (inline command, empty or long array): the full decoder takes it.
        case other
    }

    /// The most arguments the hot path looks at; longer commands go to the full decoder.
    static let maxArguments = 8

    static func command(_ bytes: UnsafeRawBufferPointer, into arguments: inout [Range<Int>]) throws -> Result {
        guard let first = bytes.first else { return .incomplete }
        guard first == UInt8(ascii: "*") else { return .other }
        guard let (count, afterCount) = try number(bytes, at: 1) else { return .incomplete }
        guard count > 0, count <= maxArguments else { return .other }
        arguments.removeAll(keepingCapacity: true)
        var index = afterCount
        for _ in 0..<count {
            guard index < bytes.count else { return .incomplete }
            guard bytes[index] == UInt8(ascii: "$") else { return .other }
            guard let (length, start) = try number(bytes, at: index + 1) else { return .incomplete }
            guard length >= 0, length <= RESPCommandDecoder.maxBulkLength else { return .other }
            guard start + length + 2 <= bytes.count else { return .incomplete }
            arguments.append(start..<(start + length))
            index = start + length + 2
        }
        return .command(length: index)
    }

    /// A decimal number ending in CRLF at `offset`, and the index after the CRLF; `nil` when not all there yet.
    private static func number(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws -> (Int, Int)? {
        var index = offset
        var negative = false
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        var value = 0
        var digits = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\r") {
                guard index + 1 < bytes.count else { return nil }
                guard bytes[index + 1] == UInt8(ascii: "\n"), digits > 0 else {
                    throw RESPCommandDecoder.ProtocolViolation(description: "invalid length")
                }
                return (negative ? -value : value, index + 2)
            }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), digits < 18 else {
                throw RESPCommandDecoder.ProtocolViolation(description: "invalid length")
            }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
            digits += 1
            index += 1
        }
        return nil
    }

    /// Whether the bytes in `range` spell `name` (upper case ASCII), ignoring case.
    static func equals(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ name: StaticString) -> Bool {
        guard range.count == name.utf8CodeUnitCount else { return false }
        let expected = name.utf8Start
        for offset in 0..<range.count where bytes[range.lowerBound + offset] & 0xDF != expected[offset] {
            return false
        }
        return true
    }
}
