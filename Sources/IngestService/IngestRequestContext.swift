import Hummingbird
import NIOCore

/// The request context of every ingest route: Hummingbird's core storage, the client's address (for the public
/// routes' per-client limit) and, on the routes that need a token, the user `BearerAuthenticator` found in it.
public struct IngestRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The peer of the connection: the client, or the proxy or CDN in front of the ingest.
    public let remoteAddress: SocketAddress?
    /// The token's subject; nil until `BearerAuthenticator` ran, and on public routes.
    public var user: Int64?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        user = nil
    }

    /// The authenticated user. Only routes behind `BearerAuthenticator` call it, so a nil user is a route
    /// declared in the wrong group: refused, never served as nobody.
    func requireUser() throws -> Int64 {
        guard let user else { throw APIError.unauthorized("send Authorization: Bearer <token>") }
        return user
    }
}
