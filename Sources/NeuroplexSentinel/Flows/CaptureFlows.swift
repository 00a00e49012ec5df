#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What reading a capture found.
public struct CaptureSummary: Codable, Sendable, Equatable {
    public var format: String?
    /// Packet records read (up to the damage, if any).
    public var packets: Int
    /// Their lengths on the wire.
    public var bytes: Int64
    /// Packets that belong to no flow (not IP, later fragments, cut before the transport header).
    public var packetsWithoutFlow: Int
    public var flows: Int64
    /// Capture times of the first and last packet, microseconds since the Unix epoch.
    public var firstPacket: Int64?
    public var lastPacket: Int64?
    public var damaged: CaptureDamage?
}

/// Reads a capture (pcap or pcapng, in chunks) into flows: ``CaptureReader`` → ``PacketDecoder`` → ``FlowMeter``.
/// Not thread-safe: one capture, one reader.
public final class CaptureFlows {
    private var reader = CaptureReader()
    private var meter: FlowMeter
    private var decoded = DecodedPacket()
    private var bytes: Int64 = 0
    private var withoutFlow = 0
    private var first: Int64?
    private var last: Int64 = 0

    public init(configuration: FlowMeter.Configuration = FlowMeter.Configuration()) {
        meter = FlowMeter(configuration: configuration)
    }

    public var packets: Int { reader.packets }
    /// Bytes of the capture consumed so far.
    public var offset: Int { reader.offset }
    public var damage: CaptureDamage? { reader.damage }
    public var liveFlows: Int { meter.liveFlows }

    /// Reads the packets in `chunk`; `emit` gets each flow that ends.
    public func feed(_ chunk: UnsafeRawBufferPointer, emit: (FlowRecord) -> Void) {
        reader.feed(chunk) { packet in
            bytes += Int64(packet.originalLength)
            if first == nil { first = packet.time }
            last = packet.time
            if PacketDecoder.decode(packet, into: &decoded) {
                meter.add(decoded, emit: emit)
            } else {
                withoutFlow += 1
            }
        }
    }

    /// Ends the capture: the flows still open are emitted (in order of their first packets).
    public func finish(emit: (FlowRecord) -> Void) -> CaptureSummary {
        reader.finish()
        meter.finish(emit: emit)
        return CaptureSummary(
            format: reader.format?.rawValue, packets: reader.packets, bytes: bytes, packetsWithoutFlow: withoutFlow,
            flows: meter.flowsStarted, firstPacket: first, lastPacket: first == nil ? nil : last, damaged: reader.damage)
    }

    /// Reads the capture file at `path` in chunks of `chunkSize` bytes.
    /// - Throws: ``CaptureFileError`` when the file cannot be opened or read (damage inside it is in the summary).
    public static func read(
        path: String, configuration: FlowMeter.Configuration = FlowMeter.Configuration(), chunkSize: Int = 1 << 20,
        progress: ((Int) -> Void)? = nil, emit: (FlowRecord) -> Void
    ) throws(CaptureFileError) -> CaptureSummary {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw CaptureFileError(path: path, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        let flows = CaptureFlows(configuration: configuration)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let count = Glibc.read(descriptor, buffer.baseAddress, chunkSize)
            if count < 0 {
                if errno == EINTR { continue }
                throw CaptureFileError(path: path, reason: String(cString: strerror(errno)))
            }
            if count == 0 { break }
            flows.feed(UnsafeRawBufferPointer(rebasing: buffer[0..<count]), emit: emit)
            progress?(flows.offset)
            if flows.damage != nil { break }
        }
        return flows.finish(emit: emit)
    }
}

public struct CaptureFileError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "\(path): \(reason)" }
}
