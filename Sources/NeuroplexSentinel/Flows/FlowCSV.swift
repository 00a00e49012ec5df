/// Writes flows as CSV with CICFlowMeter's columns (``FlowRecord/csvColumns``), so that tools made for
/// CICFlowMeter's files and the CIC datasets read them. `Timestamp` is the flow's first packet in UTC, in
/// CICFlowMeter's `dd/MM/yyyy hh:mm:ss a` form.
public struct FlowCSVWriter {
    private var features: [Double] = []

    public init() {}

    public static var header: String { FlowRecord.csvColumns.joined(separator: ",") + "\n" }

    /// Appends the flow's row (with `label`, empty when unknown) to `out`.
    public mutating func append(_ flow: FlowRecord, label: String = "", to out: inout [UInt8]) {
        flow.features(into: &features)
        out.append(contentsOf: flow.flowID.utf8)
        out.append(UInt8(ascii: ","))
        out.append(contentsOf: flow.source.description.utf8)
        out.append(UInt8(ascii: ","))
        Self.integer(Int64(flow.sourcePort), &out)
        out.append(UInt8(ascii: ","))
        out.append(contentsOf: flow.destination.description.utf8)
        out.append(UInt8(ascii: ","))
        Self.integer(Int64(flow.destinationPort), &out)
        out.append(UInt8(ascii: ","))
        Self.integer(Int64(flow.transport), &out)
        out.append(UInt8(ascii: ","))
        Self.timestamp(flow.start, &out)
        for value in features.dropFirst(2) {
            out.append(UInt8(ascii: ","))
            Self.number(value, &out)
        }
        out.append(UInt8(ascii: ","))
        for byte in label.utf8 where byte != UInt8(ascii: ",") && byte != UInt8(ascii: "\n") { out.append(byte) }
        out.append(UInt8(ascii: "\n"))
    }

    static func number(_ value: Double, _ out: inout [UInt8]) {
        if value == value.rounded(.towardZero), abs(value) < 1e15 {
            integer(Int64(value), &out)
        } else {
            out.append(contentsOf: value.description.utf8)
        }
    }

    static func integer(_ value: Int64, _ out: inout [UInt8]) {
        if value < 0 {
            out.append(UInt8(ascii: "-"))
            integer(-value, &out)
            return
        }
        if value >= 10 { integer(value / 10, &out) }
        out.append(UInt8(ascii: "0") + UInt8(value % 10))
    }

    static func timestamp(_ microseconds: Int64, _ out: inout [UInt8]) {
        let seconds = microseconds >= 0 ? microseconds / 1_000_000 : (microseconds - 999_999) / 1_000_000
        let (year, month, day) = civil(days: seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400)
        let ofDay = ((seconds % 86_400) + 86_400) % 86_400
        let hour = ofDay / 3600
        func two(_ value: Int64) {
            out.append(UInt8(ascii: "0") + UInt8(value / 10))
            out.append(UInt8(ascii: "0") + UInt8(value % 10))
        }
        two(day)
        out.append(UInt8(ascii: "/"))
        two(month)
        out.append(UInt8(ascii: "/"))
        integer(year, &out)
        out.append(UInt8(ascii: " "))
        two(hour % 12 == 0 ? 12 : hour % 12)
        out.append(UInt8(ascii: ":"))
        two(ofDay / 60 % 60)
        out.append(UInt8(ascii: ":"))
        two(ofDay % 60)
        out.append(contentsOf: (hour < 12 ? " AM" : " PM").utf8)
    }

    /// Year, month and day of a day count since 1970-01-01 (Howard Hinnant's civil-from-days).
    static func civil(days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
