import NeuroplexGateway
import Testing

@Suite("API key secrets, scopes and rate limits", .timeLimit(.minutes(3)))
struct APIKeySecretTests {
    @Test("a generated key parses; a one-character typo fails its checksum")
    func checksum() throws {
        let secret = APIKeySecret.generate()
        #expect(secret.value.hasPrefix("nplx_"))
        #expect(APIKeySecret(parsing: secret.value) == secret)
        var characters = Array(secret.value)
        let position = 10
        characters[position] = characters[position] == "a" ? "b" : "a"
        #expect(APIKeySecret(parsing: String(characters)) == nil)
        #expect(APIKeySecret(parsing: "nplx_not_a_real_key") == nil)
        #expect(APIKeySecret(parsing: "") == nil)
    }

    @Test("two keys never share a hash, and the hash is not the key")
    func hashing() {
        let a = APIKeySecret.generate()
        let b = APIKeySecret.generate()
        #expect(a.hash != b.hash)
        #expect(a.hash.count == 64)
        #expect(!a.hash.contains(a.value))
        #expect(a.prefix.count == 13 && a.value.hasPrefix(a.prefix))
    }

    @Test("admin grants everything; write grants read of the same area only")
    func scopes() {
        #expect(Scope.admin.grants(.mlWrite))
        #expect(Scope.memoryWrite.grants(.memoryRead))
        #expect(!Scope.memoryRead.grants(.memoryWrite))
        #expect(!Scope.mlWrite.grants(.memoryRead))
        #expect(!Scope.memoryWrite.grants(.admin))
        #expect([Scope.memoryRead, .mlPredict].grant(.mlPredict))
    }

    @Test("GCRA: a burst of `limit`, then one request per window/limit, with an honest Retry-After")
    func rateLimiter() {
        let limiter = RateLimiter()
        let limit = RateLimit(limit: 3, windowSeconds: 60)
        for _ in 0..<3 { #expect(limiter.acquire(key: "k", limit: limit, now: 1000) == .allowed) }
        #expect(limiter.acquire(key: "k", limit: limit, now: 1000) == .limited(retryAfterSeconds: 20))
        #expect(limiter.acquire(key: "k", limit: limit, now: 1019) == .limited(retryAfterSeconds: 1))
        #expect(limiter.acquire(key: "k", limit: limit, now: 1020) == .allowed)
        #expect(limiter.acquire(key: "other", limit: limit, now: 1020) == .allowed)
        limiter.forget(key: "k")
        #expect(limiter.acquire(key: "k", limit: limit, now: 1020) == .allowed)
    }
}
