//! Requests and responses as plain data, URL rules, and the HTTP range
//! arithmetic used to resume a transfer.
//!
//! # Examples
//!
//! ```
//! use bgsession::core::request::{check_url, host_key, ContentRange, Request};
//!
//! let r = Request::get("https://example.test/ep1.mp3").unwrap();
//! assert_eq!(r.method, "GET");
//! // Background sessions transfer http(s) only.
//! assert_eq!(check_url("ftp://example.test/x").unwrap_err().rule(), "UnsupportedURL");
//! assert_eq!(host_key("https://Example.test:8443/a?b"), "https://example.test:8443");
//!
//! let range = ContentRange::parse("bytes 100-199/1000").unwrap();
//! assert_eq!((range.first, range.last, range.total, range.len()), (100, 199, Some(1000), 100));
//! assert_eq!(ContentRange::parse("bytes 0-9/*").unwrap().total, None);
//! assert_eq!(ContentRange::parse("bytes 9-0/10"), None);
//! ```

use crate::core::error::UsageError;
use crate::core::protocol::{Shape, Slot};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `URLRequest`: what a task asks for.
///
/// # Examples
///
/// ```
/// use bgsession::Request;
///
/// let r = Request {
///     url: "https://example.test/upload".into(),
///     method: " put ".into(),
///     headers: [("X-Token".to_string(), "1".to_string())].into(),
/// }
/// .validated()
/// .unwrap();
/// assert_eq!(r.method, "PUT");
/// assert_eq!(r.headers["x-token"], "1");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// `URLRequest.url`: an absolute http(s) URL.
    pub url: String,
    /// `URLRequest.httpMethod`, upper-cased; `"GET"` when absent from JSON.
    #[serde(default = "default_method")]
    pub method: String,
    /// Header names lower-cased.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

fn default_method() -> String {
    "GET".to_string()
}

/// Read field by field (`protocol::Fields`) as the derive read it (test
/// `requests_decode_as_the_derive`).
impl<'de> Deserialize<'de> for Request {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const SHAPE: &Shape = &Shape {
            name: "Request",
            names: &[
                "url", "method", "headers",
            ],
            required: 1,
        };
        crate::core::protocol::read_fields(d, SHAPE, Request { url: String::new(), method: default_method(), headers: BTreeMap::new() })
    }
}

impl crate::core::protocol::Fields for Request {
    fn slot(&mut self, i: usize) -> Slot<'_> {
        match i {
            0 => Slot::Text(&mut self.url),
            1 => Slot::Text(&mut self.method),
            _ => Slot::Headers(&mut self.headers),
        }
    }
}

impl Request {
    /// A GET of `url`, which must be an absolute http(s) URL.
    pub fn get(url: &str) -> Result<Self, UsageError> {
        check_url(url)?;
        Ok(Request {
            url: url.to_string(),
            method: default_method(),
            headers: BTreeMap::new(),
        })
    }

    /// Checks the URL and normalises method and header names.
    pub fn validated(mut self) -> Result<Self, UsageError> {
        check_url(&self.url)?;
        self.method = self.method.trim().to_ascii_uppercase();
        if self.method.is_empty() || !self.method.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(UsageError::InvalidArgument {
                what: format!("HTTP method \"{}\" is not a method name", self.method),
            });
        }
        check_headers(&self.headers)?;
        // Inserts, not collect(): a map built from an iterator sorts it
        // first, code the wasm would carry once more (the last of equal
        // names wins either way).
        let mut lower = BTreeMap::new();
        for (k, v) in std::mem::take(&mut self.headers) {
            lower.insert(k.trim().to_ascii_lowercase(), v);
        }
        self.headers = lower;
        Ok(self)
    }
}

/// The longest header value sent (bytes): 8 KiB, the line size common
/// servers accept (nginx's default buffer, Apache's `LimitRequestFieldSize`).
pub const MAX_HEADER_VALUE: usize = 8 * 1024;
/// The most header bytes (names and values) one request may carry.
pub const MAX_HEADERS_TOTAL: usize = 32 * 1024;

