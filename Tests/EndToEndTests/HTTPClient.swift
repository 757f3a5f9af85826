import CCurl
import Foundation
import NIOPosix

/// An HTTP client over libcurl, for talking to a live server as an outside client would.
///
/// libcurl blocks its thread for the whole transfer, so every call runs on a NIO thread pool, never on
/// Swift's cooperative pool, whose few threads would otherwise starve the server under test.
///
/// That pool is ``blockingPool``, not `NIOThreadPool.singleton`: the server under test loads static files
/// (and looks for one on every unknown path) on the singleton, which has one thread per core. Transfers
/// blocking all of its threads while they wait for answers that need it deadlock until the timeout.
struct HTTPClient: Sendable {
    /// The threads that run libcurl's blocking transfers: as many as the concurrent requests a test makes.
    static let blockingPool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 8)
        pool.start()
        return pool
    }()

    /// The server's origin, such as `http://127.0.0.1:41234`.
    let baseURL: String
    /// The limit on one whole request, in milliseconds.
    var timeoutMilliseconds = 10_000

    /// Sends one request and waits for the whole answer.
    /// - Parameters:
    ///   - method: The HTTP method ("GET", "POST", "DELETE", "HEAD"...).
    ///   - path: The path and query, starting with "/".
    ///   - body: The request body, sent with `Content-Type: application/json` unless `headers` name another
    ///     type; nil sends none.
    ///   - headers: More header lines, such as `"Authorization: Bearer T"`.
    /// - Returns: The status and the body received.
    func request(method: String = "GET", path: String, body: [UInt8]? = nil, headers: [String] = []) async throws -> (status: Int, body: [UInt8]) {
        let answer = try await self.exchange(method: method, path: path, body: body, headers: headers)
        return (answer.status, answer.body)
    }

    /// Sends one request as ``request(method:path:body:headers:)`` does, and also returns the answer's
    /// header lines (`Name: value`, the status line left out).
    func exchange(method: String = "GET", path: String, body: [UInt8]? = nil, headers: [String] = []) async throws -> Answer {
        precondition(path.hasPrefix("/"), "a path starts with /")
        let url = self.baseURL + path
        let timeout = self.timeoutMilliseconds
        return try await Self.blockingPool.runIfActive {
            try Self.perform(method: method, url: url, body: body, headers: headers, timeoutMilliseconds: timeout)
        }
    }

    /// A whole answer: status, header lines and body.
    struct Answer: Sendable {
        var status: Int
        var headers: [String]
        var body: [UInt8]

        /// The values of the header `name` (case-insensitive), in the order received.
        func header(_ name: String) -> [String] {
            let prefix = name.lowercased() + ":"
            return self.headers.filter { $0.lowercased().hasPrefix(prefix) }.map {
                String($0.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces)
            }
        }
    }

    /// Runs one blocking transfer on the calling thread.
    private static func perform(
        method: String,
        url: String,
        body: [UInt8]?,
        headers: [String],
        timeoutMilliseconds: Int
    ) throws -> Answer {
        try check(curlGlobalInit, "curl_global_init")
        guard let curl = curl_easy_init() else {
            throw CurlError(operation: "curl_easy_init", message: "no handle")
        }
        defer { curl_easy_cleanup(curl) }

        var headerLines = headers
        if body != nil, !headers.contains(where: { $0.lowercased().hasPrefix("content-type:") }) {
            headerLines.append("Content-Type: application/json")
        }
        var headerList: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl_slist_free_all(headerList) }
        for line in headerLines {
            guard let appended = curl_slist_append(headerList, line) else {
                throw CurlError(operation: "curl_slist_append", message: "out of memory")
            }
            headerList = appended
        }

        try check(ccurl_set_url(curl, url), "CURLOPT_URL")
        try check(ccurl_set_nosignal(curl, 1), "CURLOPT_NOSIGNAL")
        try check(ccurl_set_timeout_ms(curl, timeoutMilliseconds), "CURLOPT_TIMEOUT_MS")
        try check(ccurl_set_http_header(curl, headerList), "CURLOPT_HTTPHEADER")
        if let body {
            // libcurl copies the body (CURLOPT_COPYPOSTFIELDS); an empty one still needs a valid pointer.
            let code: CURLcode
            if body.isEmpty {
                code = ccurl_set_post_fields(curl, "", 0)
            } else {
                code = body.withUnsafeBytes { ccurl_set_post_fields(curl, $0.baseAddress, Int64($0.count)) }
            }
            try check(code, "CURLOPT_COPYPOSTFIELDS")
        }
        if method == "HEAD" {
            try check(ccurl_set_nobody(curl, 1), "CURLOPT_NOBODY")
        } else {
            try check(ccurl_set_custom_request(curl, method), "CURLOPT_CUSTOMREQUEST")
        }

        let append: ccurl_write_callback = { data, size, count, userdata in
            guard let userdata else { return 0 }
            let length = size * count
            let received = Unmanaged<ReceivedBytes>.fromOpaque(userdata).takeUnretainedValue()
            received.bytes.append(contentsOf: UnsafeRawBufferPointer(start: data, count: length))
            return length
        }
        let received = ReceivedBytes()
        let receivedHeaders = ReceivedBytes()
        try check(ccurl_set_write_function(curl, append), "CURLOPT_WRITEFUNCTION")
        try check(ccurl_set_header_function(curl, append), "CURLOPT_HEADERFUNCTION")
        return try withExtendedLifetime((received, receivedHeaders)) {
            try check(ccurl_set_write_data(curl, Unmanaged.passUnretained(received).toOpaque()), "CURLOPT_WRITEDATA")
            try check(ccurl_set_header_data(curl, Unmanaged.passUnretained(receivedHeaders).toOpaque()), "CURLOPT_HEADERDATA")
            try check(curl_easy_perform(curl), "curl_easy_perform")
            var status = 0
            try check(ccurl_get_response_code(curl, &status), "CURLINFO_RESPONSE_CODE")
            let lines = String(decoding: receivedHeaders.bytes, as: UTF8.self).split(separator: "\r\n").dropFirst().map(String.init)
            return Answer(status: status, headers: lines, body: received.bytes)
        }
    }

    /// Throws unless `code` is CURLE_OK.
    static func check(_ code: CURLcode, _ operation: String) throws {
        guard code == CURLE_OK else {
            throw CurlError(operation: operation, code: code, message: String(cString: curl_easy_strerror(code)))
        }
    }
}

/// A libcurl failure, with libcurl's own words for it.
struct CurlError: Error, CustomStringConvertible {
    /// The call or option that failed.
    let operation: String
    /// libcurl's result code, when there is one.
    var code: CURLcode?
    /// libcurl's description of the code.
    let message: String

    init(operation: String, code: CURLcode? = nil, message: String) {
        self.operation = operation
        self.code = code
        self.message = message
    }

    var description: String { "\(self.operation): \(self.message)" }
}

/// The body received so far; written by libcurl's write callback on the one thread running the transfer.
private final class ReceivedBytes {
    var bytes: [UInt8] = []
}

/// libcurl's global initialisation, run once (Swift initialises globals lazily and exactly once).
let curlGlobalInit: CURLcode = ccurl_global_init_default()
