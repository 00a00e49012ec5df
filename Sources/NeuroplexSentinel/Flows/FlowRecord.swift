/// Count, mean, sample variance (Welford), minimum and maximum of a stream of values.
public struct RunningStatistic: Sendable, Equatable {
    public private(set) var count: Int = 0
    public private(set) var mean: Double = 0
    private var m2: Double = 0
    public private(set) var minimum: Double = 0
    public private(set) var maximum: Double = 0

    public init() {}

    @inline(__always)
    public mutating func add(_ value: Double) {
        count += 1
        if count == 1 {
            minimum = value
            maximum = value
        } else {
            minimum = Swift.min(minimum, value)
            maximum = Swift.max(maximum, value)
        }
        let delta = value - mean
        mean += delta / Double(count)
        m2 += delta * (value - mean)
    }

    /// The sample variance (n − 1), as CICFlowMeter's Apache Commons statistics give it; 0 below two values.
    public var variance: Double { count > 1 ? m2 / Double(count - 1) : 0 }
    public var standardDeviation: Double { variance.squareRoot() }
    public var total: Double { mean * Double(count) }

    /// The statistic of both streams together (Chan et al.'s parallel formula).
    public static func + (a: RunningStatistic, b: RunningStatistic) -> RunningStatistic {
        if a.count == 0 { return b }
        if b.count == 0 { return a }
        var merged = RunningStatistic()
        merged.count = a.count + b.count
        let delta = b.mean - a.mean
        merged.mean = a.mean + delta * Double(b.count) / Double(merged.count)
        merged.m2 = a.m2 + b.m2 + delta * delta * Double(a.count) * Double(b.count) / Double(merged.count)
        merged.minimum = Swift.min(a.minimum, b.minimum)
        merged.maximum = Swift.max(a.maximum, b.maximum)
        return merged
    }
}

/// CICFlowMeter's bulk state for one direction: a bulk is four or more packets with payload in a row, each within
/// a second of the one before, with no payload packet in the other direction between them.
struct BulkState: Sendable, Equatable {
    var startHelper: Int64 = 0
    var last: Int64 = 0
    var packetHelper: Int64 = 0
    var sizeHelper: Int64 = 0
    var states: Int64 = 0
    var packets: Int64 = 0
    var size: Int64 = 0
    var duration: Int64 = 0

    @inline(__always)
    mutating func update(time: Int64, size payload: Int64, lastBulkInOther: Int64) {
        if lastBulkInOther > startHelper { startHelper = 0 }
        guard payload > 0 else { return }
        if startHelper == 0 || time - last > 1_000_000 {
            startHelper = time
            last = time
            packetHelper = 1
            sizeHelper = payload
            return
        }
        packetHelper += 1
        sizeHelper += payload
        if packetHelper == 4 {
            states += 1
            packets += packetHelper
            size += sizeHelper
            duration += time - startHelper
        } else if packetHelper > 4 {
            packets += 1
            size += payload
            duration += time - last
        }
        last = time
    }

    var averageBytes: Double { states > 0 ? Double(size) / Double(states) : 0 }
    var averagePackets: Double { states > 0 ? Double(packets) / Double(states) : 0 }
    var rate: Double { duration > 0 ? Double(size) / (Double(duration) / 1_000_000) : 0 }
}

/// One bidirectional flow as the flow meter builds it: the first packet's sender is the forward direction.
/// Times are microseconds since the Unix epoch; lengths are transport payload bytes, as in CICFlowMeter.
public struct FlowRecord: Sendable, Equatable {
    /// Why a flow ended.
    public enum End: String, Sendable, Codable {
        /// FIN from both sides, and the last ACK.
        case fin
        case rst
        /// The hard timeout since the flow's first packet.
        case timeout
        /// The capture ended first.
        case captureEnd = "capture_end"
    }

    /// The flow's number in its capture, from 1 in order of first packets.
    public var serial: Int64
    public var source: IPAddress
    public var destination: IPAddress
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var transport: UInt8
    public var start: Int64
    public var lastSeen: Int64
    public var end: End = .captureEnd

    public var forward = RunningStatistic()
    public var backward = RunningStatistic()
    public var flowIAT = RunningStatistic()
    public var forwardIAT = RunningStatistic()
    public var backwardIAT = RunningStatistic()
    public var active = RunningStatistic()
    public var idle = RunningStatistic()

