/// Count, mean and sum of squared deviations of a stream of numbers (Welford's algorithm: one pass, no
/// cancellation), from which the variance follows.
struct Moments: Sendable {
    private(set) var count = 0
    private(set) var mean = 0.0
    /// The sum of squared deviations from the mean.
    private(set) var m2 = 0.0

    mutating func add(_ value: Double) {
        count += 1
        let delta = value - mean
        mean += delta / Double(count)
        m2 += delta * (value - mean)
    }

    /// The sample standard deviation (n − 1 in the denominator, as pandas reports it); `nil` below two values.
    var standardDeviation: Double? {
        count > 1 ? (m2 / Double(count - 1)).squareRoot() : nil
    }
}

/// Co-moments of a stream of pairs (x, y), for Pearson's correlation in one pass.
struct PairMoments: Sendable {
    private var count = 0
    private var meanX = 0.0, meanY = 0.0
    private var m2X = 0.0, m2Y = 0.0, coMoment = 0.0

    mutating func add(_ x: Double, _ y: Double) {
        count += 1
        let n = Double(count)
        let deltaX = x - meanX
        meanX += deltaX / n
        let deltaY = y - meanY
        meanY += deltaY / n
        coMoment += deltaX * (y - meanY)
        m2X += deltaX * (x - meanX)
        m2Y += deltaY * (y - meanY)
    }

    /// Pearson's r; `nil` when either side is constant or there are fewer than two pairs.
    var correlation: Double? {
        guard count > 1, m2X > 0, m2Y > 0 else { return nil }
        return coMoment / (m2X * m2Y).squareRoot()
    }
}

/// The correlation ratio η of a numeric variable grouped by a categorical one: the share of the numeric
/// variable's spread explained by the groups, as a number from 0 (no relation) to 1 (each group is constant).
func correlationRatio(_ groups: some Sequence<Moments>) -> Double? {
    var count = 0
    var sum = 0.0
    var within = 0.0
    var groupList: [Moments] = []
    for group in groups where group.count > 0 {
        count += group.count
        sum += group.mean * Double(group.count)
        within += group.m2
        groupList.append(group)
    }
    guard count > 1, groupList.count > 1 else { return nil }
    let grandMean = sum / Double(count)
    let between = groupList.reduce(0.0) { $0 + Double($1.count) * ($1.mean - grandMean) * ($1.mean - grandMean) }
    let total = between + within
    guard total > 0 else { return nil }
    return (between / total).squareRoot()
}

/// Cramér's V of a contingency table (rows: values of one variable, columns: values of the other), from 0 (no
/// association) to 1.
func cramersV(_ table: [[Int]]) -> Double? {
    let rows = table.filter { $0.contains { $0 > 0 } }
    guard let width = rows.first?.count, rows.count > 1 else { return nil }
    var columnTotals = [Int](repeating: 0, count: width)
    for row in rows { for (column, value) in row.enumerated() { columnTotals[column] += value } }
    let usedColumns = columnTotals.indices.filter { columnTotals[$0] > 0 }
    guard usedColumns.count > 1 else { return nil }
    let total = Double(columnTotals.reduce(0, +))
    var chiSquare = 0.0
    for row in rows {
        let rowTotal = Double(row.reduce(0, +))
        for column in usedColumns {
            let expected = rowTotal * Double(columnTotals[column]) / total
            let difference = Double(row[column]) - expected
            chiSquare += difference * difference / expected
        }
    }
    let dimension = Double(min(rows.count, usedColumns.count) - 1)
    return (chiSquare / total / dimension).squareRoot()
}
