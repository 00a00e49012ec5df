/// The bidirectional 5-tuple of a flow, the same whichever way a packet goes.
struct FlowKey: Hashable {
    var a: IPAddress
    var b: IPAddress
    /// The two ports (a's high) and the protocol.
    var rest: UInt64

    @inline(__always)
    init(_ packet: DecodedPacket) {
        if (packet.source, packet.sourcePort) <= (packet.destination, packet.destinationPort) {
            a = packet.source
            b = packet.destination
            rest = UInt64(packet.sourcePort) << 24 | UInt64(packet.destinationPort) << 8 | UInt64(packet.transport)
        } else {
            a = packet.destination
            b = packet.source
            rest = UInt64(packet.destinationPort) << 24 | UInt64(packet.sourcePort) << 8 | UInt64(packet.transport)
        }
    }

    @inline(__always)
    func hash(into hasher: inout Hasher) {
        // IPv4 addresses (the usual case) differ only in their low words.
        hasher.combine(a.low &* 0x9E37_79B9_7F4A_7C15 ^ b.low ^ a.high ^ (b.high &* 31))
        hasher.combine(rest)
    }
}

/// Groups packets into bidirectional flows with CICFlowMeter's flow definition and the corrections of Engelen et al.
/// (WTMC 2021): the first packet's sender is the forward direction; a TCP flow ends after a FIN from each side and
/// the last ACK, or at a RST (both included in the flow); any flow ends at the hard timeout after its first packet
/// (120 s), and the next packet starts a new one. Gaps longer than the activity timeout (5 s) separate active and
/// idle periods. Flows past the hard timeout are ended as capture time passes, so memory holds only live flows.
public struct FlowMeter {
    public struct Configuration: Sendable, Equatable {
        /// Microseconds from a flow's first packet to its forced end.
        public var flowTimeout: Int64
        /// Microseconds of silence that end an active period.
        public var activityTimeout: Int64

        public init(flowTimeout: Int64 = 120_000_000, activityTimeout: Int64 = 5_000_000) {
            self.flowTimeout = flowTimeout
            self.activityTimeout = activityTimeout
        }
    }

    public let configuration: Configuration
    private var index: [FlowKey: Int32] = [:]
    private var flows: [FlowRecord] = []
    private var live: [Bool] = []
    private var free: [Int32] = []
    /// Slots in order of their flows' first packets, with the flow's serial (a slot is reused by later flows).
    private var order: [(slot: Int32, serial: Int64)] = []
    private var orderHead = 0
    private var serial: Int64 = 0
    /// Flows begun so far.
    public var flowsStarted: Int64 { serial }
    /// Flows in memory now.
    public var liveFlows: Int { index.count }

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Adds a packet; calls `emit` with each flow that ends (this packet's, or older ones past the hard timeout).
    @inline(__always)
    public mutating func add(_ packet: DecodedPacket, emit: (FlowRecord) -> Void) {
        if orderHead < order.count {
            let head = order[orderHead]
            if packet.time - flows[Int(head.slot)].start > configuration.flowTimeout || !live[Int(head.slot)]
                || flows[Int(head.slot)].serial != head.serial
            {
                expire(before: packet.time, emit: emit)
            }
        }
        let key = FlowKey(packet)
        if let found = index[key] {
            let slot = Int(found)
            let isSYN = packet.flags & 0x02 != 0 && packet.transport == 6
            let wasClosing = flows[slot].finishedBothWays
            if packet.time - flows[slot].start > configuration.flowTimeout {
                finish(slot: slot, key: key, .timeout, emit: emit)
            } else if wasClosing && isSYN {
                // A new connection on the same ports after a close that lacked its last ACK.
                finish(slot: slot, key: key, .fin, emit: emit)
            } else {
                let isForward = packet.source == flows[slot].source && packet.sourcePort == flows[slot].sourcePort
                flows[slot].add(packet, isForward: isForward, activityTimeout: configuration.activityTimeout, first: false)
                if packet.transport == 6 {
                    if packet.flags & 0x04 != 0 {
                        finish(slot: slot, key: key, .rst, emit: emit)
                    } else if wasClosing && packet.flags & 0x11 == 0x10 && packet.payloadLength == 0 {
                        finish(slot: slot, key: key, .fin, emit: emit)
                    }
                }
                return
            }
        }
        serial += 1
        var flow = FlowRecord(serial: serial, first: packet)
        flow.add(packet, isForward: true, activityTimeout: configuration.activityTimeout, first: true)
        if packet.transport == 6 && packet.flags & 0x04 != 0 {
            flow.close(.rst)
            emit(flow)
            return
        }
        let slot: Int32
        if let reused = free.popLast() {
            slot = reused
            flows[Int(slot)] = flow
            live[Int(slot)] = true
        } else {
            slot = Int32(flows.count)
            flows.append(flow)
            live.append(true)
        }
        index[key] = slot
        order.append((slot, serial))
    }

    private mutating func finish(slot: Int, key: FlowKey, _ reason: FlowRecord.End, emit: (FlowRecord) -> Void) {
        flows[slot].close(reason)
        emit(flows[slot])
        index.removeValue(forKey: key)
        live[slot] = false
        free.append(Int32(slot))
    }

    /// Ends the flows whose hard timeout has passed at `time`, oldest first.
    public mutating func expire(before time: Int64, emit: (FlowRecord) -> Void) {
        while orderHead < order.count {
            let head = order[orderHead]
            let slot = Int(head.slot)
            if live[slot] && flows[slot].serial == head.serial {
                guard time - flows[slot].start > configuration.flowTimeout else { break }
                finish(slot: slot, key: FlowKey(flows[slot]), .timeout, emit: emit)
            }
            orderHead += 1
        }
        if orderHead > 4096 && orderHead * 2 > order.count {
            order.removeFirst(orderHead)
            orderHead = 0
        }
    }

    /// Ends every flow still open (the capture is over), in order of their first packets.
    public mutating func finish(emit: (FlowRecord) -> Void) {
        for (slot32, serial) in order[orderHead...] {
            let slot = Int(slot32)
            guard live[slot] && flows[slot].serial == serial else { continue }
            finish(slot: slot, key: FlowKey(flows[slot]), .captureEnd, emit: emit)
        }
        order.removeAll()
        orderHead = 0
    }
}

extension FlowKey {
    init(_ flow: FlowRecord) {
        var packet = DecodedPacket()
        packet.source = flow.source
        packet.destination = flow.destination
        packet.sourcePort = flow.sourcePort
        packet.destinationPort = flow.destinationPort
        packet.transport = flow.transport
        self.init(packet)
    }
}