    public var forwardBytes: Int64 = 0
    public var backwardBytes: Int64 = 0
    /// Frame bytes on the wire per direction, as tshark's conversation tables count them.
    public var forwardFrameBytes: Int64 = 0
    public var backwardFrameBytes: Int64 = 0
    public var forwardHeaderBytes: Int64 = 0
    public var backwardHeaderBytes: Int64 = 0

    public var fin: Int32 = 0
    public var syn: Int32 = 0
    public var rst: Int32 = 0
    public var psh: Int32 = 0
    public var ack: Int32 = 0
    public var urg: Int32 = 0
    public var cwr: Int32 = 0
    public var ece: Int32 = 0
    public var forwardPSH: Int32 = 0
    public var backwardPSH: Int32 = 0
    public var forwardURG: Int32 = 0
    public var backwardURG: Int32 = 0

    public var initialForwardWindow: Int32 = -1
    public var initialBackwardWindow: Int32 = -1
    public var forwardDataPackets: Int32 = 0
    public var forwardMinimumSegment: Int32 = 0

    var lastForward: Int64 = 0
    var lastBackward: Int64 = 0
    var startActive: Int64
    var endActive: Int64
    var subflows: Int64 = 1
    var lastSubflowPacket: Int64
    var forwardBulk = BulkState()
    var backwardBulk = BulkState()
    var forwardFIN = false
    var backwardFIN = false

    init(serial: Int64, first packet: DecodedPacket) {
        self.serial = serial
        source = packet.source
        destination = packet.destination
        sourcePort = packet.sourcePort
        destinationPort = packet.destinationPort
        transport = packet.transport
        start = packet.time
        lastSeen = packet.time
        startActive = packet.time
        endActive = packet.time
        lastSubflowPacket = packet.time
    }

    public var forwardPackets: Int { forward.count }
    public var backwardPackets: Int { backward.count }
    public var packets: Int { forward.count + backward.count }
    /// Microseconds from the first packet to the last.
    public var duration: Int64 { lastSeen - start }
    var finishedBothWays: Bool { forwardFIN && backwardFIN }

    /// Adds a packet of this flow; `isForward` when its sender is the flow's source.
    @inline(__always)
    mutating func add(_ packet: DecodedPacket, isForward: Bool, activityTimeout: Int64, first: Bool) {
        let time = packet.time
        let payload = Int64(packet.payloadLength)
        // Active and idle periods: a gap longer than the activity timeout ends an active period.
        if !first {
            if time - endActive > activityTimeout {
                if endActive - startActive > 0 { active.add(Double(endActive - startActive)) }
                idle.add(Double(time - endActive))
                startActive = time
            }
            endActive = time
            if time - lastSubflowPacket > 1_000_000 { subflows += 1 }
            lastSubflowPacket = time
            flowIAT.add(Double(time - lastSeen))
        }
        lastSeen = time
        let flags = packet.flags
        if packet.transport == 6 {
            if flags & 0x01 != 0 { fin += 1 }
            if flags & 0x02 != 0 { syn += 1 }
            if flags & 0x04 != 0 { rst += 1 }
            if flags & 0x08 != 0 { psh += 1 }
            if flags & 0x10 != 0 { ack += 1 }
            if flags & 0x20 != 0 { urg += 1 }
            if flags & 0x40 != 0 { ece += 1 }
            if flags & 0x80 != 0 { cwr += 1 }
        }
        if isForward {
            forwardBulk.update(time: time, size: payload, lastBulkInOther: backwardBulk.last)
            if forward.count > 0 { forwardIAT.add(Double(time - lastForward)) }
            lastForward = time
            forward.add(Double(payload))
            forwardBytes += payload
            forwardFrameBytes += Int64(packet.frameLength)
            forwardHeaderBytes += Int64(packet.headerLength)
            if payload > 0 { forwardDataPackets += 1 }
            if forward.count == 1 {
                forwardMinimumSegment = packet.headerLength
                if packet.transport == 6 { initialForwardWindow = Int32(packet.window) }
            } else {
                forwardMinimumSegment = min(forwardMinimumSegment, packet.headerLength)
            }
            if flags & 0x08 != 0 { forwardPSH += 1 }
            if flags & 0x20 != 0 { forwardURG += 1 }
            if flags & 0x01 != 0 { forwardFIN = true }
        } else {
            backwardBulk.update(time: time, size: payload, lastBulkInOther: forwardBulk.last)
            if backward.count > 0 { backwardIAT.add(Double(time - lastBackward)) }
            lastBackward = time
            backward.add(Double(payload))
            backwardBytes += payload
            backwardFrameBytes += Int64(packet.frameLength)
            backwardHeaderBytes += Int64(packet.headerLength)
            if backward.count == 1, packet.transport == 6 { initialBackwardWindow = Int32(packet.window) }
            if flags & 0x08 != 0 { backwardPSH += 1 }
            if flags & 0x20 != 0 { backwardURG += 1 }
            if flags & 0x01 != 0 { backwardFIN = true }
        }
    }

