import Foundation
import Glibc
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NeuroplexAPI
import NeuroplexStorage
import NeuroplexTestSupport
import Testing

@Suite("Sentinel over HTTP: rules, events, alerts, incidents", .timeLimit(.minutes(3)))
struct SentinelAPITests {
    /// Six failed ssh logins from one address (RFC 5424 syslog), one accepted login from another.
    static let sshLog = (0..<6).map {
        "<38>1 2026-11-24T01:00:0\($0)Z victim sshd 812 - - Failed password for root from 198.18.2.99 port 4012\($0) ssh2"
    }.joined(separator: "\n") + "\n<38>1 2026-11-24T01:00:09Z victim sshd 812 - - Accepted password for alice from 198.18.0.12 port 40200 ssh2\nnot a log line\n"

    func text(_ client: some TestClientProtocol, _ uri: String, key: String, body: String, type: String = "text/plain") async throws -> TestResponse {
        try await client.execute(
            uri: uri, method: .post, headers: [.authorization: "Bearer \(key)", .contentType: type], body: ByteBuffer(string: body))
    }

    @Test(
        "failed logins raise a T1110 alert, grouped into an incident with a report; analysts change its status",
        arguments: TestEngines.all)
    func eventsToIncidents(engine: Database.Engine) async throws {
        let configuration = try await testConfiguration(engine)
        let incidentID: String
        let admin: String
        do {
            let app = try await buildApplication(configuration, logger: quietLogger)
            admin = try adminKey(configuration)
            incidentID = try await app.test(.router) { client in
                let ingested = try await text(client, "/sentinel/events", key: admin, body: Self.sshLog)
                #expect(ingested.status == .ok, "\(ingested.text)")
                #expect(ingested.json["accepted"] as? Int == 7)
                #expect((ingested.json["rejected"] as? [[String: Any]])?.first?["line"] as? Int == 8)
                let raised = try #require((ingested.json["alerts"] as? [[String: Any]])?.first)
                #expect(raised["technique"] as? String == "T1110" && raised["source"] as? String == "198.18.2.99")

                let alerts = try await client.send(.get, "/sentinel/alerts?severity=high", key: admin)
                let listed = try #require((alerts.json["data"] as? [[String: Any]])?.first)
                let alertID = try #require((listed["alert"] as? [String: Any])?["id"] as? String)
                let incidentID = try #require(listed["incidentId"] as? String)
                #expect(try await client.send(.get, "/sentinel/alerts?severity=critical", key: admin).json["data"] as? [Any] != nil)
                #expect((try await client.send(.get, "/sentinel/alerts?severity=critical", key: admin).json["data"] as? [Any])?.isEmpty == true)

                let verdict = try await client.send(.post, "/sentinel/alerts/\(alertID)/feedback", key: admin, json: #"{"verdict":"true_positive","note":"hydra"}"#)
                #expect((verdict.json["feedback"] as? [String: Any])?["verdict"] as? String == "true_positive")
                // The same attacker a few seconds later: the stored alert grows (its row is updated, the analyst's
                // verdict kept) instead of a second one.
                let more = Self.sshLog.replacingOccurrences(of: "01:00:0", with: "01:00:2")
                #expect(try await text(client, "/sentinel/events", key: admin, body: more).status == .ok)
                let grown = try await client.send(.get, "/sentinel/alerts/\(alertID)", key: admin).json
                #expect((grown["alert"] as? [String: Any])?["count"] as? Int ?? 0 > listed["alert"].flatMap { ($0 as? [String: Any])?["count"] as? Int } ?? 0)
                #expect((grown["feedback"] as? [String: Any])?["verdict"] as? String == "true_positive")
                #expect((try await client.send(.get, "/sentinel/alerts", key: admin).json["data"] as? [Any])?.count == 1)
                expectProblem(
                    try await client.send(.post, "/sentinel/alerts/\(alertID)/feedback", key: admin, json: #"{"verdict":"maybe"}"#),
                    .badRequest, code: "validation_failed")
                expectProblem(try await client.send(.get, "/sentinel/alerts/nope", key: admin), .notFound, code: "not_found")

                let incidents = try await client.send(.get, "/sentinel/incidents?status=open", key: admin)
                let incident = try #require((incidents.json["data"] as? [[String: Any]])?.first)
                #expect(incident["attacker"] as? String == "198.18.2.99" && incident["id"] as? String == incidentID)
                let report = try await client.send(.get, "/sentinel/incidents/\(incidentID)/report?format=markdown", key: admin)
                #expect(report.status == .ok && report.headers[.contentType]?.hasPrefix("text/markdown") == true)
                #expect(report.text.contains("198.18.2.99") && report.text.contains("Repeated failed logins"))
                let json = try await client.send(.get, "/sentinel/incidents/\(incidentID)/report", key: admin)
                #expect((json.json["timeline"] as? [Any])?.count == 1)

                let patched = try await client.send(.patch, "/sentinel/incidents/\(incidentID)", key: admin, json: #"{"status":"acknowledged"}"#)
                #expect(patched.json["status"] as? String == "acknowledged")
                expectProblem(
                    try await client.send(.patch, "/sentinel/incidents/\(incidentID)", key: admin, json: #"{"status":"done"}"#),
                    .badRequest, code: "validation_failed")
                expectProblem(
                    try await text(client, "/sentinel/events", key: admin, body: "nothing here\n"), .badRequest, code: "validation_failed")
                expectProblem(
                    try await text(client, "/sentinel/events?format=pcap", key: admin, body: Self.sshLog), .unprocessableContent,
                    code: "validation_failed")
                return incidentID
            }
        }
        // After a restart: the incident and its status are kept, and the attacker's next alerts join it.
        let app = try await buildApplication(configuration, logger: quietLogger)
        try await app.test(.router) { client in
            let again = Self.sshLog.replacingOccurrences(of: "01:00:0", with: "01:05:0")
            #expect(try await text(client, "/sentinel/events", key: admin, body: again).status == .ok)
            let incidents = try await client.send(.get, "/sentinel/incidents", key: admin)
            let listed = try #require(incidents.json["data"] as? [[String: Any]])
            #expect(listed.count == 1 && listed.first?["id"] as? String == incidentID, "\(incidents.text)")
            #expect((listed.first?["alertIds"] as? [String])?.count == 2 && listed.first?["status"] as? String == "acknowledged")
        }
    }

    @Test("rules: list, replace a built-in one, add one in YAML, refuse invalid ones, delete; scopes are checked")
    func rules() async throws {
        let configuration = try await testConfiguration(.sqlite)
        let app = try await buildApplication(configuration, logger: quietLogger)
        let admin = try adminKey(configuration)
        try await app.test(.router) { client in
            let listed = try await client.send(.get, "/sentinel/rules", key: admin)
            let ids = (listed.json["data"] as? [[String: Any]])?.compactMap { ($0["rule"] as? [String: Any])?["id"] as? String }
            #expect(ids == ["port-scan", "syn-flood", "ssh-brute-force", "failed-logins", "slow-http"])

            let quieter = try await client.send(
                .put, "/sentinel/rules/failed-logins", key: admin,
                json: #"{"input":"event","match":{"eventKinds":["login.failed"]},"groupBy":["source"],"windowSeconds":60,"threshold":50,"severity":"low"}"#)
            #expect(quieter.status == .ok && quieter.json["modified"] as? Bool == true, "\(quieter.text)")
            // With the threshold at 50, six failures no longer alert.
            let ingested = try await text(client, "/sentinel/events", key: admin, body: Self.sshLog)
            #expect((ingested.json["alerts"] as? [Any])?.isEmpty == true)

            let yaml = "input: event\nmatch: {eventKinds: [login.succeeded]}\ngroupBy: [user]\nwindowSeconds: 600\nthreshold: 1\ntitle: Any login\n"
            let added = try await client.execute(
                uri: "/sentinel/rules/any-login", method: .put,
                headers: [.authorization: "Bearer \(admin)", .contentType: "application/yaml"], body: ByteBuffer(string: yaml))
            #expect(added.status == .created, "\(added.text)")
            let logins = try await text(client, "/sentinel/events", key: admin, body: Self.sshLog)
            #expect((logins.json["alerts"] as? [[String: Any]])?.first?["title"] as? String == "Any login")

            expectProblem(
                try await client.send(.put, "/sentinel/rules/bad", key: admin, json: #"{"input":"flow","groupBy":["source"],"windowSeconds":-1,"threshold":1}"#),
                .unprocessableContent, code: "validation_failed")
            expectProblem(
                try await client.send(.put, "/sentinel/rules/bad", key: admin, json: #"{"id":"other","input":"flow","groupBy":["source"],"windowSeconds":1,"threshold":1}"#),
                .unprocessableContent, code: "validation_failed")
            expectProblem(
                try await client.execute(uri: "/sentinel/rules/bad", method: .put, headers: [.authorization: "Bearer \(admin)", .contentType: "image/png"], body: ByteBuffer(string: "x")),
                .unsupportedMediaType, code: "unsupported_media_type")
            expectProblem(try await client.send(.delete, "/sentinel/rules/port-scan", key: admin), .conflict, code: "conflict")
            #expect(try await client.send(.delete, "/sentinel/rules/any-login", key: admin).status == .noContent)
            #expect(try await client.send(.delete, "/sentinel/rules/failed-logins", key: admin).status == .noContent)
            #expect((try await client.send(.get, "/sentinel/rules/failed-logins", key: admin).json["modified"] as? Bool) == false)
            expectProblem(try await client.send(.get, "/sentinel/rules/any-login", key: admin), .notFound, code: "not_found")

            let created = try await client.send(.post, "/keys", key: admin, json: #"{"name":"reader","scopes":["sentinel:read"]}"#)
            let reader = try #require(created.json["key"] as? String)
            #expect(try await client.send(.get, "/sentinel/alerts", key: reader).status == .ok)
            expectProblem(try await text(client, "/sentinel/events", key: reader, body: Self.sshLog), .forbidden, code: "insufficient_scope")
            expectProblem(try await client.send(.get, "/sentinel/alerts", key: nil), .unauthorized, code: "unauthenticated")
        }
    }
}

@Suite("Sentinel flow collectors", .timeLimit(.minutes(3)))
struct SentinelCollectorTests {
    /// A NetFlow v5 export packet: one SYN→RST flow from `source` to each of `ports` on 198.18.1.1.
    static func scan(from source: [UInt8], ports: ClosedRange<Int>) -> [UInt8] {
        func u16(_ value: Int) -> [UInt8] { [UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)] }
        func u32(_ value: Int) -> [UInt8] { u16(value >> 16) + u16(value & 0xFFFF) }
        var packet = u16(5) + u16(ports.count) + u32(600_000) + u32(1_795_482_000) + u32(0) + u32(1) + [0, 0] + u16(0)
        for port in ports {
            packet += source + [198, 18, 1, 1] + [0, 0, 0, 0] + u16(1) + u16(2) + u32(1) + u32(40) + u32(599_000) + u32(599_000)
            packet += u16(55555) + u16(port) + [0, 0x06, 6, 0] + u16(0) + u16(0) + [24, 24] + u16(0)
        }
        return packet
    }

    /// Sends one UDP datagram to 127.0.0.1:`port`.
    static func send(_ bytes: [UInt8], port: Int) throws {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard socket >= 0 else { throw POSIXError(.EIO) }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let sent = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(socket, bytes, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard sent == bytes.count else { throw POSIXError(.EIO) }
    }

    @Test("a NetFlow source on loopback turns a scan's export packets into a T1046 alert; bad packets are counted")
    func netflow() async throws {
        let configuration = try await testConfiguration(.sqlite)
        let app = try await buildApplication(configuration, logger: quietLogger)
        let admin = try adminKey(configuration)
        try await app.test(.router) { client in
            let started = try await client.send(.post, "/sentinel/sources", key: admin, json: #"{"type":"netflow","port":0,"host":"127.0.0.1"}"#)
            #expect(started.status == .created, "\(started.text)")
            let port = try #require(started.json["port"] as? Int)
            let id = try #require(started.json["id"] as? String)
            try Self.send(Self.scan(from: [198, 18, 2, 66], ports: 1...25), port: port)
            try Self.send([0, 5, 0, 9], port: port)

            // Wait (bounded) for the collector to have read both datagrams and stored the alert.
            let deadline = ContinuousClock.now + .seconds(10)
            var alerts: [[String: Any]] = []
            var sources: [[String: Any]] = []
            while ContinuousClock.now < deadline {
                alerts = try await client.send(.get, "/sentinel/alerts", key: admin).json["data"] as? [[String: Any]] ?? []
                sources = try await client.send(.get, "/sentinel/sources", key: admin).json["data"] as? [[String: Any]] ?? []
                if !alerts.isEmpty && sources.first?["datagrams"] as? Int == 2 { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            let alert = try #require(alerts.first?["alert"] as? [String: Any])
            #expect(alert["technique"] as? String == "T1046" && alert["source"] as? String == "198.18.2.66")
            #expect(sources.first?["flows"] as? Int == 25 && sources.first?["rejected"] as? Int == 1)
            #expect((sources.first?["lastError"] as? String)?.contains("127.0.0.1") == true)

            expectProblem(
                try await client.send(.post, "/sentinel/sources", key: admin, json: #"{"type":"interface"}"#), .unprocessableContent,
                code: "validation_failed")
            expectProblem(
                try await client.send(.post, "/sentinel/sources", key: admin, json: #"{"type":"netflow","port":\#(port),"host":"127.0.0.1"}"#),
                .conflict, code: "conflict")
            #expect(try await client.send(.delete, "/sentinel/sources/\(id)", key: admin).status == .noContent)
            expectProblem(try await client.send(.delete, "/sentinel/sources/\(id)", key: admin), .notFound, code: "not_found")
        }
    }

    /// A TCP connection attempt to 127.0.0.1:`port` (a closed port answers with RST).
    static func knock(port: Int) {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { return }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }

    @Test("live capture on loopback (libpcap, BPF filter) meters a scan of closed ports into a T1046 alert")
    func liveCapture() async throws {
        let configuration = try await testConfiguration(.sqlite)
        let app = try await buildApplication(configuration, logger: quietLogger)
        let admin = try adminKey(configuration)
        try await app.test(.router) { client in
            let started = try await client.send(
                .post, "/sentinel/sources", key: admin, json: #"{"type":"pcap","interface":"lo","filter":"tcp portrange 47100-47199"}"#)
            #expect(started.status == .created, "\(started.text)")
            let id = try #require(started.json["id"] as? String)
            // The filter is in place once the handle is active; knock on 30 closed ports.
            for port in 47100..<47130 { Self.knock(port: port) }
            let deadline = ContinuousClock.now + .seconds(10)
            var scan: [String: Any]?
            var source: [String: Any] = [:]
            while ContinuousClock.now < deadline {
                let alerts = try await client.send(.get, "/sentinel/alerts", key: admin).json["data"] as? [[String: Any]] ?? []
                scan = alerts.compactMap { $0["alert"] as? [String: Any] }.first { $0["technique"] as? String == "T1046" }
                source = (try await client.send(.get, "/sentinel/sources", key: admin).json["data"] as? [[String: Any]])?.first ?? [:]
                if scan != nil && source["flows"] as? Int ?? 0 >= 30 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(scan?["source"] as? String == "127.0.0.1" && scan?["destination"] as? String == "127.0.0.1", "\(String(describing: scan))")
            #expect((source["packets"] as? Int ?? 0) >= 60 && (source["flows"] as? Int ?? 0) >= 30 && source["interface"] as? String == "lo", "\(source)")

            expectProblem(
                try await client.send(.post, "/sentinel/sources", key: admin, json: #"{"type":"pcap"}"#), .badRequest, code: "validation_failed")
            let badFilter = try await client.send(
                .post, "/sentinel/sources", key: admin, json: #"{"type":"pcap","interface":"lo","filter":"tcp port banana"}"#)
            expectProblem(badFilter, .unprocessableContent, code: "validation_failed")
            #expect(badFilter.json["field"] as? String == "filter")
            expectProblem(
                try await client.send(.post, "/sentinel/sources", key: admin, json: #"{"type":"pcap","interface":"nplab-none0"}"#),
                .unprocessableContent, code: "validation_failed")
            #expect(try await client.send(.delete, "/sentinel/sources/\(id)", key: admin).status == .noContent)
            #expect((try await client.send(.get, "/sentinel/sources", key: admin).json["data"] as? [Any])?.isEmpty == true)
        }
    }
}