/// Fetch's forbidden request-header names (plus the `proxy-` and `sec-`
/// prefixes): the browser drops them silently, so the app would believe
/// it sent something it did not.
pub const FORBIDDEN_HEADERS: [&str; 21] = [
    "accept-charset",
    "accept-encoding",
    "access-control-request-headers",
    "access-control-request-method",
    "access-control-request-private-network",
    "connection",
    "content-length",
    "cookie",
    "cookie2",
    "date",
    "dnt",
    "expect",
    "host",
    "keep-alive",
    "origin",
    "referer",
    "set-cookie",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Checks one header as `URLRequest` / `httpAdditionalHeaders` receive it:
/// the name a token (RFC 9110), not forbidden to scripts (`via` and the
/// `proxy-`/`sec-` prefixes too), the value free of CR, LF and NUL and at
/// most [`MAX_HEADER_VALUE`] bytes. The error names the header.
pub fn check_header(name: &str, value: &str) -> Result<(), UsageError> {
    let bad = |why: String| Err(UsageError::InvalidHeader { name: name.to_string(), why });
    let lower = name.trim_matches([' ', '\t']).to_ascii_lowercase();
    if lower.is_empty() {
        return bad("a header name cannot be empty".into());
    }
    if let Some(c) = lower.chars().find(|c| !is_token_char(*c)) {
        return bad(format!("the name contains {c:?}, which is not allowed in a header name"));
    }
    if FORBIDDEN_HEADERS.contains(&lower.as_str()) || lower == "via" || lower.starts_with("proxy-") || lower.starts_with("sec-") {
        return bad("the browser sets this header itself and drops it from scripts (a forbidden request header)".into());
    }
    if let Some(c) = value.chars().find(|c| matches!(c, '\r' | '\n' | '\0')) {
        return bad(format!("the value contains {c:?}: a header value cannot hold CR, LF or NUL"));
    }
    if value.len() > MAX_HEADER_VALUE {
        return bad(format!("the value is {} bytes, more than the {MAX_HEADER_VALUE} servers accept", value.len()));
    }
    Ok(())
}

/// [`check_header`] for each header, and at most [`MAX_HEADERS_TOTAL`]
/// bytes in all.
pub fn check_headers(headers: &BTreeMap<String, String>) -> Result<(), UsageError> {
    let mut total = 0;
    for (k, v) in headers {
        check_header(k, v)?;
        total += k.len() + v.len();
    }
    if total > MAX_HEADERS_TOTAL {
        return Err(UsageError::InvalidHeader {
            name: headers.keys().cloned().collect::<Vec<_>>().join(", "),
            why: format!("the headers are {total} bytes together, more than the {MAX_HEADERS_TOTAL} servers accept"),
        });
    }
    Ok(())
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// `HTTPURLResponse` as stored and delivered.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseInfo {
    /// `URLResponse.url`: the URL that answered (the last one, after redirects).
    pub url: String,
    /// `HTTPURLResponse.statusCode`. Any status is an answer, not a task error.
    pub status_code: u16,
    /// Header names lower-cased.
    pub headers: BTreeMap<String, String>,
}

/// Read field by field (`protocol::Fields`) as the derive read it (test
/// `requests_decode_as_the_derive`).
impl<'de> Deserialize<'de> for ResponseInfo {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const SHAPE: &Shape = &Shape {
            name: "ResponseInfo",
            names: &[
                "url", "statusCode", "headers",
            ],
            required: 0b111,
        };
        crate::core::protocol::read_fields(d, SHAPE, ResponseInfo { url: String::new(), status_code: 0, headers: BTreeMap::new() })
    }
}

impl crate::core::protocol::Fields for ResponseInfo {
    fn slot(&mut self, i: usize) -> Slot<'_> {
        match i {
            0 => Slot::Text(&mut self.url),
            1 => Slot::U16(&mut self.status_code),
            _ => Slot::Headers(&mut self.headers),
        }
    }
}

