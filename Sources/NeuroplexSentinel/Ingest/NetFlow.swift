import NeuroplexCore

/// NetFlow v5 and v9 and IPFIX (RFC 7011) export packets decoded to ``FlowObservation``s (one per flow record, in
/// the direction the exporter saw it: backward counts are 0 unless the template carries reverse counters).
///
/// Templates (v9 and IPFIX) are kept per exporter and observation domain, as RFC 7011 scopes them; a data set whose
/// template has not arrived yet is counted in ``skippedRecords`` and dropped, since it cannot be read without it.
public struct NetFlowDecoder {
    struct TemplateKey: Hashable {
        var exporter: String
        var domain: UInt32
        var id: UInt16
    }

    struct Field {
        var type: UInt16
        var enterprise: UInt32?
        /// 65535: variable length (IPFIX).
        var length: Int
    }

    private var templates: [TemplateKey: [Field]] = [:]
    /// Options templates: their data (exporter statistics, sampling) is recognised and set aside.
    private var optionsTemplates: Set<TemplateKey> = []
    /// Data records dropped because their template was unknown.
    public private(set) var skippedRecords = 0
    private var counter = 0

    public init() {}

    /// Decodes one export packet from `exporter` (its address, which scopes templates).
    /// - Throws: `validation_failed` for a packet that is not NetFlow v5/v9 or IPFIX, or is cut short.
    public mutating func decode(_ packet: [UInt8], exporter: String) throws -> [FlowObservation] {
        var reader = Reader(packet)
        let version = try reader.u16()
        switch version {
        case 5: return try v5(&reader, exporter: exporter)
        case 9: return try v9(&reader, exporter: exporter)
        case 10: return try ipfix(&reader, exporter: exporter, length: packet.count)
        default: throw NeuroplexError.invalid("version", "not a NetFlow v5/v9 or IPFIX packet (version \(version))")
        }
    }

    // MARK: v5

    private mutating func v5(_ reader: inout Reader, exporter: String) throws -> [FlowObservation] {
        let count = Int(try reader.u16())
        let uptime = Double(try reader.u32())
        let seconds = Double(try reader.u32())
        let nanoseconds = Double(try reader.u32())
        try reader.skip(8)  // sequence, engine type and id, sampling
        guard count <= 30, reader.remaining >= count * 48 else {
            throw NeuroplexError.invalid("count", "a NetFlow v5 packet holds \(count) records but has room for \(reader.remaining / 48)")
        }
        let exported = seconds + nanoseconds / 1e9
        var flows: [FlowObservation] = []
        for _ in 0..<count {
            let source = Self.ipv4(try reader.bytes(4))
            let destination = Self.ipv4(try reader.bytes(4))
            try reader.skip(8)  // next hop, input and output interfaces
            let packets = Int(try reader.u32())
            let octets = Int(try reader.u32())
            let first = Double(try reader.u32())
            let last = Double(try reader.u32())
            let sourcePort = Int(try reader.u16())
            let destinationPort = Int(try reader.u16())
            try reader.skip(1)
            let flags = try reader.u8()
            let proto = try reader.u8()
            try reader.skip(9)  // tos, AS numbers, masks, padding
            flows.append(make(
                exporter: exporter, start: exported - (uptime - first) / 1000, end: exported - (uptime - last) / 1000,
                source: source, sourcePort: sourcePort, destination: destination, destinationPort: destinationPort,
                proto: proto, packets: packets, octets: octets, flags: flags))
        }
        return flows
    }

    // MARK: v9

    private mutating func v9(_ reader: inout Reader, exporter: String) throws -> [FlowObservation] {
        try reader.skip(2)  // record count
        let uptime = Double(try reader.u32())
        let exported = Double(try reader.u32())
        try reader.skip(4)  // sequence
        let domain = try reader.u32()
        var flows: [FlowObservation] = []
        while reader.remaining >= 4 {
            let setID = try reader.u16()
            let length = Int(try reader.u16())
            guard length >= 4, reader.remaining >= length - 4 else {
                throw NeuroplexError.invalid("flowset", "a v9 FlowSet of \(length) bytes does not fit the packet")
            }
            var set = Reader(try reader.bytes(length - 4))
            switch setID {
            case 0: try readTemplates(&set, exporter: exporter, domain: domain, ipfix: false)
            case 1: try readOptionsTemplates(&set, exporter: exporter, domain: domain, ipfix: false)
            case 256...:
                flows += try readData(&set, key: TemplateKey(exporter: exporter, domain: domain, id: setID)) { record in
                    // v9 times are system uptime in milliseconds.
                    let first = record.uptimeFirst.map { exported - (uptime - $0) / 1000 }
                    let last = record.uptimeLast.map { exported - (uptime - $0) / 1000 }
                    return (first ?? exported, last ?? first ?? exported)
                }
            default: break
            }
        }
        return flows
    }

    // MARK: IPFIX