    /// Closes the last active period.
    mutating func close(_ reason: End) {
        end = reason
        if endActive - startActive > 0 { active.add(Double(endActive - startActive)) }
    }

    // MARK: Features

    /// CICFlowMeter's identifier: `src-dst-srcport-dstport-protocol`.
    public var flowID: String { "\(source)-\(destination)-\(sourcePort)-\(destinationPort)-\(transport)" }

    public var transportProtocol: TransportProtocol {
        switch transport {
        case 6: .tcp
        case 17: .udp
        case 1, 58: .icmp
        default: .other
        }
    }

    /// The flow as detection rules see it (times in seconds); `id` names it in alerts' evidence.
    public func observation(id: String) -> FlowObservation {
        FlowObservation(
            id: id, start: Double(start) / 1_000_000, end: Double(lastSeen) / 1_000_000, source: source.description,
            sourcePort: Int(sourcePort), destination: destination.description, destinationPort: Int(destinationPort),
            transport: transportProtocol, forwardPackets: forward.count, backwardPackets: backward.count,
            forwardBytes: Int(forwardBytes), backwardBytes: Int(backwardBytes), synCount: Int(syn), rstCount: Int(rst),
            finCount: Int(fin))
    }

    /// CICFlowMeter's numeric features, in ``FlowRecord/featureNames`` order (durations and inter-arrival times in
    /// microseconds, rates per second). Rates of a flow with one packet (no duration) are 0, where CICFlowMeter wrote
    /// `Infinity` or `NaN`.
    public func features(into out: inout [Double]) {
        out.removeAll(keepingCapacity: true)
        let seconds = Double(duration) / 1_000_000
        func rate(_ value: Double) -> Double { seconds > 0 ? value / seconds : 0 }
        let all = forward + backward
        let packets = Double(self.packets)
        out.append(Double(destinationPort))
        out.append(Double(transport))
        out.append(Double(duration))
        out.append(Double(forward.count))
        out.append(Double(backward.count))
        out.append(Double(forwardBytes))
        out.append(Double(backwardBytes))
        out.append(forward.maximum)
        out.append(forward.minimum)
        out.append(forward.mean)
        out.append(forward.standardDeviation)
        out.append(backward.maximum)
        out.append(backward.minimum)
        out.append(backward.mean)
        out.append(backward.standardDeviation)
        out.append(rate(Double(forwardBytes + backwardBytes)))
        out.append(rate(packets))
        out.append(flowIAT.mean)
        out.append(flowIAT.standardDeviation)
        out.append(flowIAT.maximum)
        out.append(flowIAT.minimum)
        for iat in [forwardIAT, backwardIAT] {
            out.append(iat.total)
            out.append(iat.mean)
            out.append(iat.standardDeviation)
            out.append(iat.maximum)
            out.append(iat.minimum)
        }
        out.append(Double(forwardPSH))
        out.append(Double(backwardPSH))
        out.append(Double(forwardURG))
        out.append(Double(backwardURG))
        out.append(Double(forwardHeaderBytes))
        out.append(Double(backwardHeaderBytes))
        out.append(rate(Double(forward.count)))
        out.append(rate(Double(backward.count)))
        out.append(all.minimum)
        out.append(all.maximum)
        out.append(all.mean)
        out.append(all.standardDeviation)
        out.append(all.variance)
        for count in [fin, syn, rst, psh, ack, urg, cwr, ece] { out.append(Double(count)) }
        out.append(forward.count > 0 ? Double(backward.count) / Double(forward.count) : 0)
        out.append(packets > 0 ? Double(forwardBytes + backwardBytes) / packets : 0)
        out.append(forward.count > 0 ? Double(forwardBytes) / Double(forward.count) : 0)
        out.append(backward.count > 0 ? Double(backwardBytes) / Double(backward.count) : 0)
        for bulk in [forwardBulk, backwardBulk] {
            out.append(bulk.averageBytes)
            out.append(bulk.averagePackets)
            out.append(bulk.rate)
        }
        out.append(Double(forward.count) / Double(subflows))
        out.append(Double(forwardBytes) / Double(subflows))
        out.append(Double(backward.count) / Double(subflows))
        out.append(Double(backwardBytes) / Double(subflows))
        out.append(Double(initialForwardWindow))
        out.append(Double(initialBackwardWindow))
        out.append(Double(forwardDataPackets))
        out.append(Double(forwardMinimumSegment))
        for period in [active, idle] {
            out.append(period.mean)
            out.append(period.standardDeviation)
            out.append(period.maximum)
            out.append(period.minimum)
        }
    }

