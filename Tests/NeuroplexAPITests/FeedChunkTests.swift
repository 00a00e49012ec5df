import Foundation
import NIOCore
import NeuroplexCore
import NeuroplexMemory
import NeuroplexTestSupport
import Testing

@testable import NeuroplexAPI

/// A feed's sealed chunks are stored framed for HTTP/1.1 chunked bodies (see `Feed.Chunk`), and streams on an event
/// loop write them below the HTTP encoder, so the framing is checked here byte for byte.
@Suite("Watch feed chunks", .timeLimit(.minutes(3)))
struct FeedChunkTests {
    /// The body of a chunked HTTP/1.1 message, or `nil` when `bytes` are not a sequence of well-formed chunks.
    /// With `partial`, the last chunk may be cut short (a stream read while it goes on): its bytes so far count.
    static func dechunk(_ bytes: some Collection<UInt8>, partial: Bool = false) -> [UInt8]? {
        let bytes = Array(bytes)
        var body: [UInt8] = []
        var index = 0
        while index < bytes.count {
            guard let lineEnd = bytes[index...].firstIndex(of: UInt8(ascii: "\r")), lineEnd + 1 < bytes.count,
                bytes[lineEnd + 1] == UInt8(ascii: "\n"),
                let size = Int(String(decoding: bytes[index..<lineEnd], as: UTF8.self), radix: 16), size > 0
            else { return nil }
            let end = lineEnd + 2 + size
            if end + 2 > bytes.count && partial {
                body += bytes[(lineEnd + 2)..<min(end, bytes.count)]
                return body
            }
            guard end + 2 <= bytes.count, bytes[end] == UInt8(ascii: "\r"), bytes[end + 1] == UInt8(ascii: "\n")
            else { return nil }
            body += bytes[(lineEnd + 2)..<end]
            index = end + 2
        }
        return body
    }

    @Test("framed reads from any position decode to exactly the feed's bytes from there; plain reads are those bytes")
    func framedReads() async throws {
        let memory = try await Memory(configuration: MemoryConfiguration(), logger: quietLogger)
        let hub = WatchHub(memory: memory, frames: ChangeFrameCache(), behindLimit: 1 << 20)
        let reader = hub.join("chunk:*")
        let feed = reader.feed
        let start = feed.end
        // Three rounds of writes, each read by the async reader (which seals what it finds): several chunks.
        var text: [UInt8] = []
        for round in 0..<3 {
            for value in 0..<(round + 2) { _ = try await memory.set("chunk:\(round)", .int(Int64(value))) }
            let expected = (0...round).reduce(0) { $0 + $1 + 2 }
            while text.split(separator: UInt8(ascii: "\n")).filter({ $0.starts(with: Array("data:".utf8)) }).count < expected {
                let next = try #require(try await reader.next())
                text += next.readableBytesView
            }
        }
        #expect(text.count > 0)
        for offset in 0..<text.count {
            guard case .bytes(let framed, let next) = feed.read(from: start + offset, sealing: false, framed: true),
                case .bytes(let plain, _) = feed.read(from: start + offset, sealing: false)
            else {
                Issue.record("nothing to read at \(offset)")
                return
            }
            #expect(next == start + text.count)
            let decoded = Self.dechunk(framed.flatMap { Array($0.readableBytesView) })
            #expect(decoded == Array(text[offset...]), "framed from \(offset)")
            #expect(plain.flatMap { Array($0.readableBytesView) } == Array(text[offset...]), "plain from \(offset)")
        }
        try await memory.close()
    }
}
