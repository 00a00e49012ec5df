import Foundation
import Logging
import NeuroplexCore
import Testing

@Suite("Core vocabulary", .timeLimit(.minutes(3)))
struct CoreTests {
    @Test("timestamps are RFC 3339 UTC with milliseconds and parse back, with or without fractions")
    func timestamps() throws {
        let date = Date(timeIntervalSince1970: 1_800_000_000.25)
        let text = Timestamp.string(date)
        #expect(text == "2027-01-15T08:00:00.250Z")
        #expect(Timestamp.parse(text) == date)
        #expect(Timestamp.parse("2027-01-15T08:00:00Z") == Date(timeIntervalSince1970: 1_800_000_000))
        #expect(Timestamp.parse("2027-01-15 08:00") == nil)
    }

    @Test("every millisecond reads back and writes out the same, and truncating writes the same text")
    func timestampRoundTrips() throws {
        for millis in 0..<1000 {
            let text = "2026-11-23T12:34:56.\(String(repeating: "0", count: 3 - String(millis).count))\(millis)Z"
            let parsed = try #require(Timestamp.parse(text))
            #expect(Timestamp.string(parsed) == text)
            let precise = Date(timeIntervalSince1970: parsed.timeIntervalSince1970 + 0.0004)
            #expect(Timestamp.string(Timestamp.truncated(precise)) == text)
        }
    }

    @Test("ids made later sort later")
    func idsSortByTime() {
        let earlier = Identifier.make(prefix: "key", at: Date(timeIntervalSince1970: 1_000))
        let later = Identifier.make(prefix: "key", at: Date(timeIntervalSince1970: 1_001))
        #expect(earlier < later)
        #expect(earlier.hasPrefix("key_") && earlier.count == 4 + 20)
    }

    @Test("page requests validate the limit and round-trip the cursor")
    func pageRequests() throws {
        #expect(try PageRequest(limit: nil, cursor: nil).limit == PageRequest.defaultLimit)
        #expect(throws: NeuroplexError.self) { try PageRequest(limit: 0, cursor: nil) }
        #expect(throws: NeuroplexError.self) { try PageRequest(limit: 1001, cursor: nil) }
        #expect(throws: NeuroplexError.self) { try PageRequest(limit: 10, cursor: "not-a-cursor") }
        let cursor = PageRequest.cursor(after: "key_123")
        #expect(try PageRequest(limit: 10, cursor: cursor).after == "key_123")
    }

    @Test("JSON log lines are one object per line with the metadata")
    func jsonLogLines() throws {
        let line = JSONLogHandler.renderForTesting(message: "hello \"world\"", metadata: ["request.id": "r1"])
        #expect(line.hasSuffix("\n"))
        #expect(line.dropLast().contains("\n") == false)
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        #expect(object?["msg"] as? String == "hello \"world\"")
        #expect(object?["request.id"] as? String == "r1")
        #expect(object?["level"] as? String == "info")
    }

    @Test("CRC-32 matches the standard check value and a byte-at-a-time reference at every length and offset")
    func crc32() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([UInt8]()) == 0)
        func reference(_ bytes: ArraySlice<UInt8>) -> UInt32 {
            var crc: UInt32 = 0xFFFF_FFFF
            for byte in bytes {
                crc ^= UInt32(byte)
                for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
            }
            return crc ^ 0xFFFF_FFFF
        }
        var generator = SystemRandomNumberGenerator()
        let data = (0..<300).map { _ in UInt8.random(in: 0...255, using: &generator) }
        for start in 0..<9 {
            for end in stride(from: start, through: data.count, by: 7) {
                #expect(CRC32.checksum(data[start..<end]) == reference(data[start..<end]))
            }
        }
    }
}