    private mutating func ipfix(_ reader: inout Reader, exporter: String, length: Int) throws -> [FlowObservation] {
        let declared = Int(try reader.u16())
        guard declared <= length, declared >= 16 else {
            throw NeuroplexError.invalid("length", "the IPFIX message says \(declared) bytes but \(length) arrived")
        }
        let exported = Double(try reader.u32())
        try reader.skip(4)  // sequence
        let domain = try reader.u32()
        var flows: [FlowObservation] = []
        var remaining = declared - 16
        while remaining >= 4 {
            let setID = try reader.u16()
            let setLength = Int(try reader.u16())
            guard setLength >= 4, setLength <= remaining else {
                throw NeuroplexError.invalid("set", "an IPFIX set of \(setLength) bytes does not fit the message")
            }
            remaining -= setLength
            var set = Reader(try reader.bytes(setLength - 4))
            switch setID {
            case 2: try readTemplates(&set, exporter: exporter, domain: domain, ipfix: true)
            case 3: try readOptionsTemplates(&set, exporter: exporter, domain: domain, ipfix: true)
            case 256...:
                flows += try readData(&set, key: TemplateKey(exporter: exporter, domain: domain, id: setID)) { record in
                    let start = record.absoluteStart ?? exported
                    return (start, record.absoluteEnd ?? start)
                }
            default: break
            }
        }
        return flows
    }

    // MARK: Templates and data

    private mutating func readTemplates(_ set: inout Reader, exporter: String, domain: UInt32, ipfix: Bool) throws {
        while set.remaining >= 4 {
            let id = try set.u16()
            let count = Int(try set.u16())
            if id == 0 && count == 0 { break }  // padding
            guard id >= 256 else { throw NeuroplexError.invalid("template", "template id \(id) is below 256") }
            var fields: [Field] = []
            for _ in 0..<count {
                var type = try set.u16()
                let length = Int(try set.u16())
                var enterprise: UInt32?
                if ipfix && type & 0x8000 != 0 {
                    type &= 0x7FFF
                    enterprise = try set.u32()
                }
                guard length > 0, ipfix || length != 65535 else {
                    throw NeuroplexError.invalid("template", "field \(type) has length \(length)")
                }
                fields.append(Field(type: type, enterprise: enterprise, length: length))
            }
            // A template without fields withdraws one (RFC 7011 §8.1); kept, it would make records of no bytes,
            // and a data set would never end.
            templates[TemplateKey(exporter: exporter, domain: domain, id: id)] = fields.isEmpty ? nil : fields
        }
    }

    /// Notes the ids of options templates (v9 FlowSet 1, IPFIX set 3), so that their data is not taken for flows.
    private mutating func readOptionsTemplates(_ set: inout Reader, exporter: String, domain: UInt32, ipfix: Bool) throws {
        while set.remaining >= 6 {
            let id = try set.u16()
            if ipfix {
                let count = Int(try set.u16())
                try set.skip(2)  // scope field count
                for _ in 0..<count {
                    let type = try set.u16()
                    try set.skip(2)
                    if type & 0x8000 != 0 { try set.skip(4) }
                }
            } else {
                let scopeLength = Int(try set.u16())
                let optionLength = Int(try set.u16())
                try set.skip(scopeLength + optionLength)
            }
            guard id >= 256 else { break }
            optionsTemplates.insert(TemplateKey(exporter: exporter, domain: domain, id: id))
        }
    }

    /// What a data record says, before its times are placed.
    struct Record {
        var source = "", destination = ""
        var sourcePort = 0, destinationPort = 0
        var proto: UInt8 = 0, flags: UInt8 = 0
        var packets = 0, octets = 0, reversePackets = 0, reverseOctets = 0
        var uptimeFirst: Double?, uptimeLast: Double?
        var absoluteStart: Double?, absoluteEnd: Double?
    }

    private mutating func readData(
        _ set: inout Reader, key: TemplateKey, times: (Record) -> (Double, Double)
    ) throws -> [FlowObservation] {
        if optionsTemplates.contains(key) { return [] }
        guard let fields = templates[key] else {
            // Without its template the set cannot be split into records; count what it holds at least once.
            skippedRecords += 1
            return []
        }
        let fixed = fields.allSatisfy { $0.length != 65535 }
        let minimum = fields.reduce(0) { $0 + ($1.length == 65535 ? 1 : $1.length) }
        var flows: [FlowObservation] = []
        while set.remaining >= max(minimum, 1) {
            if fixed && set.remaining < minimum { break }
            var record = Record()
            for field in fields {
                var length = field.length
                if length == 65535 {
                    length = Int(try set.u8())
                    if length == 255 { length = Int(try set.u16()) }
                }
                let value = try set.bytes(length)
                switch field.enterprise {
                case nil: Self.apply(field.type, value, to: &record)
                // RFC 5103's reverse information elements: a biflow's counters for the other direction.
                case 29305?: Self.applyReverse(field.type, value, to: &record)
                default: break
                }
            }
            let (start, end) = times(record)
            flows.append(make(
                exporter: key.exporter, start: start, end: end, source: record.source, sourcePort: record.sourcePort,
                destination: record.destination, destinationPort: record.destinationPort, proto: record.proto,
                packets: record.packets, octets: record.octets, flags: record.flags,
                backwardPackets: record.reversePackets, backwardOctets: record.reverseOctets))
        }
        return flows
    }

