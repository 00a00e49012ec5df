import Foundation
import NIOCore
import NeuroplexCore

/// One command a Redis client sent: its arguments as raw bytes (the first is the command name).
struct RESPCommand: Sendable {
    var arguments: [[UInt8]]

    var name: String { arguments.first.map { String(decoding: $0, as: UTF8.self).uppercased() } ?? "" }

    func string(_ index: Int) -> String? {
        index < arguments.count ? String(decoding: arguments[index], as: UTF8.self) : nil
    }
}

/// Splits the byte stream into commands: RESP arrays of bulk strings, or inline commands (`PING\r\n`, as typed
/// into telnet). Every complete command in the buffer is emitted at once as one array, so a pipelined burst is
/// answered with one write.
struct RESPCommandDecoder: ByteToMessageDecoder {
    typealias InboundOut = [RESPCommand]

    /// Bounds that keep a hostile client from making the server allocate without limit.
    static let maxArguments = 1024 * 1024
    static let maxBulkLength = 512 * 1024 * 1024

    struct ProtocolViolation: Error, CustomStringConvertible {
        var description: String
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        var commands: [RESPCommand] = []
        while let command = try Self.parse(&buffer) { commands.append(command) }
        guard !commands.isEmpty else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(commands))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        try decode(context: context, buffer: &buffer)
    }

    /// One command from the front of `buffer`, consuming it; `nil` (and nothing consumed) when incomplete.
    static func parse(_ buffer: inout ByteBuffer) throws -> RESPCommand? {
        var view = buffer
        guard let first = view.getInteger(at: view.readerIndex, as: UInt8.self) else { return nil }
        if first != UInt8(ascii: "*") {
            // Inline command: space-separated words up to the end of the line.
            guard let line = readLine(&view) else { return nil }
            buffer = view
            let words = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true).map(Array.init)
            return words.isEmpty ? try parse(&buffer) : RESPCommand(arguments: words)
        }
        view.moveReaderIndex(forwardBy: 1)
        guard let countLine = readLine(&view) else { return nil }
        guard let count = Int(String(decoding: countLine, as: UTF8.self)), count <= maxArguments else {
            throw ProtocolViolation(description: "invalid multibulk length")
        }
        var arguments: [[UInt8]] = []
        arguments.reserveCapacity(max(0, count))
        for _ in 0..<max(0, count) {
            guard let marker = view.readInteger(as: UInt8.self) else { return nil }
            guard marker == UInt8(ascii: "$") else {
                throw ProtocolViolation(description: "expected '$', got '\(Character(Unicode.Scalar(marker)))'")
            }
            guard let lengthLine = readLine(&view) else { return nil }
            guard let length = Int(String(decoding: lengthLine, as: UTF8.self)), (0...maxBulkLength).contains(length)
            else { throw ProtocolViolation(description: "invalid bulk length") }
            guard view.readableBytes >= length + 2, let bytes = view.readBytes(length: length) else { return nil }
            view.moveReaderIndex(forwardBy: 2)  // \r\n
            arguments.append(bytes)
        }
        buffer = view
        return arguments.isEmpty ? try parse(&buffer) : RESPCommand(arguments: arguments)
    }

    /// The bytes before the next CRLF (or LF), consuming the line ending too.
    private static func readLine(_ buffer: inout ByteBuffer) -> [UInt8]? {
        guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        let length = newline - buffer.readerIndex
        guard var line = buffer.readBytes(length: length) else { return nil }
        buffer.moveReaderIndex(forwardBy: 1)
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        return line
    }
}

/// Writes replies in RESP2 or RESP3 (after `HELLO 3`).
struct RESPWriter {
    var buffer: ByteBuffer
    var protocolVersion: Int

    mutating func simple(_ text: String) {
        buffer.writeInteger(UInt8(ascii: "+"))
        buffer.writeString(text)
        buffer.writeStaticString("\r\n")
    }

    mutating func ok() { buffer.writeStaticString("+OK\r\n") }

    /// An error line; `text` starts with its code (`ERR`, `WRONGTYPE`, `NOAUTH`, ...).
    mutating func error(_ text: String) {
        buffer.writeInteger(UInt8(ascii: "-"))
        buffer.writeString(text.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " "))
        buffer.writeStaticString("\r\n")
    }

    mutating func integer(_ value: Int) { header(UInt8(ascii: ":"), value) }

    mutating func bulk(_ bytes: some Collection<UInt8>) {
        header(UInt8(ascii: "$"), bytes.count)
        buffer.writeBytes(bytes)
        buffer.writeStaticString("\r\n")
    }

    mutating func bulk(_ text: String) {
        header(UInt8(ascii: "$"), text.utf8.count)
        buffer.writeString(text)
        buffer.writeStaticString("\r\n")
    }

    /// A stored value: a string as itself, anything else as its JSON text; `nil` as a null.
    mutating func value(_ value: JSONValue?) {
        switch value {
        case nil: null()
        case .string(let text)?: bulk(text)
        case let other?: bulk(other.bytes)
        }
    }

    mutating func wrongType() {
        buffer.writeStaticString("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n")
    }

    mutating func null() {
        if protocolVersion >= 3 { buffer.writeStaticString("_\r\n") } else { buffer.writeStaticString("$-1\r\n") }
    }

    /// A null array (RESP2 `*-1`), as EXEC answers when a watched key changed.
    mutating func nullArray() {
        if protocolVersion >= 3 { buffer.writeStaticString("_\r\n") } else { buffer.writeStaticString("*-1\r\n") }
    }

    mutating func arrayHeader(_ count: Int) { header(UInt8(ascii: "*"), count) }

    /// A map (RESP3) or a flat array of alternating keys and values (RESP2).
    mutating func mapHeader(_ pairs: Int) {
        if protocolVersion >= 3 { header(UInt8(ascii: "%"), pairs) } else { arrayHeader(pairs * 2) }
    }

    /// A set (RESP3 `~`) or an array (RESP2).
    mutating func setHeader(_ count: Int) {
        header(protocolVersion >= 3 ? UInt8(ascii: "~") : UInt8(ascii: "*"), count)
    }

    /// A push message (RESP3 `>`) or an array (RESP2): pub/sub deliveries.
    mutating func pushHeader(_ count: Int) {
        header(protocolVersion >= 3 ? UInt8(ascii: ">") : UInt8(ascii: "*"), count)
    }

    /// `marker`, `number` in decimal, CRLF: written digit by digit (no `String` made).
    private mutating func header(_ marker: UInt8, _ number: Int) {
        buffer.writeInteger(marker)
        JSONValue.forEachDecimalCharacter(of: Int64(number)) { buffer.writeInteger($0) }
        buffer.writeStaticString("\r\n")
    }
}
