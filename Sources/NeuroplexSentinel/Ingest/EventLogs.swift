public import struct Foundation.Date
import Foundation
import NeuroplexCore

/// A line of an input that could not be read, and why: reported to the caller, never dropped silently.
public struct RejectedLine: Sendable, Equatable, Codable {
    public var line: Int
    public var reason: String
}

/// Honeypot and SIEM lines turned into ``SecurityEvent``s: Cowrie's JSON lines, syslog (RFC 5424, and the BSD
/// format of RFC 3164 that many daemons still write) and ArcSight CEF.
public enum EventLogs {
    public enum Format: String, Sendable, CaseIterable, Codable {
        case cowrie, syslog, cef

        /// The format of a line, guessed from its first characters: `{` Cowrie, `CEF:` (bare or after a syslog
        /// header) CEF, `<` syslog.
        public static func guess(_ line: Substring) -> Format? {
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            if trimmed.hasPrefix("{") { return .cowrie }
            if trimmed.hasPrefix("CEF:") || trimmed.contains("CEF:0|") || trimmed.contains("CEF:1|") { return .cef }
            if trimmed.hasPrefix("<") { return .syslog }
            return nil
        }
    }

    /// Parses every non-empty line of `text` (in `format`, or guessed per line); bad lines are returned, not thrown.
    /// `now` dates lines that carry no year (RFC 3164) or no time.
    public static func parse(_ text: String, format: Format? = nil, now: Date = Date()) -> (events: [SecurityEvent], rejected: [RejectedLine]) {
        var events: [SecurityEvent] = []
        var rejected: [RejectedLine] = []
        var number = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            let content = line.hasSuffix("\r") ? line.dropLast() : line
            guard !content.allSatisfy({ $0 == " " || $0 == "\t" }) else { continue }
            do {
                guard let chosen = format ?? Format.guess(content) else {
                    throw NeuroplexError.invalid("line", "neither Cowrie JSON, syslog nor CEF")
                }
                let id = "l\(number)"
                switch chosen {
                case .cowrie: events.append(try cowrie(content, id: id))
                case .syslog: events.append(try syslog(content, id: id, now: now))
                case .cef: events.append(try cef(content, id: id, now: now))
                }
            } catch let error as NeuroplexError {
                rejected.append(RejectedLine(line: number, reason: error.message))
            } catch {
                rejected.append(RejectedLine(line: number, reason: "\(error)"))
            }
        }
        return (events, rejected)
    }

    // MARK: Cowrie

    /// One Cowrie JSON line (`eventid` `cowrie.login.failed`, `cowrie.login.success`, `cowrie.command.input`,
    /// `cowrie.session.connect`, ...).
    public static func cowrie(_ line: Substring, id: String) throws -> SecurityEvent {
        guard case .object(let fields) = try JSONValue.parse(Array(line.utf8)) else {
            throw NeuroplexError.invalid("line", "a Cowrie line is a JSON object")
        }
        func string(_ name: String) -> String? { if case .string(let value) = fields[name] { value } else { nil } }
        guard let eventID = string("eventid") else { throw NeuroplexError.invalid("eventid", "eventid is missing") }
        guard let source = string("src_ip") else { throw NeuroplexError.invalid("src_ip", "src_ip is missing") }
        guard let stamp = string("timestamp"), let time = Timestamps.parse(stamp) else {
            throw NeuroplexError.invalid("timestamp", "timestamp is missing or not ISO 8601")
        }
        let kind = switch eventID {
        case "cowrie.login.failed": "login.failed"
        case "cowrie.login.success": "login.succeeded"
        case "cowrie.command.input", "cowrie.command.failed": "command"
        case "cowrie.session.connect": "connect"
        default: eventID.hasPrefix("cowrie.") ? String(eventID.dropFirst("cowrie.".count)) : eventID
        }
        let port: Int? = fields["dst_port"]?.numberValue.flatMap(Int.init(saturating:))
        return SecurityEvent(
            id: id, time: time, kind: kind, source: source, destination: string("dst_ip"), destinationPort: port,
            user: string("username"), detail: string("input") ?? string("message"))
    }

    // MARK: Syslog

    /// One syslog line: RFC 5424 (`<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG`) or RFC 3164
    /// (`<PRI>Mmm dd hh:mm:ss HOST TAG: MSG`, the year taken as the current one). sshd's failed and accepted
    /// logins become `login.failed` / `login.succeeded` from the address in the message; other lines are `syslog`.
    public static func syslog(_ line: Substring, id: String, now: Date = Date()) throws -> SecurityEvent {
        guard line.first == "<", let close = line.firstIndex(of: ">"), let priority = Int(line[line.index(after: line.startIndex)..<close]),
            (0...191).contains(priority)
        else { throw NeuroplexError.invalid("line", "a syslog line starts with <PRI>, PRI 0–191") }
        var rest = line[line.index(after: close)...]
        var time: Double
        var host: String
        var app: String
        var message: Substring
        if rest.hasPrefix("1 ") {
            // RFC 5424
            rest = rest.dropFirst(2)
            let parts = rest.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: false)
            guard parts.count >= 5 else { throw NeuroplexError.invalid("line", "an RFC 5424 line has a timestamp, host, app, procid and msgid") }
            guard parts[0] == "-" || Timestamps.parse(String(parts[0])) != nil else {
                throw NeuroplexError.invalid("timestamp", "'\(parts[0])' is not an RFC 3339 timestamp")
            }
            time = parts[0] == "-" ? now.timeIntervalSince1970 : Timestamps.parse(String(parts[0]))!
            host = String(parts[1])
            app = String(parts[2])
            message = parts.count > 5 ? parts[5] : ""
            // Structured data: "-" or one or more [id param="value" ...] elements.
            if message.hasPrefix("-") {
                message = message.dropFirst()
            } else if message.hasPrefix("[") {
                var index = message.startIndex
                var quoted = false
                var depth = 0
                while index < message.endIndex {
                    let character = message[index]
                    if character == "\\" && quoted {
                        // An escaped character inside a value; a backslash at the very end escapes nothing.
                        index = message.index(after: index)
                        if index == message.endIndex { break }
                    } else if character == "\"" {
                        quoted.toggle()
                    } else if !quoted && character == "[" {
                        depth += 1
                    } else if !quoted && character == "]" {
                        depth -= 1
                        if depth == 0 && message.index(after: index) < message.endIndex && message[message.index(after: index)] != "[" {
                            index = message.index(after: index)
                            break
                        }
                    }
                    index = message.index(after: index)
                }
                message = message[index...]
            }
            message = message.drop { $0 == " " }
            if message.hasPrefix("\u{FEFF}") { message = message.dropFirst() }
        } else {
            // RFC 3164: "Mmm dd hh:mm:ss host tag: message"
            let fields = rest.split(separator: " ", maxSplits: 4, omittingEmptySubsequences: true)
            guard fields.count >= 5, let parsed = Timestamps.bsd("\(fields[0]) \(fields[1]) \(fields[2])", now: now) else {
                throw NeuroplexError.invalid("line", "neither an RFC 5424 nor an RFC 3164 syslog line")
            }
            time = parsed
            host = String(fields[3])
            let tagged = fields[4]
            if let colon = tagged.firstIndex(of: ":") {
                app = String(tagged[..<colon].prefix { $0 != "[" })
                message = tagged[tagged.index(after: colon)...].drop { $0 == " " }
            } else {
                app = "-"
                message = tagged
            }
        }
        _ = host
        if let login = sshLogin(message) {
            return SecurityEvent(
                id: id, time: time, kind: login.kind, source: login.source, destination: nil, destinationPort: 22,
                user: login.user, detail: String(message))
        }
        return SecurityEvent(id: id, time: time, kind: "syslog", source: host, detail: "\(app): \(message)")
    }

    /// sshd's `Failed password for [invalid user] NAME from ADDRESS port N ssh2` and `Accepted ... for NAME from ...`.
    static func sshLogin(_ message: Substring) -> (kind: String, user: String, source: String)? {
        let kind: String
        if message.hasPrefix("Failed ") {
            kind = "login.failed"
        } else if message.hasPrefix("Accepted ") {
            kind = "login.succeeded"
        } else if message.hasPrefix("Invalid user ") {
            kind = "login.failed"
        } else {
            return nil
        }
        let words = message.split(separator: " ")
        guard let from = words.firstIndex(of: "from"), from + 1 < words.count else { return nil }
        var user = ""
        if let forIndex = words.firstIndex(of: "for"), forIndex + 1 < from {
            user = words[forIndex + 1] == "invalid" && forIndex + 3 <= from ? String(words[forIndex + 3]) : String(words[forIndex + 1])
        } else if words.count > 2, message.hasPrefix("Invalid user ") {
            user = String(words[2])
        }
        return (kind, user, String(words[from + 1]))
    }

    // MARK: CEF

    /// One CEF line (bare, or after a syslog header): `CEF:0|vendor|product|version|signature|name|severity|ext`,
    /// with `\|` and `\\` escaped in the header and `\=`, `\\`, `\n` in the extension's `key=value` pairs.
    /// `src`/`dst`/`dpt`/`suser`/`rt` are read; a name or outcome saying a login failed makes it `login.failed`.
    public static func cef(_ line: Substring, id: String, now: Date = Date()) throws -> SecurityEvent {
        guard let start = line.range(of: "CEF:") else { throw NeuroplexError.invalid("line", "no CEF: header") }
        let body = line[start.upperBound...]
        var header: [String] = []
        var current = ""
        var index = body.startIndex
        while index < body.endIndex, header.count < 7 {
            let character = body[index]
            if character == "\\", body.index(after: index) < body.endIndex {
                index = body.index(after: index)
                current.append(body[index])
            } else if character == "|" {
                header.append(current)
                current = ""
            } else {
                current.append(character)
            }
            index = body.index(after: index)
        }
        guard header.count == 7 else { throw NeuroplexError.invalid("line", "a CEF header has 7 fields separated by '|'") }
        let extensions = cefExtensions(body[index...])
        let name = header[5]
        let outcome = extensions["outcome"]?.lowercased() ?? ""
        let lowered = name.lowercased()
        let isLogin = lowered.contains("login") || lowered.contains("logon") || lowered.contains("authentication")
        let failed = outcome.contains("fail") || lowered.contains("fail")
        var time = now.timeIntervalSince1970
        if let stamp = extensions["rt"] ?? extensions["start"] {
            if let milliseconds = Double(stamp) { time = milliseconds / 1000 } else if let parsed = Timestamps.parse(stamp) { time = parsed }
        }
        guard let source = extensions["src"] ?? extensions["shost"] else {
            throw NeuroplexError.invalid("src", "a CEF event needs src (or shost) to be attributed")
        }
        return SecurityEvent(
            id: id, time: time, kind: isLogin ? (failed ? "login.failed" : "login.succeeded") : "siem", source: source,
            destination: extensions["dst"] ?? extensions["dhost"], destinationPort: extensions["dpt"].flatMap { Int($0) },
            user: extensions["suser"] ?? extensions["duser"], detail: "\(header[1]) \(header[2]): \(name) (severity \(header[6]))")
    }

    /// The `key=value` pairs of a CEF extension; a value runs to the next ` key=`.
    static func cefExtensions(_ text: Substring) -> [String: String] {
        var pairs: [String: String] = [:]
        var key: String?
        var value = ""
        var token = ""
        var index = text.startIndex
        func finish() {
            if let key { pairs[key] = value.trimmingCharacters(in: .whitespaces) }
        }
        while index < text.endIndex {
            let character = text[index]
            if character == "\\", text.index(after: index) < text.endIndex {
                index = text.index(after: index)
                let escaped = text[index]
                token.append(escaped == "n" ? "\n" : escaped == "r" ? "\r" : escaped)
            } else if character == "=" {
                // The token's last word is the next key; what came before it belongs to the previous value.
                let words = token.split(separator: " ", omittingEmptySubsequences: false)
                let newKey = String(words.last ?? "")
                value += words.dropLast().joined(separator: " ")
                finish()
                key = newKey
                value = ""
                token = ""
            } else {
                token.append(character)
            }
            index = text.index(after: index)
        }
        value += token
        finish()
        return pairs
    }
}

