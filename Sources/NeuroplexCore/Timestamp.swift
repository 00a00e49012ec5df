public import struct Foundation.Date
import Foundation

/// RFC 3339 UTC timestamps, the one textual form of time on the wire and in the database.
public enum Timestamp {
    /// `2026-11-23T05:30:00.123Z`: UTC, millisecond precision. Strings of this form sort in time order.
    ///
    /// Formatted by hand with `gmtime_r`: it runs for every timestamp of every response, and Foundation's
    /// format styles cost several microseconds each.
    public static func string(_ date: Date) -> String {
        let totalMillis = millisecondsSince1970(date)
        var seconds = time_t(totalMillis >= 0 ? totalMillis / 1000 : (totalMillis - 999) / 1000)
        let millis = Int(totalMillis - Int64(seconds) * 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var out: [UInt8] = []
        out.reserveCapacity(24)
        func put(_ value: Int, width: Int) {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                out.append(UInt8(48 + (rest / divisor) % 10))
                rest %= divisor
                divisor /= 10
            }
        }
        put(Int(parts.tm_year) + 1900, width: 4)
        out.append(45)  // -
        put(Int(parts.tm_mon) + 1, width: 2)
        out.append(45)
        put(Int(parts.tm_mday), width: 2)
        out.append(84)  // T
        put(Int(parts.tm_hour), width: 2)
        out.append(58)  // :
        put(Int(parts.tm_min), width: 2)
        out.append(58)
        put(Int(parts.tm_sec), width: 2)
        out.append(46)  // .
        put(millis, width: 3)
        out.append(90)  // Z
        return String(decoding: out, as: UTF8.self)
    }

    /// The date cut to the millisecond, as ``string(_:)`` writes it: what a value read back from text equals.
    /// Keep in-memory copies of stored times in this form, so that memory and database never disagree.
    public static func truncated(_ date: Date) -> Date {
        Date(timeIntervalSince1970: Double(millisecondsSince1970(date)) / 1000)
    }

    /// Whole milliseconds since 1970, rounded down. A date parsed from `….345Z` is a double a hair below or above
    /// .345; the 1 µs allowance keeps it .345 rather than .344.
    private static func millisecondsSince1970(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000 + 0.001).rounded(.down))
    }

    /// Parses an RFC 3339 timestamp with or without fractional seconds; `nil` if it is not one.
    public static func parse(_ string: String) -> Date? {
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(string) { return date }
        return try? Date.ISO8601FormatStyle().parse(string)
    }
}