    /// The names of ``features(into:)``, as CICFlowMeter 4 writes them (the CSE-CIC-IDS2018 spelling, its
    /// "CWE Flag Count" for CWR included, so that tools made for those files read ours).
    public static let featureNames: [String] = [
        "Dst Port", "Protocol", "Flow Duration", "Tot Fwd Pkts", "Tot Bwd Pkts", "TotLen Fwd Pkts", "TotLen Bwd Pkts",
        "Fwd Pkt Len Max", "Fwd Pkt Len Min", "Fwd Pkt Len Mean", "Fwd Pkt Len Std",
        "Bwd Pkt Len Max", "Bwd Pkt Len Min", "Bwd Pkt Len Mean", "Bwd Pkt Len Std",
        "Flow Byts/s", "Flow Pkts/s", "Flow IAT Mean", "Flow IAT Std", "Flow IAT Max", "Flow IAT Min",
        "Fwd IAT Tot", "Fwd IAT Mean", "Fwd IAT Std", "Fwd IAT Max", "Fwd IAT Min",
        "Bwd IAT Tot", "Bwd IAT Mean", "Bwd IAT Std", "Bwd IAT Max", "Bwd IAT Min",
        "Fwd PSH Flags", "Bwd PSH Flags", "Fwd URG Flags", "Bwd URG Flags", "Fwd Header Len", "Bwd Header Len",
        "Fwd Pkts/s", "Bwd Pkts/s", "Pkt Len Min", "Pkt Len Max", "Pkt Len Mean", "Pkt Len Std", "Pkt Len Var",
        "FIN Flag Cnt", "SYN Flag Cnt", "RST Flag Cnt", "PSH Flag Cnt", "ACK Flag Cnt", "URG Flag Cnt",
        "CWE Flag Count", "ECE Flag Cnt", "Down/Up Ratio", "Pkt Size Avg", "Fwd Seg Size Avg", "Bwd Seg Size Avg",
        "Fwd Byts/b Avg", "Fwd Pkts/b Avg", "Fwd Blk Rate Avg", "Bwd Byts/b Avg", "Bwd Pkts/b Avg", "Bwd Blk Rate Avg",
        "Subflow Fwd Pkts", "Subflow Fwd Byts", "Subflow Bwd Pkts", "Subflow Bwd Byts",
        "Init Fwd Win Byts", "Init Bwd Win Byts", "Fwd Act Data Pkts", "Fwd Seg Size Min",
        "Active Mean", "Active Std", "Active Max", "Active Min", "Idle Mean", "Idle Std", "Idle Max", "Idle Min",
    ]

    /// The CSV's columns: identifiers, then the features (``featureNames`` without its first two, which come with
    /// the identifiers, as in CICFlowMeter's files), then `Label`.
    public static let csvColumns: [String] =
        ["Flow ID", "Src IP", "Src Port", "Dst IP", "Dst Port", "Protocol", "Timestamp"] + featureNames.dropFirst(2) + ["Label"]
}