impl ResponseInfo {
    /// `value(forHTTPHeaderField:)`: a header's value, `name` in any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(|s| s.as_str())
    }

    /// `Content-Length`, when present and a number.
    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")?.trim().parse().ok()
    }
}

/// Background sessions transfer http(s) only: anything else is iOS's
/// "unsupported URL". The URL must be absolute (the page resolves relative
/// URLs against its location before this check).
pub fn check_url(url: &str) -> Result<(), UsageError> {
    let bad = || UsageError::UnsupportedUrl { url: url.to_string() };
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        return Err(bad());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') || url.chars().any(|c| c.is_whitespace()) {
        return Err(bad());
    }
    Ok(())
}

/// `scheme://host:port` of a URL, the unit of `httpMaximumConnectionsPerHost`.
pub fn host_key(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or("");
    format!("{}://{}", scheme.to_ascii_lowercase(), authority.to_ascii_lowercase())
}

/// A parsed `Content-Range: bytes first-last/total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContentRange {
    /// Offset of the first byte sent.
    pub first: u64,
    /// Offset of the last byte sent (inclusive; never less than `first`).
    pub last: u64,
    /// `None` for `*`.
    pub total: Option<u64>,
}

impl ContentRange {
    /// Parses a `Content-Range` header value; `None` unless it is a
    /// satisfiable byte range (`first <= last`, and `last < total` when the
    /// total is known). `bytes */total` (a 416's) is `None` too.
    pub fn parse(value: &str) -> Option<Self> {
        let rest = value.trim().strip_prefix("bytes")?.trim_start();
        let (range, total) = rest.split_once('/')?;
        let (first, last) = range.trim().split_once('-')?;
        let first: u64 = first.trim().parse().ok()?;
        let last: u64 = last.trim().parse().ok()?;
        if last < first {
            return None;
        }
        let total = match total.trim() {
            "*" => None,
            t => {
                let t: u64 = t.parse().ok()?;
                if last >= t {
                    return None;
                }
                Some(t)
            }
        };
        Some(ContentRange { first, last, total })
    }

    /// Bytes in the range: `last - first + 1`.
    pub fn len(&self) -> u64 {
        self.last - self.first + 1
    }

