import NeuroplexML
import Testing

@Suite("Job doorbell", .timeLimit(.minutes(3)))
struct JobSignalTests {
    @Test("a ring wakes an idle worker at once; a ring it missed while looking is not lost; the timeout still ends a wait",
        .timeLimit(.minutes(1)))
    func doorbell() async throws {
        let signal = JobSignal()
        // Rung while waiting: the wait ends long before its 60 s timeout.
        let seen = signal.generation
        let waiter = Task { await signal.wait(after: seen, timeout: .seconds(60)) }
        while signal.generation == seen {
            signal.ring()
            try await Task.sleep(for: .milliseconds(5))
        }
        await waiter.value
        // Rung between the look at the queue and the wait: the wait returns at once.
        let before = signal.generation
        signal.ring()
        let start = ContinuousClock.now
        await signal.wait(after: before, timeout: .seconds(60))
        #expect(ContinuousClock.now - start < .seconds(30))
        // Nobody rings: the timeout ends it.
        await signal.wait(after: signal.generation, timeout: .milliseconds(50))
        // Cancelled: it ends too.
        let cancelled = Task { await signal.wait(after: signal.generation, timeout: .seconds(60)) }
        cancelled.cancel()
        await cancelled.value
    }
}
