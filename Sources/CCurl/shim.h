#ifndef CCURL_SHIM_H
#define CCURL_SHIM_H

#include <curl/curl.h>

// curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot
// call. Each wrapper below fixes the type of the one option it sets, as
// GRDB's GRDBSQLite/shim.h does for sqlite3_config.

/// The write callback libcurl calls with each piece of a response body.
typedef size_t (*ccurl_write_callback)(char *data, size_t size, size_t count, void *userdata);

/// The progress callback libcurl calls during a transfer, at least once a second; non-zero aborts it.
typedef int (*ccurl_xferinfo_callback)(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow);

/// Calls curl_global_init(CURL_GLOBAL_DEFAULT); call it once, before any other thread uses libcurl.
static inline CURLcode ccurl_global_init_default(void) {
    return curl_global_init(CURL_GLOBAL_DEFAULT);
}

/// Sets CURLOPT_URL; libcurl copies the string.
static inline CURLcode ccurl_set_url(CURL *curl, const char *url) {
    return curl_easy_setopt(curl, CURLOPT_URL, url);
}

/// Sets CURLOPT_CUSTOMREQUEST (the method name); libcurl copies the string.
static inline CURLcode ccurl_set_custom_request(CURL *curl, const char *method) {
    return curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
}

/// Sets CURLOPT_NOBODY, needed for HEAD so that libcurl does not wait for a body.
static inline CURLcode ccurl_set_nobody(CURL *curl, long enabled) {
    return curl_easy_setopt(curl, CURLOPT_NOBODY, enabled);
}

/// Sets the request body: CURLOPT_POSTFIELDSIZE_LARGE then CURLOPT_COPYPOSTFIELDS,
/// so libcurl keeps its own copy and the caller's buffer may go at once.
/// Binary-safe: the body may contain NUL bytes.
static inline CURLcode ccurl_set_post_fields(CURL *curl, const void *data, long long size) {
    CURLcode code = curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)size);
    if (code != CURLE_OK) {
        return code;
    }
    return curl_easy_setopt(curl, CURLOPT_COPYPOSTFIELDS, data);
}

/// Sets CURLOPT_HTTPHEADER; the list must outlive curl_easy_perform.
static inline CURLcode ccurl_set_http_header(CURL *curl, struct curl_slist *headers) {
    return curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
}

/// Sets CURLOPT_WRITEFUNCTION.
static inline CURLcode ccurl_set_write_function(CURL *curl, ccurl_write_callback callback) {
    return curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, callback);
}

/// Sets CURLOPT_WRITEDATA, the userdata passed to the write callback.
static inline CURLcode ccurl_set_write_data(CURL *curl, void *userdata) {
    return curl_easy_setopt(curl, CURLOPT_WRITEDATA, userdata);
}

/// Sets CURLOPT_HEADERFUNCTION, called with each response header line (status line included).
static inline CURLcode ccurl_set_header_function(CURL *curl, ccurl_write_callback callback) {
    return curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, callback);
}

/// Sets CURLOPT_HEADERDATA, the userdata passed to the header callback.
static inline CURLcode ccurl_set_header_data(CURL *curl, void *userdata) {
    return curl_easy_setopt(curl, CURLOPT_HEADERDATA, userdata);
}

/// Sets CURLOPT_TIMEOUT_MS, the limit on the whole transfer.
static inline CURLcode ccurl_set_timeout_ms(CURL *curl, long milliseconds) {
    return curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, milliseconds);
}

/// Sets CURLOPT_NOSIGNAL: required when libcurl runs on several threads.
static inline CURLcode ccurl_set_nosignal(CURL *curl, long enabled) {
    return curl_easy_setopt(curl, CURLOPT_NOSIGNAL, enabled);
}

/// Reads CURLINFO_RESPONSE_CODE, the last HTTP status received.
static inline CURLcode ccurl_get_response_code(CURL *curl, long *status) {
    return curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
}

/// Sets CURLOPT_XFERINFOFUNCTION and turns progress calls on (CURLOPT_NOPROGRESS 0).
static inline CURLcode ccurl_set_xferinfo_function(CURL *curl, ccurl_xferinfo_callback callback) {
    CURLcode code = curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, callback);
    if (code != CURLE_OK) {
        return code;
    }
    return curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
}

/// Sets CURLOPT_XFERINFODATA, the userdata passed to the progress callback.
static inline CURLcode ccurl_set_xferinfo_data(CURL *curl, void *userdata) {
    return curl_easy_setopt(curl, CURLOPT_XFERINFODATA, userdata);
}

/// Reads CURLINFO_CONTENT_TYPE, the Content-Type received (NULL when none); libcurl owns the string.
static inline CURLcode ccurl_get_content_type(CURL *curl, const char **type) {
    return curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, type);
}

#endif
