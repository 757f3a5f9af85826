import CCurl
import Synchronization

extension HTTPClient {
    /// Runs a GET whose answer does not end by itself (Server-Sent Events), feeding each piece received to `capture`.
    ///
    /// The transfer ends when the test calls ``StreamCapture/stop()`` (within about a second: libcurl's progress
    /// callback notices it), or at the timeout; either way what arrived stays in `capture`.
    /// - Returns: The status and the Content-Type of the answer.
    func stream(path: String, into capture: StreamCapture, timeoutMilliseconds: Int) async throws -> (status: Int, contentType: String?) {
        precondition(path.hasPrefix("/"), "a path starts with /")
        let url = self.baseURL + path
        return try await Self.blockingPool.runIfActive {
            defer { capture.finish() }
            return try Self.performStream(url: url, capture: capture, timeoutMilliseconds: timeoutMilliseconds)
        }
    }

    private static func performStream(url: String, capture: StreamCapture, timeoutMilliseconds: Int) throws -> (status: Int, contentType: String?) {
        try check(curlGlobalInit, "curl_global_init")
        guard let curl = curl_easy_init() else {
            throw CurlError(operation: "curl_easy_init", message: "no handle")
        }
        defer { curl_easy_cleanup(curl) }
        try check(ccurl_set_url(curl, url), "CURLOPT_URL")
        try check(ccurl_set_nosignal(curl, 1), "CURLOPT_NOSIGNAL")
        try check(ccurl_set_timeout_ms(curl, timeoutMilliseconds), "CURLOPT_TIMEOUT_MS")
        try check(
            ccurl_set_write_function(curl) { data, size, count, userdata in
                guard let userdata else { return 0 }
                let length = size * count
                let capture = Unmanaged<StreamCapture>.fromOpaque(userdata).takeUnretainedValue()
                // Returning less than the length given aborts the transfer.
                return capture.append(UnsafeRawBufferPointer(start: data, count: length)) ? length : 0
            },
            "CURLOPT_WRITEFUNCTION"
        )
        try check(
            ccurl_set_xferinfo_function(curl) { userdata, _, _, _, _ in
                guard let userdata else { return 1 }
                return Unmanaged<StreamCapture>.fromOpaque(userdata).takeUnretainedValue().isStopped ? 1 : 0
            },
            "CURLOPT_XFERINFOFUNCTION"
        )
        return try withExtendedLifetime(capture) {
            let userdata = Unmanaged.passUnretained(capture).toOpaque()
            try check(ccurl_set_write_data(curl, userdata), "CURLOPT_WRITEDATA")
            try check(ccurl_set_xferinfo_data(curl, userdata), "CURLOPT_XFERINFODATA")
            let code = curl_easy_perform(curl)
            // Stopping by the test and the timeout are the two ways a stream ends.
            guard code == CURLE_OK || code == CURLE_WRITE_ERROR || code == CURLE_ABORTED_BY_CALLBACK || code == CURLE_OPERATION_TIMEDOUT else {
                throw CurlError(operation: "curl_easy_perform", code: code, message: String(cString: curl_easy_strerror(code)))
            }
            var status = 0
            try check(ccurl_get_response_code(curl, &status), "CURLINFO_RESPONSE_CODE")
            var type: UnsafePointer<CChar>? = nil
            try check(ccurl_get_content_type(curl, &type), "CURLINFO_CONTENT_TYPE")
            return (status, type.map { String(cString: $0) })
        }
    }
}

/// What a streaming transfer has received so far, shared by libcurl's thread and the test.
final class StreamCapture: Sendable {
    private struct State {
        var bytes: [UInt8] = []
        var stopped = false
    }

    private let state = Mutex(State())
    private let continuation: AsyncStream<Void>.Continuation
    /// Yields once for every piece received, and ends with the transfer.
    let arrivals: AsyncStream<Void>

    init() {
        (self.arrivals, self.continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Everything received, as text.
    var text: String {
        self.state.withLock { String(decoding: $0.bytes, as: UTF8.self) }
    }

    /// True once ``stop()`` was called.
    var isStopped: Bool {
        self.state.withLock { $0.stopped }
    }

    /// Asks the transfer to end.
    func stop() {
        self.state.withLock { $0.stopped = true }
    }

    /// Waits until `condition` holds of the text received, or the transfer ends; true when it holds.
    func wait(until condition: (String) -> Bool) async -> Bool {
        if condition(self.text) { return true }
        for await _ in self.arrivals where condition(self.text) {
            return true
        }
        return condition(self.text)
    }

    /// Adds received bytes; false when the transfer should stop.
    fileprivate func append(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let stopped = self.state.withLock {
            $0.bytes.append(contentsOf: bytes)
            return $0.stopped
        }
        self.continuation.yield()
        return !stopped
    }

    fileprivate func finish() {
        self.continuation.finish()
    }
}
