/// One packet record of a capture, valid only inside the callback that receives it (its bytes point into the
/// reader's input).
public struct CapturedPacket {
    /// Capture time, microseconds since the Unix epoch (finer stamps are truncated to microseconds), at most
    /// ``maximumTime``.
    public var time: Int64
    /// The latest capture time a reader passes on (2^61 µs, some 73,000 years): the difference of any two times
    /// fits an `Int64`. A pcapng stamp beyond it is damage.
    public static let maximumTime: Int64 = 1 << 61
    /// The link-layer header type (`LINKTYPE_*`): 1 Ethernet, 101 raw IP, 113 Linux cooked, 276 Linux cooked v2…
    public var linkType: UInt32
    /// The captured bytes (may be shorter than the packet on the wire when a snap length cut it).
    public var data: UnsafeRawBufferPointer
    /// The packet's length on the wire.
    public var originalLength: Int
}

/// Where a capture stops being readable, and why: its byte offset from the start of the file.
public struct CaptureDamage: Codable, Sendable, Equatable, Error, CustomStringConvertible {
    public var offset: Int
    public var reason: String

    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }

    public var description: String { "damaged at byte \(offset): \(reason)" }
}

/// Reads pcap (microsecond and nanosecond, either byte order) and pcapng (several sections and interfaces, enhanced,
/// simple and obsolete packet blocks) from bytes fed in chunks of any size, so a capture is read with bounded memory:
/// only a record cut by a chunk boundary is copied. Reading stops at the first damaged or cut record; ``damage``
/// says where and why, and everything before it has been delivered.
public struct CaptureReader {
    public enum Format: String, Sendable { case pcap, pcapng }

    /// The largest record accepted: tcpdump's maximum snap length, and 16 MiB for a pcapng block.
    static let maximumPacket = 262_144
    static let maximumBlock = 16 << 20

    public private(set) var format: Format?
    /// Bytes consumed so far (the offset of the next record).
    public private(set) var offset = 0
    public private(set) var packets = 0
    /// Set when a record could not be read; nothing after it is delivered.
    public private(set) var damage: CaptureDamage?

    // pcap
    private var swapped = false
    private var nanoseconds = false
    private var linkType: UInt32 = 0
    private var snapLength = 0
    // pcapng: per interface of the current section, its link type and ticks per second.
    private var interfaces: [(linkType: UInt32, ticksPerSecond: UInt64)] = []
    private var headerRead = false
    /// A record cut by the end of the last chunk.
    private var pending: [UInt8] = []

    public init() {}

    /// The format of a capture from its first four bytes, or nil when they are not a capture's.
    public static func detect(_ prefix: some Sequence<UInt8>) -> Format? {
        let bytes = Array(prefix.prefix(4))
        guard bytes.count == 4 else { return nil }
        switch (bytes[0], bytes[1], bytes[2], bytes[3]) {
        case (0xD4, 0xC3, 0xB2, 0xA1), (0xA1, 0xB2, 0xC3, 0xD4), (0x4D, 0x3C, 0xB2, 0xA1), (0xA1, 0xB2, 0x3C, 0x4D): return .pcap
        case (0x0A, 0x0D, 0x0D, 0x0A): return .pcapng
        default: return nil
        }
    }

    /// Reads the records in `chunk` (after what earlier chunks left), calling `body` for each packet in order.
    /// Does nothing once the capture is damaged.
    public mutating func feed(_ chunk: UnsafeRawBufferPointer, _ body: (CapturedPacket) -> Void) {
        guard damage == nil, chunk.count > 0 else { return }
        var rest = chunk
        if !pending.isEmpty {
            // Complete the cut record from the new chunk, one piece at a time: first its header, then its body.
            while damage == nil, !rest.isEmpty {
                let (need, known) = pendingNeed()
                let take = min(need - pending.count, rest.count)
                if take > 0 {
                    pending.append(contentsOf: rest[rest.startIndex..<(rest.startIndex + take)])
                    rest = UnsafeRawBufferPointer(rebasing: rest[(rest.startIndex + take)...])
                }
                guard pending.count == need else { return }
                if known {
                    let record = pending
                    pending.removeAll(keepingCapacity: true)
                    record.withUnsafeBytes { bytes in _ = consume(bytes, body) }
                    break
                }
                // The header is complete: its length is now known (or it is damaged).
                if case .damaged(let reason) = lengthOf(pending.withUnsafeBytes { $0 }) {
                    damage = CaptureDamage(offset: offset, reason: reason)
                    return
                }
            }
            guard damage == nil else { return }
        }
        let used = consume(rest, body)
        if damage == nil, used < rest.count {
            pending.append(contentsOf: rest[(rest.startIndex + used)...])
            if case .damaged(let reason) = lengthOf(pending.withUnsafeBytes { $0 }) {
                damage = CaptureDamage(offset: offset, reason: reason)
            }
        }
    }

