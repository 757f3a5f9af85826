import Hummingbird

extension HTTPFields {
    /// `Content-Type: application/json`, which every request with a body must send.
    static let json: HTTPFields = [.contentType: "application/json"]
}
