/// Limited-memory BFGS minimisation of a smooth function with a strong-Wolfe line search (Nocedal and Wright,
/// *Numerical Optimization*, algorithms 7.4, 3.5 and 3.6).
///
/// The stopping rules follow SciPy's L-BFGS-B, which scikit-learn's `lbfgs` solver calls: stop when the largest
/// gradient component is at most `gradientTolerance` (scikit-learn's `tol`), when an iteration reduces the function
/// by a relative amount of at most `relativeReductionTolerance`, or after `maxIterations` iterations.
struct LBFGS {
    var memory = 10
    var maxIterations = 100
    var gradientTolerance = 1e-4
    var relativeReductionTolerance = 2.220446049250313e-09
    var maxLineSearchSteps = 20

    /// Why minimisation stopped.
    enum Stop: String, Sendable {
        case gradientSmall = "gradient_below_tol"
        case reductionSmall = "relative_reduction_below_ftol"
        case iterationLimit = "max_iter_reached"
        case lineSearchFailed = "line_search_failed"
    }

    struct Result {
        var iterations: Int
        var value: Double
        var stop: Stop
    }

    /// Minimises from `x` (updated in place).
    /// - Parameters:
    ///   - evaluate: writes the gradient at its first argument into its second and returns the function value.
    ///   - iterationDone: called after every iteration with its number, the point reached, the function value there
    ///     and the largest gradient component; it may throw (for cancellation) to stop.
    func minimize(
        _ x: inout [Double],
        evaluate: (UnsafeBufferPointer<Double>, UnsafeMutableBufferPointer<Double>) throws -> Double,
        iterationDone: (_ iteration: Int, _ x: [Double], _ value: Double, _ gradientMax: Double) throws -> Void
    ) throws -> Result {
        let n = x.count
        var g = [Double](repeating: 0, count: n)
        var f = try x.withUnsafeBufferPointer { xp in try g.withUnsafeMutableBufferPointer { try evaluate(xp, $0) } }
        guard Self.maxAbs(g) > gradientTolerance else { return Result(iterations: 0, value: f, stop: .gradientSmall) }

        // Correction pairs in a ring: s = x_{k+1} − x_k, y = g_{k+1} − g_k, ρ = 1 / yᵀs.
        var sHistory = [Double](repeating: 0, count: memory * n)
        var yHistory = [Double](repeating: 0, count: memory * n)
        var rho = [Double](repeating: 0, count: memory)
        var alpha = [Double](repeating: 0, count: memory)
        var stored = 0, newest = -1
        var direction = [Double](repeating: 0, count: n)
        var xTrial = [Double](repeating: 0, count: n)
        var gTrial = [Double](repeating: 0, count: n)

        for iteration in 1...maxIterations {
            // Two-loop recursion: direction = −H g.
            var gamma = 1.0
            sHistory.withUnsafeBufferPointer { sp in
                yHistory.withUnsafeBufferPointer { yp in
                    direction.withUnsafeMutableBufferPointer { q in
                        for i in 0..<n { q[i] = -g[i] }
                        var slot = newest
                        for _ in 0..<stored {
                            let base = slot * n
                            var dot = 0.0
                            for i in 0..<n { dot += sp[base + i] * q[i] }
                            alpha[slot] = rho[slot] * dot
                            for i in 0..<n { q[i] -= alpha[slot] * yp[base + i] }
                            slot = (slot - 1 + memory) % memory
                        }
                        if stored > 0 {
                            let base = newest * n
                            var sy = 0.0, yy = 0.0
                            for i in 0..<n {
                                sy += sp[base + i] * yp[base + i]
                                yy += yp[base + i] * yp[base + i]
                            }
                            gamma = sy / yy
                        }
                        for i in 0..<n { q[i] *= gamma }
                        slot = (newest - stored + 1 + memory) % memory
                        for _ in 0..<stored {
                            let base = slot * n
                            var dot = 0.0
                            for i in 0..<n { dot += yp[base + i] * q[i] }
                            let beta = rho[slot] * dot
                            for i in 0..<n { q[i] += (alpha[slot] - beta) * sp[base + i] }
                            slot = (slot + 1) % memory
                        }
                    }
                }
            }
            var slope = Self.dot(direction, g)
            if !(slope < 0) {
                // Not a descent direction (numerical trouble): forget the curvature and go downhill.
                stored = 0
                for i in 0..<n { direction[i] = -g[i] }
                slope = Self.dot(direction, g)
            }
            let initialStep = stored == 0 ? min(1.0, 1.0 / Self.norm(g)) : 1.0

            // Line search along `direction` for a step meeting the strong Wolfe conditions; xTrial and gTrial
            // always hold the last point evaluated.
            let c1 = 1e-4, c2 = 0.9
            var lastStep = -1.0, lastValue = Double.infinity
            func phi(_ step: Double) throws -> (value: Double, slope: Double) {
                for i in 0..<n { xTrial[i] = x[i] + step * direction[i] }
                let value = try xTrial.withUnsafeBufferPointer { xp in
                    try gTrial.withUnsafeMutableBufferPointer { try evaluate(xp, $0) }
                }
                lastStep = step
                lastValue = value
                return (value, Self.dot(gTrial, direction))
            }
            var accepted: Double? = nil
            var previousStep = 0.0, previous = (value: f, slope: slope)
            var step = initialStep
            var low = 0.0, lowPoint = (value: f, slope: slope), high = 0.0, highValue = f, zooming = false
            for attempt in 0..<maxLineSearchSteps {
                let trial = try phi(step)
                if !trial.value.isFinite || trial.value > f + c1 * step * slope
                    || (attempt > 0 && trial.value >= previous.value)
                {
                    (low, lowPoint, high, highValue) = (previousStep, previous, step, trial.value)
                    zooming = true
                    break
                }
                if abs(trial.slope) <= -c2 * slope {
                    accepted = step
                    break
                }
                if trial.slope >= 0 {
                    (low, lowPoint, high, highValue) = (step, trial, previousStep, previous.value)
                    zooming = true
                    break
                }
                previousStep = step
                previous = trial
                step *= 2
            }
            // Still descending after every doubling: take the longest step tried.
            if !zooming, accepted == nil, previousStep > 0 { accepted = previousStep }
            if zooming {
                for _ in 0..<maxLineSearchSteps {
                    // The minimum of the quadratic through φ(low), φ'(low) and φ(high), kept inside the bracket.
                    let width = high - low
                    var candidate = low + width / 2
                    if highValue.isFinite {
                        let denominator = 2 * (highValue - lowPoint.value - lowPoint.slope * width)
                        if denominator > 0 { candidate = low - lowPoint.slope * width * width / denominator }
                    }
                    let lowerEdge = min(low, high) + 0.1 * abs(width), upperEdge = max(low, high) - 0.1 * abs(width)
                    candidate = min(max(candidate, lowerEdge), upperEdge)
                    let trial = try phi(candidate)
                    if !trial.value.isFinite || trial.value > f + c1 * candidate * slope || trial.value >= lowPoint.value {
                        high = candidate
                        highValue = trial.value
                    } else {
                        if abs(trial.slope) <= -c2 * slope {
                            accepted = candidate
                            break
                        }
                        if trial.slope * (high - low) >= 0 {
                            high = low
                            highValue = lowPoint.value
                        }
                        low = candidate
                        lowPoint = trial
                    }
                    if abs(high - low) <= 1e-15 * max(1, abs(low)) { break }
                }
                // No strong-Wolfe step: take the best sufficient-decrease step found, if any.
                if accepted == nil, low > 0 { accepted = low }
            }
            guard let acceptedStep = accepted else {
                return Result(iterations: iteration - 1, value: f, stop: .lineSearchFailed)
            }
            if lastStep != acceptedStep { _ = try phi(acceptedStep) }
            let fNew = lastValue

            // Store the correction pair when the curvature is positive (always, for a convex function).
            let slot = (newest + 1) % memory
            var sy = 0.0, yy = 0.0
            for i in 0..<n {
                let s = xTrial[i] - x[i], y = gTrial[i] - g[i]
                sHistory[slot * n + i] = s
                yHistory[slot * n + i] = y
                sy += s * y
                yy += y * y
            }
            if sy > 2.220446049250313e-16 * yy {
                rho[slot] = 1 / sy
                newest = slot
                stored = min(stored + 1, memory)
            }
            let reduction = (f - fNew) / max(abs(f), abs(fNew), 1)
            swap(&x, &xTrial)
            swap(&g, &gTrial)
            f = fNew
            let gradientMax = Self.maxAbs(g)
            try iterationDone(iteration, x, f, gradientMax)
            if gradientMax <= gradientTolerance { return Result(iterations: iteration, value: f, stop: .gradientSmall) }
            if reduction <= relativeReductionTolerance {
                return Result(iterations: iteration, value: f, stop: .reductionSmall)
            }
        }
        return Result(iterations: maxIterations, value: f, stop: .iterationLimit)
    }

    static func dot(_ a: [Double], _ b: [Double]) -> Double {
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                var sum = 0.0
                for i in 0..<a.count { sum += a[i] * b[i] }
                return sum
            }
        }
    }

    static func norm(_ a: [Double]) -> Double { dot(a, a).squareRoot() }

    static func maxAbs(_ a: [Double]) -> Double {
        a.withUnsafeBufferPointer { a in a.reduce(0) { max($0, abs($1)) } }
    }
}