    /// Ends the capture: a record left incomplete is damage (a truncated file).
    public mutating func finish() {
        guard damage == nil else { return }
        if !headerRead {
            damage = CaptureDamage(offset: 0, reason: "the capture is shorter than its file header")
        } else if !pending.isEmpty {
            let (need, known) = pendingNeed()
            damage = CaptureDamage(
                offset: offset,
                reason: known
                    ? "the capture ends inside a record: \(pending.count) of its \(need) bytes are there"
                    : "the capture ends inside a record's header")
        }
    }

    private enum Length { case needMore(Int), complete(Int), damaged(String) }

    /// How many bytes the pending record needs, and whether that is its whole length (or only its header's).
    private func pendingNeed() -> (Int, Bool) {
        switch pending.withUnsafeBytes({ lengthOf($0) }) {
        case .needMore(let header): return (header, false)
        case .complete(let length): return (length, true)
        case .damaged: return (pending.count, false)
        }
    }

    /// The length of the record at the start of `bytes`, as far as its header tells.
    private func lengthOf(_ bytes: UnsafeRawBufferPointer) -> Length {
        if !headerRead {
            guard bytes.count >= 4 else { return .needMore(4) }
            switch Self.detect(bytes.prefix(4)) {
            case .pcap: return bytes.count >= 24 ? .complete(24) : .needMore(24)
            case .pcapng:
                guard bytes.count >= 12 else { return .needMore(12) }
                return blockLength(bytes)
            case nil: return .damaged("not a pcap or pcapng capture (the first bytes are not a capture's magic number)")
            }
        }
        switch format {
        case .pcap:
            guard bytes.count >= 16 else { return .needMore(16) }
            let captured = Int(read32(bytes, 8, swapped))
            guard captured <= max(Self.maximumPacket, snapLength) else {
                return .damaged("a packet record claims \(captured) captured bytes, more than the capture's limit")
            }
            return .complete(16 + captured)
        case .pcapng:
            guard bytes.count >= 12 else { return .needMore(12) }
            return blockLength(bytes)
        case nil:
            return .damaged("no file header")
        }
    }

    private func blockLength(_ bytes: UnsafeRawBufferPointer) -> Length {
        var swap = swapped
        if read32(bytes, 0, false) == 0x0A0D_0D0A {
            // A section header: its byte-order magic says how to read its length.
            let magic = read32(bytes, 8, false)
            if magic == 0x1A2B_3C4D {
                swap = false
            } else if magic == 0x4D3C_2B1A {
                swap = true
            } else {
                return .damaged("a pcapng section header has no valid byte-order magic")
            }
        }
        let length = Int(read32(bytes, 4, swap))
        guard length >= 12, length % 4 == 0, length <= Self.maximumBlock else {
            return .damaged("a pcapng block claims a length of \(length) bytes")
        }
        return .complete(length)
    }

