import Foundation
import NeuroplexCore
import NeuroplexSentinel
import Testing

@Suite("Honeypot, SIEM and flow-record ingest", .timeLimit(.minutes(3)))
struct IngestTests {
    @Test("Cowrie JSON lines become login, command and connect events; bad lines are reported with their number")
    func cowrie() {
        let log = """
            {"eventid":"cowrie.session.connect","src_ip":"198.18.2.88","src_port":51000,"dst_ip":"198.18.1.5","dst_port":2222,"session":"a1","timestamp":"2026-11-24T01:00:00.123456Z"}
            {"eventid":"cowrie.login.failed","username":"root","password":"123456","src_ip":"198.18.2.88","session":"a1","timestamp":"2026-11-24T01:00:01.000000Z"}
            {"eventid":"cowrie.login.success","username":"root","password":"toor","src_ip":"198.18.2.88","session":"a1","timestamp":"2026-11-24T01:00:02Z"}
            {"eventid":"cowrie.command.input","input":"uname -a","src_ip":"198.18.2.88","session":"a1","timestamp":"2026-11-24T01:00:03Z"}
            {"eventid":"cowrie.login.failed","username":"root"}
            not json at all

            """
        let (events, rejected) = EventLogs.parse(log, format: .cowrie)
        #expect(events.map(\.kind) == ["connect", "login.failed", "login.succeeded", "command"])
        #expect(events[0].destinationPort == 2222 && events[0].destination == "198.18.1.5")
        #expect(events[1].user == "root" && events[1].source == "198.18.2.88")
        #expect(abs(events[0].time - 1_795_482_000.123456) < 1e-3)
        #expect(events[3].detail == "uname -a")
        #expect(rejected.map(\.line) == [5, 6])
        #expect(rejected[0].reason.contains("src_ip"))
    }

    @Test("syslog RFC 5424 and 3164: sshd failures and acceptances are logins from the address in the message")
    func syslog() {
        let now = Date(timeIntervalSince1970: 1_795_482_000)  // 2026-11-24T01:00:00Z
        let log = """
            <38>1 2026-11-24T01:00:05.000Z victim sshd 812 - - Failed password for invalid user admin from 198.18.2.99 port 40122 ssh2
            <38>1 2026-11-24T01:00:06Z victim sshd 812 - [origin ip="198.18.1.5"][meta sequenceId="7"] Accepted password for alice from 198.18.0.12 port 40200 ssh2
            <86>Nov 24 00:59:58 victim sshd[812]: Failed password for root from 198.18.2.99 port 40120 ssh2
            <13>1 2026-11-24T01:00:07Z victim cron 9 - - (root) CMD (run-parts /etc/cron.hourly)
            <999>1 2026-11-24T01:00:07Z victim cron 9 - - too high
            <13>1 yesterday victim cron 9 - - bad time
            """
        let (events, rejected) = EventLogs.parse(log, now: now)
        #expect(events.map(\.kind) == ["login.failed", "login.succeeded", "login.failed", "syslog"])
        #expect(events[0].source == "198.18.2.99" && events[0].user == "admin")
        #expect(events[1].source == "198.18.0.12" && events[1].user == "alice" && events[1].time == 1_795_482_006)
        #expect(events[2].source == "198.18.2.99" && events[2].user == "root")
        #expect(events[2].time == EventLogsTime.utc(2026, 11, 24, 0, 59, 58))
        #expect(events[3].source == "victim" && events[3].detail?.hasPrefix("cron: (root) CMD") == true)
        #expect(rejected.map(\.line) == [5, 6])
    }

