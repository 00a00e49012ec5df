/// The transport protocol of a flow.
public enum TransportProtocol: String, Codable, Sendable, CaseIterable {
    case tcp, udp, icmp, other
}

/// What detection sees of one flow: the flow meter's record (or an imported flow record) reduced to the fields
/// that rules read. Times are Unix seconds in capture time.
public struct FlowObservation: Sendable, Equatable {
    public var id: String
    public var start: Double
    public var end: Double
    public var source: String
    public var sourcePort: Int
    public var destination: String
    public var destinationPort: Int
    public var transport: TransportProtocol
    public var forwardPackets: Int
    public var backwardPackets: Int
    public var forwardBytes: Int
    public var backwardBytes: Int
    public var synCount: Int
    public var rstCount: Int
    public var finCount: Int

    public init(
        id: String, start: Double, end: Double, source: String, sourcePort: Int, destination: String,
        destinationPort: Int, transport: TransportProtocol, forwardPackets: Int, backwardPackets: Int,
        forwardBytes: Int = 0, backwardBytes: Int = 0, synCount: Int = 0, rstCount: Int = 0, finCount: Int = 0
    ) {
        self.id = id
        self.start = start
        self.end = end
        self.source = source
        self.sourcePort = sourcePort
        self.destination = destination
        self.destinationPort = destinationPort
        self.transport = transport
        self.forwardPackets = forwardPackets
        self.backwardPackets = backwardPackets
        self.forwardBytes = forwardBytes
        self.backwardBytes = backwardBytes
        self.synCount = synCount
        self.rstCount = rstCount
        self.finCount = finCount
    }

    public var duration: Double { max(0, end - start) }

    /// A TCP flow that never got past its handshake: a SYN, and at most a SYN-ACK or RST back.
    public var isHalfOpen: Bool {
        transport == .tcp && synCount > 0 && forwardPackets <= 2 && backwardPackets <= 1 && forwardBytes == 0
    }
}

/// A security event that is not a flow: a honeypot's login attempt or command, a SIEM line.
public struct SecurityEvent: Sendable, Equatable {
    public var id: String
    public var time: Double
    /// What happened, dotted: `login.failed`, `login.succeeded`, `command`, `siem`.
    public var kind: String
    public var source: String
    public var destination: String?
    public var destinationPort: Int?
    public var user: String?
    public var detail: String?

    public init(
        id: String, time: Double, kind: String, source: String, destination: String? = nil,
        destinationPort: Int? = nil, user: String? = nil, detail: String? = nil
    ) {
        self.id = id
        self.time = time
        self.kind = kind
        self.source = source
        self.destination = destination
        self.destinationPort = destinationPort
        self.user = user
        self.detail = detail
    }
}