    /// Information elements by their IANA numbers (NetFlow v9 uses the same numbers for these).
    static func apply(_ type: UInt16, _ value: ArraySlice<UInt8>, to record: inout Record) {
        func number() -> UInt64 { value.reduce(0) { $0 << 8 | UInt64($1) } }
        switch type {
        case 1, 85: record.octets = Int(clamping: number())  // octetDeltaCount, octetTotalCount
        case 2, 86: record.packets = Int(clamping: number())  // packetDeltaCount, packetTotalCount
        case 23: record.reverseOctets = Int(clamping: number())  // v9 OUT_BYTES
        case 24: record.reversePackets = Int(clamping: number())  // v9 OUT_PKTS
        case 4: record.proto = UInt8(truncatingIfNeeded: number())
        case 6: record.flags = UInt8(truncatingIfNeeded: number())
        // Ports are 16 bits; a template may give the field more bytes (whose number would overflow an Int).
        case 7: record.sourcePort = Int(UInt16(truncatingIfNeeded: number()))
        case 11: record.destinationPort = Int(UInt16(truncatingIfNeeded: number()))
        case 8: record.source = ipv4(value)
        case 12: record.destination = ipv4(value)
        case 27: record.source = ipv6(value)
        case 28: record.destination = ipv6(value)
        case 21: record.uptimeLast = Double(number())
        case 22: record.uptimeFirst = Double(number())
        case 150: record.absoluteStart = Double(number())
        case 151: record.absoluteEnd = Double(number())
        case 152: record.absoluteStart = Double(number()) / 1000
        case 153: record.absoluteEnd = Double(number()) / 1000
        default: break
        }
    }

    static func applyReverse(_ type: UInt16, _ value: ArraySlice<UInt8>, to record: inout Record) {
        let number = value.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        switch type {
        case 1, 85: record.reverseOctets = Int(clamping: number)
        case 2, 86: record.reversePackets = Int(clamping: number)
        case 6: record.flags |= UInt8(truncatingIfNeeded: number)
        default: break
        }
    }

    private mutating func make(
        exporter: String, start: Double, end: Double, source: String, sourcePort: Int, destination: String,
        destinationPort: Int, proto: UInt8, packets: Int, octets: Int, flags: UInt8, backwardPackets: Int = 0,
        backwardOctets: Int = 0
    ) -> FlowObservation {
        counter += 1
        let transport: TransportProtocol = switch proto {
        case 6: .tcp
        case 17: .udp
        case 1, 58: .icmp
        default: .other
        }
        // Exported flags are the OR of every packet's: a flag seen counts once.
        return FlowObservation(
            id: "nf:\(exporter):\(counter)", start: start, end: max(start, end), source: source, sourcePort: sourcePort,
            destination: destination, destinationPort: destinationPort, transport: transport, forwardPackets: packets,
            backwardPackets: backwardPackets, forwardBytes: octets, backwardBytes: backwardOctets,
            synCount: flags & 0x02 != 0 ? 1 : 0, rstCount: flags & 0x04 != 0 ? 1 : 0, finCount: flags & 0x01 != 0 ? 1 : 0)
    }

    static func ipv4(_ bytes: ArraySlice<UInt8>) -> String {
        guard bytes.count == 4 else { return "" }
        return bytes.map(String.init).joined(separator: ".")
    }

    static func ipv6(_ bytes: ArraySlice<UInt8>) -> String {
        guard bytes.count == 16 else { return "" }
        let groups = stride(from: bytes.startIndex, to: bytes.endIndex, by: 2).map {
            String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16)
        }
        return groups.joined(separator: ":")
    }

    /// Big-endian reads that throw past the end.
    struct Reader {
        let bytes: [UInt8]
        var offset = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }
        init(_ slice: ArraySlice<UInt8>) { self.bytes = Array(slice) }

        var remaining: Int { bytes.count - offset }

        mutating func bytes(_ count: Int) throws -> ArraySlice<UInt8> {
            guard count >= 0, remaining >= count else {
                throw NeuroplexError.invalid("packet", "the packet ends \(count - remaining) bytes early at offset \(offset)")
            }
            defer { offset += count }
            return bytes[offset..<(offset + count)]
        }

        mutating func skip(_ count: Int) throws { _ = try bytes(count) }
        mutating func u8() throws -> UInt8 { try bytes(1).first! }
        mutating func u16() throws -> UInt16 { let b = try bytes(2); return UInt16(b[b.startIndex]) << 8 | UInt16(b[b.startIndex + 1]) }
        mutating func u32() throws -> UInt32 { let b = try bytes(4); return b.reduce(0) { $0 << 8 | UInt32($1) } }
    }
}