    @Test("CEF: escaped header and extension, logins by name and outcome, attribution required")
    func cef() {
        let log = #"""
            CEF:0|Acme|Fire\|Wall|1.0|100|Login failed|7|src=198.18.2.50 dst=198.18.1.5 dpt=22 suser=bob rt=1795482010000 outcome=failure msg=bad \= password
            Nov 24 01:00:11 fw CEF:0|Acme|IDS|2.1|200|Port sweep detected|5|src=198.18.2.66 dhost=web-1 cs1=a\\b
            CEF:0|Acme|IDS|2.1|300|Heartbeat|1|dvc=198.18.1.1
            CEF:0|too|few
            """#
        let (events, rejected) = EventLogs.parse(log)
        #expect(events.count == 2)
        #expect(events[0].kind == "login.failed" && events[0].source == "198.18.2.50" && events[0].destinationPort == 22)
        #expect(events[0].user == "bob" && events[0].time == 1_795_482_010)
        #expect(events[0].detail?.contains("Fire|Wall") == true)
        #expect(events[1].kind == "siem" && events[1].destination == "web-1")
        #expect(rejected.map(\.line) == [3, 4])
        #expect(rejected[0].reason.contains("src"))
    }

    @Test("Zeek conn.log: columns by #fields, unset values, flags from history")
    func zeek() throws {
        let log = """
            #separator \\x09
            #set_separator\t,
            #fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\thistory\torig_pkts\tresp_pkts
            #types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tstring\tcount\tcount
            1700000000.5\tCa1\t198.18.0.10\t40000\t198.18.1.1\t80\ttcp\thttp\t0.02\t100\t2000\tSF\tShADadFf\t5\t4
            1700000003.1\tCa2\t198.18.2.66\t55555\t198.18.1.1\t1\ttcp\t-\t-\t-\t-\tREJ\tSr\t1\t1
            1700000004\tCa3\tbroken
            """
        let (flows, rejected) = try FlowImports.zeek(log)
        #expect(flows.count == 2 && rejected.map(\.line) == [7])
        #expect(flows[0].id == "Ca1" && flows[0].forwardPackets == 5 && flows[0].backwardBytes == 2000)
        #expect(flows[0].synCount == 1 && flows[0].finCount == 2 && abs(flows[0].duration - 0.02) < 1e-6)
        #expect(flows[1].isHalfOpen && flows[1].rstCount == 1 && flows[1].duration == 0)
        #expect(throws: NeuroplexError.self) { try FlowImports.zeek("1700000000.5\tCa1\n") }
    }

    @Test("CICFlowMeter CSV: both column spellings, its timestamp forms, duration in microseconds")
    func cicFlowMeter() throws {
        let csv = """
            Flow ID,Src IP,Src Port,Dst IP,Dst Port,Protocol,Timestamp,Flow Duration,Total Fwd Packet,Total Bwd packets,Total Length of Fwd Packet,Total Length of Bwd Packet,SYN Flag Count,RST Flag Count,FIN Flag Count,Label
            198.18.1.1-198.18.0.10-80-40000-6,198.18.0.10,40000,198.18.1.1,80,6,14/11/2023 10:13:20 PM,20000,5,4,100,2000,2,0,2,BENIGN
            x,198.18.2.66,55555,198.18.1.1,1,6,2023-11-14 22:13:23.002,200,1,1,0,0,1,1,0,PortScan
            y,198.18.2.66,55555,198.18.1.1,2,6,31/02/2023 10:00:00,200,1,1,0,0,1,1,0,PortScan
            """
        let (flows, rejected) = try FlowImports.cicFlowMeter(csv)
        #expect(flows.count == 2 && rejected.map(\.line) == [4])
        #expect(flows[0].start == 1_700_000_000 && abs(flows[0].duration - 0.02) < 1e-6)
        #expect(flows[0].forwardBytes == 100 && flows[0].synCount == 2 && flows[0].transport == .tcp)
        #expect(abs(flows[1].start - 1_700_000_003.002) < 1e-6 && flows[1].isHalfOpen)

        let dataset = """
            Dst Port,Protocol,Timestamp,Flow Duration,Tot Fwd Pkts,Tot Bwd Pkts,TotLen Fwd Pkts,Src IP,Src Port,Dst IP
            22,6,1700000000,5,3,2,40,198.18.2.77,40100,198.18.1.2
            """
        let other = try FlowImports.cicFlowMeter(dataset)
        #expect(other.flows.first?.forwardPackets == 3 && other.flows.first?.destinationPort == 22)
        #expect(throws: NeuroplexError.self) { try FlowImports.cicFlowMeter("a,b,c\n1,2,3") }
    }

    @Test("events and imported flows drive the default rules")
    func intoRules() throws {
        var engine = RuleEngine()
        let failures = (0..<6).map {
            #"<38>1 2026-11-24T01:00:0\#($0)Z victim sshd 812 - - Failed password for root from 198.18.2.99 port 4012\#($0) ssh2"#
        }.joined(separator: "\n")
        let alerts = EventLogs.parse(failures).events.flatMap { engine.observe($0) }
        #expect(alerts.last?.technique == "T1110" && alerts.last?.source == "198.18.2.99")
    }
}

enum EventLogsTime {
    static func utc(_ year: Int, _ month: Int, _ day: Int, _ hour: Int, _ minute: Int, _ second: Int) -> Double {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.date(from: DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second))!
            .timeIntervalSince1970
    }
}
