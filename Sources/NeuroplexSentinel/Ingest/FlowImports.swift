import Foundation
import NeuroplexCore

/// Flow records made elsewhere, read as ``FlowObservation``s: Zeek's `conn.log` (TSV with a `#fields` header) and
/// CSV with CICFlowMeter's column names (as CICFlowMeter and the CIC datasets write them, in their several
/// spellings). Bad lines are returned with their number and reason.
public enum FlowImports {
    // MARK: Zeek

    /// A Zeek `conn.log` in its TSV form: `#separator`, `#fields` (columns are found by name), `-` for unset and
    /// `(empty)` for empty values. SYN, RST and FIN counts come from `history` (`S`/`s`, `R`/`r`, `F`/`f`).
    public static func zeek(_ text: String) throws -> (flows: [FlowObservation], rejected: [RejectedLine]) {
        var separator: Character = "\t"
        var columns: [String: Int] = [:]
        var flows: [FlowObservation] = []
        var rejected: [RejectedLine] = []
        var number = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                if line.hasPrefix("#separator ") {
                    let value = line.dropFirst("#separator ".count)
                    if value.hasPrefix("\\x"), let code = UInt8(value.dropFirst(2), radix: 16) {
                        separator = Character(UnicodeScalar(code))
                    } else if let first = value.first {
                        separator = first
                    }
                } else if line.hasPrefix("#fields") {
                    let names = line.split(separator: separator, omittingEmptySubsequences: false).dropFirst()
                    columns = Dictionary(names.enumerated().map { (String($1), $0) }, uniquingKeysWith: { first, _ in first })
                }
                continue
            }
            guard !columns.isEmpty else {
                throw NeuroplexError.invalid("#fields", "line \(number): a Zeek log names its columns in a #fields line before the records")
            }
            for required in ["ts", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto"] where columns[required] == nil {
                throw NeuroplexError.invalid("#fields", "the #fields line has no '\(required)' column")
            }
            let values = line.split(separator: separator, omittingEmptySubsequences: false)
            func field(_ name: String) -> Substring? {
                guard let index = columns[name], index < values.count else { return nil }
                let value = values[index]
                return value == "-" || value == "(empty)" ? nil : value
            }
            func int(_ name: String) -> Int { field(name).flatMap { Int($0) } ?? 0 }
            guard let stamp = field("ts").flatMap({ Double($0) }), let source = field("id.orig_h"),
                let sourcePort = field("id.orig_p").flatMap({ Int($0) }), let destination = field("id.resp_h"),
                let destinationPort = field("id.resp_p").flatMap({ Int($0) })
            else {
                rejected.append(RejectedLine(line: number, reason: "ts, addresses and ports must be set and numeric"))
                continue
            }
            let history = field("history").map(String.init) ?? ""
            let transport = TransportProtocol(rawValue: field("proto").map { $0.lowercased() } ?? "") ?? .other
            let duration = field("duration").flatMap { Double($0) } ?? 0
            flows.append(FlowObservation(
                id: field("uid").map(String.init) ?? "z\(number)", start: stamp, end: stamp + duration,
                source: String(source), sourcePort: sourcePort, destination: String(destination),
                destinationPort: destinationPort, transport: transport, forwardPackets: int("orig_pkts"),
                backwardPackets: int("resp_pkts"), forwardBytes: int("orig_bytes"), backwardBytes: int("resp_bytes"),
                synCount: history.filter { $0 == "S" || $0 == "s" }.count,
                rstCount: history.filter { $0 == "R" || $0 == "r" }.count,
                finCount: history.filter { $0 == "F" || $0 == "f" }.count))
        }
        return (flows, rejected)
    }

    // MARK: CICFlowMeter CSV

    /// The column spellings of each field across CICFlowMeter versions and the CIC datasets, compared after
    /// lower-casing and removing spaces and underscores.
    static let aliases: [String: [String]] = [
        "id": ["flowid"],
        "source": ["srcip", "sourceip"],
        "sourcePort": ["srcport", "sourceport"],
        "destination": ["dstip", "destinationip"],
        "destinationPort": ["dstport", "destinationport"],
        "protocol": ["protocol"],
        "timestamp": ["timestamp"],
        "duration": ["flowduration"],
        "forwardPackets": ["totalfwdpacket", "totalfwdpackets", "totfwdpkts"],
        "backwardPackets": ["totalbwdpackets", "totalbwdpacket", "totbwdpkts", "totalbackwardpackets"],
        "forwardBytes": ["totallengthoffwdpacket", "totallengthoffwdpackets", "totlenfwdpkts", "fwdpacketslengthtotal"],
        "backwardBytes": ["totallengthofbwdpacket", "totallengthofbwdpackets", "totlenbwdpkts", "bwdpacketslengthtotal"],
        "syn": ["synflagcount", "synflagcnt"],
        "rst": ["rstflagcount", "rstflagcnt"],
        "fin": ["finflagcount", "finflagcnt"],
    ]

    /// CSV with CICFlowMeter's columns. `Flow Duration` is in microseconds, as CICFlowMeter writes it; `Timestamp`
    /// may be ISO 8601, Unix seconds, or CICFlowMeter's `dd/MM/yyyy hh:mm:ss a` (and 24-hour) forms, read as UTC.
    public static func cicFlowMeter(_ text: String) throws -> (flows: [FlowObservation], rejected: [RejectedLine]) {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).makeIterator()
        guard let headerLine = lines.next() else { throw NeuroplexError.invalid("", "the CSV is empty") }
        let header = splitCSV(headerLine.hasSuffix("\r") ? headerLine.dropLast() : headerLine)
        func key(_ name: String) -> String { name.lowercased().filter { $0 != " " && $0 != "_" && $0 != "\u{FEFF}" } }
        var index: [String: Int] = [:]
        for (position, name) in header.enumerated() {
            let normalised = key(name)
            for (field, spellings) in aliases where index[field] == nil && spellings.contains(normalised) { index[field] = position }
        }
        let required = ["source", "sourcePort", "destination", "destinationPort", "protocol", "timestamp"]
        let missing = required.filter { index[$0] == nil }
        guard missing.isEmpty else {
            throw NeuroplexError.invalid("header", "the CSV lacks CICFlowMeter's columns for \(missing.joined(separator: ", "))")
        }
        var flows: [FlowObservation] = []
        var rejected: [RejectedLine] = []
        var number = 1
        while let raw = lines.next() {
            number += 1
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            if line.isEmpty { continue }
            let values = splitCSV(line)
            func value(_ field: String) -> String? {
                guard let position = index[field], position < values.count else { return nil }
                return values[position].trimmingCharacters(in: .whitespaces)
            }
            func count(_ field: String) -> Int { value(field).flatMap { Double($0) }.flatMap(Int.init(saturating:)) ?? 0 }
            guard let source = value("source"), !source.isEmpty, let destination = value("destination"), !destination.isEmpty,
                let sourcePort = value("sourcePort").flatMap({ Int($0) }),
                let destinationPort = value("destinationPort").flatMap({ Int($0) }),
                let protocolNumber = value("protocol").flatMap({ Int($0) })
            else {
                rejected.append(RejectedLine(line: number, reason: "addresses, ports and protocol must be set and numeric"))
                continue
            }
            guard let stamp = value("timestamp"), let start = flowTime(stamp) else {
                rejected.append(RejectedLine(line: number, reason: "the timestamp '\(value("timestamp") ?? "")' is not one CICFlowMeter writes"))
                continue
            }
            let microseconds = value("duration").flatMap { Double($0) } ?? 0
            let transport: TransportProtocol = switch protocolNumber {
            case 6: .tcp
            case 17: .udp
            case 1, 58: .icmp
            default: .other
            }
            flows.append(FlowObservation(
                id: value("id").flatMap { $0.isEmpty ? nil : $0 }.map { "\($0)#\(number)" } ?? "f\(number)",
                start: start, end: start + max(0, microseconds) / 1_000_000, source: source, sourcePort: sourcePort,
                destination: destination, destinationPort: destinationPort, transport: transport,
                forwardPackets: count("forwardPackets"), backwardPackets: count("backwardPackets"),
                forwardBytes: count("forwardBytes"), backwardBytes: count("backwardBytes"), synCount: count("syn"),
                rstCount: count("rst"), finCount: count("fin")))
        }
        return (flows, rejected)
    }

    /// CICFlowMeter's timestamp forms, as UTC.
    static func flowTime(_ text: String) -> Double? {
        if let parsed = Timestamps.parse(text) { return parsed }
        // dd/MM/yyyy hh:mm:ss a, dd/MM/yyyy HH:mm:ss, dd/MM/yyyy HH:mm
        let parts = text.split(separator: " ")
        guard parts.count >= 2 else { return nil }
        let date = parts[0].split(separator: "/").compactMap { Int($0) }
        var clock = parts[1].split(separator: ":").compactMap { Int($0) }
        guard date.count == 3, clock.count >= 2 else { return nil }
        if clock.count == 2 { clock.append(0) }
        var hour = clock[0]
        if parts.count >= 3 {
            let marker = parts[2].uppercased()
            guard hour >= 1 && hour <= 12 else { return nil }
            if marker == "PM" && hour != 12 { hour += 12 } else if marker == "AM" && hour == 12 { hour = 0 }
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let components = DateComponents(year: date[2], month: date[1], day: date[0], hour: hour, minute: clock[1], second: clock[2])
        guard components.isValidDate(in: calendar), let day = calendar.date(from: components) else { return nil }
        return day.timeIntervalSince1970
    }

    /// One CSV record's fields (RFC 4180 quoting; a record does not span lines here).
    static func splitCSV(_ line: Substring) -> [String] {
        var fields: [String] = []
        var current = ""
        var quoted = false
        var index = line.startIndex
        while index < line.endIndex {
            let character = line[index]
            if quoted {
                if character == "\"" {
                    let next = line.index(after: index)
                    if next < line.endIndex && line[next] == "\"" {
                        current.append("\"")
                        index = next
                    } else {
                        quoted = false
                    }
                } else {
                    current.append(character)
                }
            } else if character == "\"" {
                quoted = true
            } else if character == "," {
                fields.append(current)
                current = ""
            } else {
                current.append(character)
            }
            index = line.index(after: index)
        }
        fields.append(current)
        return fields
    }
}

extension Int {
    /// `value` toward zero, limited to ±2^53 (an integer a `Double` holds exactly); nil for NaN. Text such as "1e300",
    /// "Infinity" or "NaN" (CICFlowMeter writes the last two) is then no trap, as `Int(_: Double)` is.
    init?(saturating value: Double) {
        guard !value.isNaN else { return nil }
        self = Int(Swift.min(Swift.max(value, -9_007_199_254_740_992), 9_007_199_254_740_992))
    }
}