/// Timestamps as logs write them.
enum Timestamps {
    /// RFC 3339 / ISO 8601, with or without fractional seconds, `Z` or an offset; or Unix seconds.
    static func parse(_ text: String) -> Double? {
        if let seconds = Double(text), seconds > 0 { return seconds }
        var normalised = text
        if normalised.count > 10, normalised[normalised.index(normalised.startIndex, offsetBy: 10)] == " " {
            normalised.replaceSubrange(normalised.index(normalised.startIndex, offsetBy: 10)...normalised.index(normalised.startIndex, offsetBy: 10), with: "T")
        }
        if let date = try? Date(normalised, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) {
            return date.timeIntervalSince1970
        }
        if let date = try? Date(normalised, strategy: Date.ISO8601FormatStyle()) { return date.timeIntervalSince1970 }
        // Without a zone (Zeek-style local stamps are epoch; CSV tools write "yyyy-MM-ddTHH:mm:ss[.fff]"): UTC.
        if let date = try? Date(normalised + "Z", strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) {
            return date.timeIntervalSince1970
        }
        if let date = try? Date(normalised + "Z", strategy: Date.ISO8601FormatStyle()) { return date.timeIntervalSince1970 }
        return nil
    }

    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// RFC 3164's `Mmm dd hh:mm:ss` in UTC, in the year of `now` (or the year before, for a date in the future).
    static func bsd(_ text: String, now: Date) -> Double? {
        let parts = text.split(separator: " ")
        guard parts.count == 3, let month = months.firstIndex(of: String(parts[0])), let day = Int(parts[1]) else { return nil }
        let clock = parts[2].split(separator: ":").compactMap { Int($0) }
        guard clock.count == 3 else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let year = calendar.component(.year, from: now)
        for candidate in [year, year - 1] {
            let components = DateComponents(year: candidate, month: month + 1, day: day, hour: clock[0], minute: clock[1], second: clock[2])
            if let date = calendar.date(from: components), date.timeIntervalSince(now) < 86_400 { return date.timeIntervalSince1970 }
        }
        return nil
    }
}
