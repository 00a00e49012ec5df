import Foundation
import NeuroplexCore
import Synchronization
import Testing

/// The pool keeps its threads between runs: state a thread keeps (XGBoost's OpenMP team) is there for the next run.
@Suite("Dedicated thread pool", .timeLimit(.minutes(3)))
struct DedicatedThreadPoolTests {
    /// The calling thread's identity (pool threads never exit, so no other thread takes it over).
    static func threadID() -> UInt64 { UInt64(pthread_self()) }

    /// The calling thread's name as the kernel has it (what `top -H` and backtraces show).
    static func threadName() -> String {
        ((try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("runs one after another reuse the same thread, off the caller's, with the pool's name")
    func reusesItsThread() async throws {
        let pool = DedicatedThread.Pool(name: "pool-test")
        var seen: Set<UInt64> = []
        for _ in 0..<5 {
            let (id, name) = try await pool.run { _ in (Self.threadID(), Self.threadName()) }
            seen.insert(id)
            #expect(name == "pool-test")
        }
        #expect(seen.count == 1)
    }

    @Test("runs under way at once get threads of their own, which are kept for later runs")
    func concurrentRunsGetTheirOwnThreads() async throws {
        final class Counter: Sendable { let started = Atomic<Int>(0) }
        let pool = DedicatedThread.Pool(name: "pool-test")
        let counter = Counter()
        @Sendable func overlapping() async throws -> Set<UInt64> {
            try await withThrowingTaskGroup(of: UInt64.self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        try await pool.run { _ in
                            // Each run waits until all three have started: they cannot share a thread.
                            counter.started.add(1, ordering: .relaxed)
                            let deadline = Date().addingTimeInterval(10)
                            while counter.started.load(ordering: .relaxed) % 3 != 0, Date() < deadline { usleep(100) }
                            return Self.threadID()
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.insert($1) }
            }
        }
        let first = try await overlapping()
        #expect(first.count == 3)
        let second = try await overlapping()
        #expect(second == first)
    }

    @Test("errors reach the caller, and cancelling the caller tells the work")
    func errorsAndCancellation() async throws {
        struct Failure: Error {}
        let pool = DedicatedThread.Pool(name: "pool-test")
        await #expect(throws: Failure.self) { try await pool.run { _ -> Int in throw Failure() } }
        let task = Task {
            try await pool.run { cancellation in
                let deadline = Date().addingTimeInterval(10)
                while !cancellation.isCancelled, Date() < deadline { usleep(100) }
                try cancellation.check()
                return 0
            }
        }
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        // The thread is free again afterwards.
        #expect(try await pool.run { _ in 42 } == 42)
    }
}
