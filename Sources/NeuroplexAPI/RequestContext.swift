import Hummingbird
import Logging

/// The Hummingbird request context of every Neuroplex route.
struct NeuroplexRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// Bodies are limited by ``BodyLimitMiddleware``; this only bounds Hummingbird's own decoding.
    var maxUploadSize: Int { 32 * 1024 * 1024 }

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }
}
