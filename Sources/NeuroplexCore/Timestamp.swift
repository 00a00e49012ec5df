public import struct Foundation.Date
import Foundation

/// RFC 3339 UTC timestamps, the one textual form of time on the wire and in the database.
public enum Timestamp {
    /// `2026-11-23T05:30:00.123Z`: UTC, millisecond precision. Strings of this form sort in time order.
    public static func string(_ date: Date) -> String {
        date.formatted(
            Date.ISO8601FormatStyle(timeZone: .gmt).year().month().day()
                .time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }

    /// Parses an RFC 3339 timestamp with or without fractional seconds; `nil` if it is not one.
    public static func parse(_ string: String) -> Date? {
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(string) { return date }
        return try? Date.ISO8601FormatStyle().parse(string)
    }
}
