@testable import NeuroplexML
import Testing

@Suite("L-BFGS", .timeLimit(.minutes(3)))
struct LBFGSTests {
    @Test("finds the minimum of the Rosenbrock function from the classic start")
    func rosenbrock() throws {
        // f(x, y) = (1 − x)² + 100 (y − x²)², minimum 0 at (1, 1); a curved valley that defeats naive descent.
        var optimizer = LBFGS()
        optimizer.maxIterations = 200
        optimizer.gradientTolerance = 1e-9
        optimizer.relativeReductionTolerance = 0
        var x = [-1.2, 1.0]
        var iterations: [Int] = []
        let result = try optimizer.minimize(&x, evaluate: { p, g in
            let a = 1 - p[0], b = p[1] - p[0] * p[0]
            g[0] = -2 * a - 400 * p[0] * b
            g[1] = 200 * b
            return a * a + 100 * b * b
        }, iterationDone: { iteration, _, _, _ in iterations.append(iteration) })
        #expect(result.stop == .gradientSmall)
        #expect(abs(x[0] - 1) < 1e-6 && abs(x[1] - 1) < 1e-6, "\(x)")
        #expect(result.value < 1e-12)
        #expect(iterations == Array(1...result.iterations))
        #expect(result.iterations < 60)
    }

    @Test("stops at max_iter, and at once when the start is already optimal")
    func limits() throws {
        var optimizer = LBFGS()
        optimizer.maxIterations = 3
        var x = [10.0, -4.0, 3.0]
        let quadratic: (UnsafeBufferPointer<Double>, UnsafeMutableBufferPointer<Double>) -> Double = { p, g in
            // An ill-conditioned quadratic: not solved in 3 iterations.
            let scales = [1.0, 1e3, 1e-3]
            var value = 0.0
            for i in 0..<3 {
                g[i] = scales[i] * p[i]
                value += 0.5 * scales[i] * p[i] * p[i]
            }
            return value
        }
        let limited = try optimizer.minimize(&x, evaluate: quadratic, iterationDone: { _, _, _, _ in })
        #expect(limited.stop == .iterationLimit && limited.iterations == 3)

        var zero = [0.0, 0.0, 0.0]
        let immediate = try optimizer.minimize(&zero, evaluate: quadratic, iterationDone: { _, _, _, _ in })
        #expect(immediate.stop == .gradientSmall && immediate.iterations == 0)
    }
}