    /// Always false: a parsed range holds at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        for ok in ["http://a", "https://example.test/x?y#z", "HTTP://127.0.0.1:8080/f", "https://u@h/"] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in ["", "ftp://a/b", "file:///tmp/x", "data:text/plain,hi", "/relative", "http://", "http:///x", "http://a b", "javascript:alert(1)"] {
            let e = check_url(bad).unwrap_err();
            assert_eq!(e.rule(), "UnsupportedURL", "{bad}");
            assert!(e.to_string().contains(bad));
        }
    }

    #[test]
    fn request_validation_normalises() {
        let r = Request {
            url: "https://h/x".into(),
            method: " post ".into(),
            headers: [("X-Token".to_string(), "1".to_string())].into(),
        }
        .validated()
        .unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.headers.get("x-token").map(|s| s.as_str()), Some("1"));
        let bad = Request { url: "https://h/".into(), method: "G T".into(), headers: BTreeMap::new() };
        assert!(bad.validated().unwrap_err().to_string().contains("method"));
    }

    #[test]
    fn headers_with_cr_lf_forbidden_names_or_huge_values_are_refused_by_name() {
        assert!(check_header("X-Token", "abc").is_ok());
        assert!(check_header("range", "bytes=0-9").is_ok(), "an app may ask for a range itself");
        let cases = [
            ("X-Evil", "a\r\nInjected: 1", "CR, LF"),
            ("X-Evil", "a\nb", "CR, LF"),
            ("X-Nul", "a\0b", "CR, LF or NUL"),
            ("X Bad", "v", "not allowed in a header name"),
            ("X-Bad\r\n", "v", "not allowed in a header name"),
            ("", "v", "empty"),
            ("Cookie", "a=b", "forbidden"),
            ("Host", "evil.test", "forbidden"),
            ("Content-Length", "5", "forbidden"),
            ("Sec-Fetch-Mode", "cors", "forbidden"),
            ("Proxy-Authorization", "x", "forbidden"),
            ("via", "x", "forbidden"),
        ];
        for (name, value, needle) in cases {
            let e = check_header(name, value).unwrap_err();
            assert_eq!(e.rule(), "TypeError", "{name}");
            let msg = e.to_string();
            assert!(msg.contains(needle), "{name}: {msg}");
            assert!(msg.contains(&name.escape_debug().to_string()), "the error names the header: {msg}");
        }
        let huge = "x".repeat(MAX_HEADER_VALUE + 1);
        assert!(check_header("X-Big", &huge).unwrap_err().to_string().contains("8193 bytes"));
        assert!(check_header("X-Big", &"x".repeat(MAX_HEADER_VALUE)).is_ok());
        let many: BTreeMap<String, String> = (0..5).map(|i| (format!("x-{i}"), "y".repeat(MAX_HEADER_VALUE))).collect();
        assert!(check_headers(&many).unwrap_err().to_string().contains("together"));
        // A request carrying one is refused as a whole, naming it.
        let r = Request { url: "https://h/".into(), method: "GET".into(), headers: [("X-A".to_string(), "1\r\n2".to_string())].into() };
        assert!(r.validated().unwrap_err().to_string().contains("\"X-A\""));
    }

    #[test]
    fn host_keys() {
        assert_eq!(host_key("https://A.test:8080/x?y"), "https://a.test:8080");
        assert_eq!(host_key("http://u:p@h/"), "http://h");
    }

    #[test]
    fn content_range() {
        assert_eq!(
            ContentRange::parse("bytes 100-199/1000"),
            Some(ContentRange { first: 100, last: 199, total: Some(1000) })
        );
        assert_eq!(ContentRange::parse("bytes 0-9/*").unwrap().total, None);
        assert_eq!(ContentRange::parse("bytes 0-9/*").unwrap().len(), 10);
        for bad in ["bytes 9-0/10", "bytes 0-10/10", "items 0-1/2", "bytes */10", "bytes a-b/c"] {
            assert_eq!(ContentRange::parse(bad), None, "{bad}");
        }
    }
}

/// `Request` and `ResponseInfo`, read by hand (`protocol::Fields`), decode
/// and fail as the derive with their attributes did.
#[cfg(test)]
mod requests_as_derived {
    use super::*;
    use crate::core::protocol::{decodes_as_derived, struct_cases};
    use serde_json::json;

    #[derive(Serialize, Deserialize)]
    struct Derived {
        url: String,
        #[serde(default = "default_method")]
        method: String,
        #[serde(default)]
        headers: BTreeMap<String, String>,
    }

    mod response {
        use super::*;
        #[derive(Serialize, Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub struct Derived {
            url: String,
            status_code: u16,
            headers: BTreeMap<String, String>,
        }
    }

    #[test]
    fn requests_decode_as_the_derive() {
        let full = json!({"url": "https://h/a", "method": "PUT", "headers": {"x-a": "1"}});
        let mut cases = struct_cases(&full, &json!({"url": "https://h/a"}));
        cases.extend([r#"["u"]"#, r#"["u","GET"]"#, r#"["u","GET",{}]"#, r#"["u","GET",{},1]"#, r#"{"headers":{"a":1}}"#, r#"{"url":"u","headers":{"a":"b","a":"c"}}"#].map(String::from));
        decodes_as_derived::<Request, Derived>("Request", &cases);

        let full = json!({"url": "https://h/a", "statusCode": 206, "headers": {"etag": "\"e\""}});
        let mut cases = struct_cases(&full, &full);
        cases.extend([r#"["u"]"#, r#"["u",200]"#, r#"["u",200,{}]"#, r#"{"url":"u","statusCode":70000,"headers":{}}"#, r#"{"url":"u","statusCode":-1,"headers":{}}"#].map(String::from));
        decodes_as_derived::<ResponseInfo, response::Derived>("ResponseInfo", &cases);
    }
}