    /// Reads whole records from the start of `bytes`; returns how many bytes they took.
    private mutating func consume(_ bytes: UnsafeRawBufferPointer, _ body: (CapturedPacket) -> Void) -> Int {
        var position = 0
        while damage == nil {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[position...])
            let length: Int
            switch lengthOf(rest) {
            case .needMore: return position
            case .damaged(let reason):
                damage = CaptureDamage(offset: offset, reason: reason)
                return position
            case .complete(let count):
                guard count <= rest.count else { return position }
                length = count
            }
            let record = UnsafeRawBufferPointer(rebasing: rest[0..<length])
            if let reason = read(record, body) {
                damage = CaptureDamage(offset: offset, reason: reason)
                return position
            }
            position += length
            offset += length
        }
        return position
    }

    /// Reads one complete record; returns why it is damaged, if it is.
    private mutating func read(_ record: UnsafeRawBufferPointer, _ body: (CapturedPacket) -> Void) -> String? {
        if !headerRead {
            headerRead = true
            format = Self.detect(record.prefix(4))
            if format == .pcap { return readFileHeader(record) }
        }
        switch format {
        case .pcap:
            let seconds = Int64(read32(record, 0, swapped))
            let fraction = Int64(read32(record, 4, swapped))
            let captured = Int(read32(record, 8, swapped))
            let original = Int(read32(record, 12, swapped))
            guard fraction < (nanoseconds ? 1_000_000_000 : 1_000_000) else {
                return "a packet record's sub-second time (\(fraction)) is out of range"
            }
            packets += 1
            body(CapturedPacket(
                time: seconds * 1_000_000 + (nanoseconds ? fraction / 1000 : fraction), linkType: linkType,
                data: UnsafeRawBufferPointer(rebasing: record[16..<(16 + captured)]), originalLength: max(original, captured)))
            return nil
        case .pcapng:
            return readBlock(record, body)
        case nil:
            return "not a capture"
        }
    }

    private mutating func readFileHeader(_ header: UnsafeRawBufferPointer) -> String? {
        let magic = read32(header, 0, false)
        swapped = magic == 0xD4C3_B2A1 || magic == 0x4D3C_B2A1
        nanoseconds = magic == 0xA1B2_3C4D || magic == 0x4D3C_B2A1
        let major = read16(header, 4, swapped)
        guard major == 2 else { return "pcap version \(major) is not 2" }
        snapLength = Int(read32(header, 16, swapped))
        // The upper bits of the link-type field carry FCS information (the "LinkType and additional information").
        linkType = read32(header, 20, swapped) & 0x0FFF_FFFF
        return nil
    }

    private mutating func readBlock(_ block: UnsafeRawBufferPointer, _ body: (CapturedPacket) -> Void) -> String? {
        let type = read32(block, 0, false) == 0x0A0D_0D0A ? 0x0A0D_0D0A : read32(block, 0, swapped)
        if type == 0x0A0D_0D0A {
            swapped = read32(block, 8, false) == 0x4D3C_2B1A
            interfaces.removeAll()
        }
        let length = Int(read32(block, 4, swapped))
        guard Int(read32(block, length - 4, swapped)) == length else {
            return "a pcapng block's trailing length does not match its leading length"
        }
        switch type {
        case 0x0A0D_0D0A:
            guard length >= 28 else { return "a pcapng section header is too short" }
        case 1:  // Interface Description Block
            guard length >= 20 else { return "a pcapng interface description is too short" }
            let link = UInt32(read16(block, 8, swapped))
            var ticks: UInt64 = 1_000_000
            // Options: if_tsresol (9) changes the time unit.
            var position = 16
            while position + 4 <= length - 4 {
                let code = read16(block, position, swapped)
                let size = Int(read16(block, position + 2, swapped))
                if code == 0 { break }
                if code == 9, size >= 1, position + 4 < length - 4 {
                    let resolution = block.load(fromByteOffset: position + 4, as: UInt8.self)
                    let exponent = Int(resolution & 0x7F)
                    if resolution & 0x80 != 0 {
                        guard exponent < 64 else { return "an interface's time resolution 2^-\(exponent) is out of range" }
                        ticks = 1 << UInt64(exponent)
                    } else {
                        guard exponent <= 19 else { return "an interface's time resolution 10^-\(exponent) is out of range" }
                        ticks = (0..<exponent).reduce(1) { value, _ in value * 10 }
                    }
                }
                position += 4 + (size + 3) & ~3
            }
            interfaces.append((link, ticks))
        case 6, 2:  // Enhanced Packet Block; the obsolete Packet Block has the same layout (a 16-bit interface id)
            guard length >= 32 else { return "a pcapng packet block is too short" }
            let interface = type == 6 ? Int(read32(block, 8, swapped)) : Int(read16(block, 8, swapped))
            guard interface < interfaces.count else { return "a packet names interface \(interface), which was not described" }
            let stamp = UInt64(read32(block, 12, swapped)) << 32 | UInt64(read32(block, 16, swapped))
            let captured = Int(read32(block, 20, swapped))
            let original = Int(read32(block, 24, swapped))
            guard captured <= length - 32 else { return "a pcapng packet block's captured length exceeds the block" }
            let ticks = interfaces[interface].ticksPerSecond
            // 128-bit arithmetic: a 64-bit stamp times 10^6 cannot overflow, whatever the resolution.
            let microseconds = ticks == 1_000_000 ? UInt128(stamp) : UInt128(stamp) * 1_000_000 / UInt128(ticks)
            guard microseconds <= UInt128(CapturedPacket.maximumTime) else {
                return "a packet's time stamp (\(stamp) at \(ticks) per second) is out of range"
            }
            let time = Int64(microseconds)
            packets += 1
            body(CapturedPacket(
                time: time, linkType: interfaces[interface].linkType,
                data: UnsafeRawBufferPointer(rebasing: block[28..<(28 + captured)]), originalLength: max(original, captured)))
        case 3:  // Simple Packet Block: interface 0, no time
            guard length >= 16, let first = interfaces.first else { return "a simple packet block comes before any interface" }
            let original = Int(read32(block, 8, swapped))
            let captured = min(original, length - 16)
            packets += 1
            body(CapturedPacket(
                time: 0, linkType: first.linkType, data: UnsafeRawBufferPointer(rebasing: block[12..<(12 + captured)]),
                originalLength: original))
        default:
            break  // name resolution, statistics, custom blocks: not needed
        }
        return nil
    }
}

@inline(__always)
func read32(_ bytes: UnsafeRawBufferPointer, _ at: Int, _ swapped: Bool) -> UInt32 {
    let value = bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self)
    return swapped ? value.byteSwapped : value
}

@inline(__always)
func read16(_ bytes: UnsafeRawBufferPointer, _ at: Int, _ swapped: Bool) -> UInt16 {
    let value = bytes.loadUnaligned(fromByteOffset: at, as: UInt16.self)
    return swapped ? value.byteSwapped : value
}
