import Foundation
public import Logging
import Synchronization

/// A swift-log handler that writes one JSON object per line: `{"ts", "level", "label", "msg", ...metadata}`.
///
/// Used by `neuroplex serve --log-format json`. Lines are written whole with one `write(2)` each, so lines from
/// concurrent requests never interleave.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let fileDescriptor: Int32

    /// A handler writing to standard error (or to `fileDescriptor`).
    public init(label: String, fileDescriptor: Int32 = 2, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.fileDescriptor = fileDescriptor
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = self.metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        let line = Self.render(
            timestamp: Date(), level: event.level, label: label, message: "\(event.message)", metadata: merged)
        line.withCString { pointer in
            _ = write(fileDescriptor, pointer, strlen(pointer))
        }
    }

    /// One log line as JSON (with its trailing newline).
    static func render(
        timestamp: Date, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata
    ) -> String {
        var object: [String: Any] = [
            "ts": Timestamp.string(timestamp),
            "level": level.rawValue,
            "label": label,
            "msg": message,
        ]
        for (key, value) in metadata { object[key] = Self.jsonValue(value) }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    private static func jsonValue(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let string): return string
        case .stringConvertible(let convertible): return convertible.description
        case .array(let array): return array.map(jsonValue)
        case .dictionary(let dictionary): return dictionary.mapValues(jsonValue)
        }
    }
}

extension JSONLogHandler {
    /// One rendered line at `info`, for tests of the format.
    package static func renderForTesting(message: String, metadata: Logger.Metadata) -> String {
        render(timestamp: Date(), level: .info, label: "test", message: message, metadata: metadata)
    }
}
