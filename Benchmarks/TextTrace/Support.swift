import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NeuroplexCore

/// One edit of a trace: delete `deleted` scalars at `position`, then insert `inserted` there.
struct Patch {
    var position: Int
    var deleted: Int
    var inserted: String
}

/// The patches of one transaction (`[[pos, numDeleted, "inserted"], ...]`); malformed ones are skipped.
func patches(of transaction: JSONValue) -> [Patch] {
    guard case .array(let list)? = transaction["patches"] else { return [] }
    return list.compactMap { patch in
        guard case .array(let parts) = patch, parts.count == 3, case .int(let position) = parts[0],
            case .int(let deleted) = parts[1], case .string(let inserted) = parts[2]
        else { return nil }
        return Patch(position: Int(position), deleted: Int(deleted), inserted: inserted)
    }
}

/// The process's resident size now (from /proc/self/statm).
func residentBytes() -> Int {
    guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = statm.split(separator: " ")
    return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
}

/// Hands memory the allocator keeps after `free` back to the system (glibc's `malloc_trim`, if present), so
/// that the resident size shows what is still allocated.
func releaseFreedMemory() {
    #if canImport(Glibc)
    typealias Trim = @convention(c) (Int) -> Int32
    if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") {
        _ = unsafeBitCast(symbol, to: Trim.self)(0)
    }
    #endif
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func fail(_ message: String, code: Int32 = 2) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(code)
}

/// Where two texts first differ, as a line for the report; `nil` if they are equal.
func firstDifference(_ actual: String, _ expected: String) -> String? {
    let a = Array(actual.unicodeScalars)
    let e = Array(expected.unicodeScalars)
    guard a != e else { return nil }
    var offset = 0
    while offset < min(a.count, e.count), a[offset] == e[offset] { offset += 1 }
    func around(_ scalars: [Unicode.Scalar]) -> String {
        let window = max(0, offset - 20)..<min(scalars.count, offset + 40)
        return String(String.UnicodeScalarView(scalars[window])).debugDescription
    }
    return "first difference at scalar offset \(offset) (lengths \(a.count) and \(e.count)):\n"
        + "  got      \(around(a))\n  expected \(around(e))"
}
