import CPcap
import Foundation
#if canImport(Glibc)
import Glibc
#endif
public import NeuroplexCore
import Synchronization

/// Live capture from a network interface through libpcap: packets (optionally narrowed by a BPF filter) go through
/// the decoder and a flow meter on a thread of their own; ended flows are handed on in batches (at least every
/// 250 ms while any are waiting). Flows past the hard timeout are ended by wall-clock time, so a quiet interface
/// still lets them go. Needs the right to capture (root or CAP_NET_RAW).
public final class LiveCapture: @unchecked Sendable {
    // The handle is used by the capture thread only, except `pcap_breakloop`, which libpcap allows from another
    // thread to end the loop; `stopped` is read by the loop between dispatches.
    private let handle: OpaquePointer
    private let stopped = Atomic<Bool>(false)
    private let packetCount = Atomic<Int>(0)
    private let flowCount = Atomic<Int>(0)
    public let interface: String
    public let filter: String?
    public let linkType: UInt32
    private let configuration: FlowMeter.Configuration

    /// Opens `interface` and applies `filter` (BPF syntax, as tcpdump takes).
    /// - Throws: `capture_not_permitted` (403) without the right to capture; `validation_failed` naming `interface`
    ///   (no such device) or `filter` (a filter libpcap cannot compile).
    public init(interface: String, filter: String?, configuration: FlowMeter.Configuration = FlowMeter.Configuration()) throws {
        var errors = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard let handle = pcap_create(interface, &errors) else {
            throw NeuroplexError.invalid("interface", "cannot open '\(interface)': \(String(decoding: errors.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
        }
        pcap_set_snaplen(handle, 262_144)
        pcap_set_promisc(handle, 0)
        pcap_set_timeout(handle, 100)
        // Not immediate mode: with it (TPACKET_V3 on Linux) the packets of the first moments after activation were
        // lost in tests; blocks retired every 100 ms lose nothing and keep latency low enough for alerts.
        let status = pcap_activate(handle)
        if status < 0 {
            let message = String(cString: pcap_geterr(handle))
            pcap_close(handle)
            switch status {
            case PCAP_ERROR_PERM_DENIED:
                throw NeuroplexError(
                    .forbidden, code: .captureNotPermitted,
                    "this server may not capture on '\(interface)' (it needs root or CAP_NET_RAW): \(message)")
            case PCAP_ERROR_NO_SUCH_DEVICE:
                throw NeuroplexError.invalid("interface", "there is no interface '\(interface)'")
            default:
                throw NeuroplexError.invalid("interface", "cannot capture on '\(interface)': \(message)")
            }
        }
        if let filter, !filter.isEmpty {
            var program = bpf_program()
            guard pcap_compile(handle, &program, filter, 1, PCAP_NETMASK_UNKNOWN) == 0 else {
                let message = String(cString: pcap_geterr(handle))
                pcap_close(handle)
                throw NeuroplexError.invalid("filter", "the filter does not compile: \(message)")
            }
            defer { pcap_freecode(&program) }
            guard pcap_setfilter(handle, &program) == 0 else {
                let message = String(cString: pcap_geterr(handle))
                pcap_close(handle)
                throw NeuroplexError.invalid("filter", "the filter cannot be applied: \(message)")
            }
        }
        // `run` reads without blocking and waits on the descriptor itself, so that it sees `stop()` in time.
        pcap_setnonblock(handle, 1, &errors)
        self.handle = handle
        self.interface = interface
        self.filter = filter
        self.linkType = UInt32(pcap_datalink(handle))
        self.configuration = configuration
    }

    public var packets: Int { packetCount.load(ordering: .relaxed) }
    public var flows: Int { flowCount.load(ordering: .relaxed) }

    /// Captures until ``stop()``, on the calling thread (give it one of its own); `deliver` gets ended flows.
    /// The flows still open when it stops are delivered last. Closes the handle when it returns.
    public func run(deliver: ([FlowRecord]) -> Void) {
        final class Context {
            var meter: FlowMeter
            var decoded = DecodedPacket()
            var pending: [FlowRecord] = []
            let linkType: UInt32
            let owner: LiveCapture
            init(meter: FlowMeter, linkType: UInt32, owner: LiveCapture) {
                self.meter = meter
                self.linkType = linkType
                self.owner = owner
            }
        }
        let context = Context(meter: FlowMeter(configuration: configuration), linkType: linkType, owner: self)
        let user = Unmanaged.passUnretained(context).toOpaque()
        var lastDelivery = Date()
        defer { pcap_close(handle) }
        // Wait on the descriptor (up to 100 ms), then read what is there without blocking: waiting flows are
        // delivered and `stop()` is seen within that time even on a quiet interface.
        let descriptor = pcap_get_selectable_fd(handle)
        while !stopped.load(ordering: .relaxed) {
            if descriptor >= 0 {
                var waiting = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                _ = poll(&waiting, 1, 100)
            }
            let result = pcap_dispatch(handle, -1, { user, header, bytes in
                guard let user, let header, let bytes else { return }
                let context = Unmanaged<Context>.fromOpaque(user).takeUnretainedValue()
                let head = header.pointee
                let packet = CapturedPacket(
                    time: Int64(head.ts.tv_sec) * 1_000_000 + Int64(head.ts.tv_usec), linkType: context.linkType,
                    data: UnsafeRawBufferPointer(start: bytes, count: Int(head.caplen)), originalLength: Int(head.len))
                context.owner.packetCount.add(1, ordering: .relaxed)
                if PacketDecoder.decode(packet, into: &context.decoded) {
                    context.meter.add(context.decoded) { context.pending.append($0) }
                }
            }, user.assumingMemoryBound(to: UInt8.self))
            if result < 0 { break }  // an error, or pcap_breakloop
            let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
            context.meter.expire(before: now) { context.pending.append($0) }
            if !context.pending.isEmpty && Date().timeIntervalSince(lastDelivery) >= 0.25 {
                flowCount.add(context.pending.count, ordering: .relaxed)
                deliver(context.pending)
                context.pending.removeAll(keepingCapacity: true)
                lastDelivery = Date()
            }
        }
        context.meter.finish { context.pending.append($0) }
        if !context.pending.isEmpty {
            flowCount.add(context.pending.count, ordering: .relaxed)
            deliver(context.pending)
        }
    }

    /// Ends ``run(deliver:)`` within its read timeout (100 ms).
    public func stop() {
        stopped.store(true, ordering: .relaxed)
        pcap_breakloop(handle)
    }
}

extension NeuroplexError.Code {
    public static let captureNotPermitted: Self = "capture_not_permitted"
}
