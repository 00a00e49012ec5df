@testable import NeuroplexAPI
import Testing

@Suite(.timeLimit(.minutes(3))) struct ServerThreadsTests {
    @Test func theAffinityMaskIsCountedFromProcStatus() {
        #expect(ServerThreads.allowedCPUs(status: "Name:\tneuroplex\nCpus_allowed:\t1\nCpus_allowed_list:\t0\n") == 1)
        #expect(ServerThreads.allowedCPUs(status: "Cpus_allowed:\t3\n") == 2)
        #expect(ServerThreads.allowedCPUs(status: "Cpus_allowed:\tffffffff,ffffffff,00000000,0000000f\n") == 68)
        #expect(ServerThreads.allowedCPUs(status: "Name:\tx\n") == 0)
        #expect(ServerThreads.allowedCPUs(status: nil) == 0)
        // This process: at least one CPU, and never more than the machine has.
        #expect(ServerThreads.allowedCPUs() >= 1)
    }
}
