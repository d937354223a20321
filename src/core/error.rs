//! Errors as Apple reports them: `NSURLErrorDomain` codes, and the usage
//! rules a background session enforces (thrown, never queued).
//!
//! # Examples
//!
//! ```
//! use bgsession::{NsError, UrlErrorCode, UsageError};
//!
//! let e = NsError::url(UrlErrorCode::TimedOut, "no data for 60 s");
//! assert_eq!((e.domain.as_str(), e.code), ("NSURLErrorDomain", -1001));
//! assert_eq!(e.localized_description, "The request timed out.");
//! assert_eq!(e.reason(), Some("no data for 60 s"));
//! assert_eq!(UrlErrorCode::from_code(-999), Some(UrlErrorCode::Cancelled));
//!
//! // A broken rule names itself (the JS error's `name`) and says what to do.
//! let rule = UsageError::DataTaskInBackgroundSession;
//! assert_eq!(rule.rule(), "DataTaskInBackgroundSession");
//! assert!(rule.to_string().contains("use downloadTask"));
//! ```

use crate::core::protocol::{Shape, Slot};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The `NSURLErrorDomain` codes bgsession produces (Apple's values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrlErrorCode {
    /// -999: the task was cancelled.
    Cancelled,
    /// -1001: a request or resource timeout expired.
    TimedOut,
    /// -1000: the request cannot be sent as it is (a header the browser
    /// refuses: CR/LF, a forbidden name, an oversized value).
    BadUrl,
    /// -1002: the URL's scheme is not http(s).
    UnsupportedUrl,
    /// -1004: no response could be had from the host.
    CannotConnectToHost,
    /// -1005: the connection broke during the transfer (also: a short body).
    NetworkConnectionLost,
    /// -1009: the browser is offline.
    NotConnectedToInternet,
    /// -1007: the redirects could not be followed (more than 20: a loop).
    HttpTooManyRedirects,
    /// -1011: the server's answer made no sense (bad Content-Range, too long a body…).
    BadServerResponse,
    /// -1100: an upload's `fromFile` does not exist in the sandbox.
    FileDoesNotExist,
    /// -3000: the download's file could not be created.
    CannotCreateFile,
    /// -3003: the download's file could not be written (e.g. storage quota).
    CannotWriteToFile,
    /// -997: the daemon went away.
    BackgroundSessionWasDisconnected,
}

impl UrlErrorCode {
    /// Apple's numeric code.
    pub const fn code(self) -> i64 {
        match self {
            Self::Cancelled => -999,
            Self::TimedOut => -1001,
            Self::BadUrl => -1000,
            Self::UnsupportedUrl => -1002,
            Self::CannotConnectToHost => -1004,
            Self::NetworkConnectionLost => -1005,
            Self::HttpTooManyRedirects => -1007,
            Self::NotConnectedToInternet => -1009,
            Self::BadServerResponse => -1011,
            Self::FileDoesNotExist => -1100,
            Self::CannotCreateFile => -3000,
            Self::CannotWriteToFile => -3003,
            Self::BackgroundSessionWasDisconnected => -997,
        }
    }

    /// Apple's wording for the code.
    pub fn description(self) -> &'static str {
        match self {
            Self::Cancelled => "cancelled",
            Self::TimedOut => "The request timed out.",
            Self::BadUrl => "bad URL",
            Self::UnsupportedUrl => "unsupported URL",
            Self::CannotConnectToHost => "Could not connect to the server.",
            Self::NetworkConnectionLost => "The network connection was lost.",
            Self::HttpTooManyRedirects => "too many HTTP redirects",
            Self::NotConnectedToInternet => "The Internet connection appears to be offline.",
            Self::BadServerResponse => "The server returned a bad response.",
            Self::FileDoesNotExist => "The requested URL was not found on this server.",
            Self::CannotCreateFile => "The file could not be created.",
            Self::CannotWriteToFile => "The file could not be written.",
            Self::BackgroundSessionWasDisconnected => {
                "The background session was disconnected from the daemon."
            }
        }
    }

    /// Every code, for tables and tests.
    pub const ALL: [UrlErrorCode; 13] = [
        Self::Cancelled,
        Self::TimedOut,
        Self::UnsupportedUrl,
        Self::CannotConnectToHost,
        Self::NetworkConnectionLost,
        Self::NotConnectedToInternet,
        Self::BadServerResponse,
        Self::FileDoesNotExist,
        Self::CannotCreateFile,
        Self::CannotWriteToFile,
        Self::BackgroundSessionWasDisconnected,
        Self::BadUrl,
        Self::HttpTooManyRedirects,
    ];

    /// The code for a number, if it is one of ours.
    pub fn from_code(code: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }
}

/// An `NSError` as the delegate receives it.
///
/// # Examples
///
/// ```
/// use bgsession::{NsError, UrlErrorCode};
///
/// let e = NsError::url(UrlErrorCode::NetworkConnectionLost, "the body ended after 10 of the 20 bytes");
/// assert_eq!(e.to_string(), "NSURLErrorDomain -1005: The network connection was lost. (the body ended after 10 of the 20 bytes)");
///
/// // JS sees it as {domain, code, localizedDescription, userInfo}.
/// let js = serde_json::to_value(&e).unwrap();
/// assert_eq!(js["code"], -1005);
/// assert_eq!(js["userInfo"]["NSLocalizedFailureReason"], "the body ended after 10 of the 20 bytes");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NsError {
    /// `NSError.domain`: `"NSURLErrorDomain"` for every task error bgsession
    /// makes.
    pub domain: String,
    /// `NSError.code`: one of [`UrlErrorCode`]'s values (negative, Apple's).
    pub code: i64,
    /// `NSError.localizedDescription`: Apple's wording for the code.
    pub localized_description: String,
    /// `NSError.userInfo`: `NSLocalizedFailureReason` (what happened this
    /// time) and, for a resumable failed download,
    /// `NSURLSessionDownloadTaskResumeData`.
    #[serde(default)]
    pub user_info: BTreeMap<String, serde_json::Value>,
}

/// Read field by field (`protocol::Fields`) as the derive with the
/// attributes above read it (test `errors_decode_as_the_derive`).
impl<'de> Deserialize<'de> for NsError {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const SHAPE: &Shape = &Shape {
            name: "NsError",
            names: &[
                "domain", "code", "localizedDescription", "userInfo",
            ],
            required: 0b111,
        };
        crate::core::protocol::read_fields(d, SHAPE, NsError { domain: String::new(), code: 0, localized_description: String::new(), user_info: BTreeMap::new() })
    }
}

impl crate::core::protocol::Fields for NsError {
    fn slot(&mut self, i: usize) -> Slot<'_> {
        match i {
            0 => Slot::Text(&mut self.domain),
            1 => Slot::I64(&mut self.code),
            2 => Slot::Text(&mut self.localized_description),
            _ => Slot::Info(&mut self.user_info),
        }
    }
}

impl NsError {
    /// An `NSURLErrorDomain` error; `detail` says what happened in this case.
    pub fn url(code: UrlErrorCode, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        let mut user_info = BTreeMap::new();
        if !detail.is_empty() {
            user_info.insert(
                "NSLocalizedFailureReason".to_string(),
                serde_json::Value::String(detail),
            );
        }
        NsError {
            domain: "NSURLErrorDomain".to_string(),
            code: code.code(),
            localized_description: code.description().to_string(),
            user_info,
        }
    }

    /// The failure reason given when the error was made, if any.
    pub fn reason(&self) -> Option<&str> {
        self.user_info
            .get("NSLocalizedFailureReason")
            .and_then(|v| v.as_str())
    }
}

impl fmt::Display for NsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.domain, self.code, self.localized_description)?;
        if let Some(r) = self.reason() {
            write!(f, " ({r})")?;
        }
        Ok(())
    }
}

/// A rule of background sessions broken by the caller: thrown at once, as
/// iOS raises an exception, and never queued as a delegate event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UsageError {
    /// `URLSessionConfiguration.background("")`.
    EmptyIdentifier,
    /// `session.dataTask(...)`.
    DataTaskInBackgroundSession,
    /// A completion handler passed to a task method.
    CompletionHandlerInBackgroundSession {
        /// The JS method that was given a handler, e.g. `"downloadTask"`.
        method: &'static str,
    },
    /// `uploadTask(request, fromData)`.
    UploadFromData,
    /// A second live `URLSession` with the same identifier in one page.
    DuplicateSession {
        /// The session identifier already in use.
        identifier: String,
    },
    /// A URL whose scheme is not http or https (or that is not a URL).
    UnsupportedUrl {
        /// The URL as given.
        url: String,
    },
    /// A bad argument, named.
    InvalidArgument {
        /// Which argument, and what it should have been.
        what: String,
    },
    /// A request header (or `httpAdditionalHeaders` entry) the browser would
    /// refuse or silently drop: thrown as a `TypeError`, as `Headers` does.
    InvalidHeader {
        /// The header's name as given.
        name: String,
        /// What is wrong with it.
        why: String,
    },
    /// A method called on an invalidated session.
    SessionInvalidated {
        /// The invalidated session's identifier.
        identifier: String,
    },
}

impl UsageError {
    /// A short stable name for the rule, set as the JS error's `name`.
    pub fn rule(&self) -> &'static str {
        match self {
            Self::EmptyIdentifier => "EmptyIdentifier",
            Self::DataTaskInBackgroundSession => "DataTaskInBackgroundSession",
            Self::CompletionHandlerInBackgroundSession { .. } => {
                "CompletionHandlerInBackgroundSession"
            }
            Self::UploadFromData => "UploadFromDataInBackgroundSession",
            Self::DuplicateSession { .. } => "DuplicateSessionIdentifier",
            Self::UnsupportedUrl { .. } => "UnsupportedURL",
            Self::InvalidArgument { .. } => "InvalidArgument",
            Self::SessionInvalidated { .. } => "SessionInvalidated",
            Self::InvalidHeader { .. } => "TypeError",
        }
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyIdentifier => write!(
                f,
                "URLSessionConfiguration.background(withIdentifier:) needs a non-empty identifier: \
                 the identifier is how a relaunched app finds its session again"
            ),
            Self::DataTaskInBackgroundSession => write!(
                f,
                "Data tasks are not supported in background sessions: use downloadTask(...) or \
                 uploadTask(request, fromFile) (iOS raises the same exception)"
            ),
            Self::CompletionHandlerInBackgroundSession { method } => write!(
                f,
                "Completion handler blocks are not supported in background sessions ({method}): \
                 implement the delegate methods instead"
            ),
            Self::UploadFromData => write!(
                f,
                "Upload tasks from NSData are not supported in background sessions: write the body \
                 to a file and use uploadTask(request, fromFile)"
            ),
            Self::DuplicateSession { identifier } => write!(
                f,
                "A background URLSession with identifier \"{identifier}\" already exists in this page: \
                 create one session per identifier (invalidate the old one first)"
            ),
            Self::UnsupportedUrl { url } => write!(
                f,
                "Unsupported URL \"{url}\": background sessions only transfer http:// and https:// URLs"
            ),
            Self::InvalidArgument { what } => write!(f, "Invalid argument: {what}"),
            Self::InvalidHeader { name, why } => write!(f, "Invalid header \"{}\": {why}", name.escape_debug()),
            Self::SessionInvalidated { identifier } => write!(
                f,
                "The session \"{identifier}\" has been invalidated: create a new URLSession to add tasks"
            ),
        }
    }
}

impl std::error::Error for UsageError {}
impl std::error::Error for NsError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_apples() {
        let codes: Vec<i64> = UrlErrorCode::ALL.iter().map(|c| c.code()).collect();
        assert_eq!(
            codes,
            vec![-999, -1001, -1002, -1004, -1005, -1009, -1011, -1100, -3000, -3003, -997, -1000, -1007]
        );
        for c in UrlErrorCode::ALL {
            assert_eq!(UrlErrorCode::from_code(c.code()), Some(c));
        }
        assert_eq!(UrlErrorCode::from_code(7), None);
    }

    #[test]
    fn ns_error_carries_domain_code_and_reason() {
        let e = NsError::url(UrlErrorCode::NetworkConnectionLost, "short body: 10 of 20 bytes");
        assert_eq!(e.domain, "NSURLErrorDomain");
        assert_eq!(e.code, -1005);
        assert_eq!(e.reason(), Some("short body: 10 of 20 bytes"));
        assert!(e.to_string().contains("-1005"));
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["localizedDescription"], "The network connection was lost.");
        assert!(json["userInfo"].is_object());
    }

    #[test]
    fn usage_errors_name_their_rule() {
        let cases = [
            (UsageError::EmptyIdentifier, "identifier"),
            (UsageError::DataTaskInBackgroundSession, "Data tasks are not supported"),
            (UsageError::UploadFromData, "NSData"),
            (
                UsageError::DuplicateSession { identifier: "a.b".into() },
                "\"a.b\" already exists",
            ),
            (UsageError::UnsupportedUrl { url: "ftp://x".into() }, "ftp://x"),
            (
                UsageError::CompletionHandlerInBackgroundSession { method: "downloadTask" },
                "Completion handler",
            ),
        ];
        for (e, needle) in cases {
            assert!(e.to_string().contains(needle), "{e}");
            assert!(!e.rule().is_empty());
        }
    }
}

/// `NsError`, read by hand (`protocol::Fields`), decodes and fails as the
/// derive with its attributes did.
#[cfg(test)]
mod errors_as_derived {
    use super::*;
    use crate::core::protocol::{decodes_as_derived, struct_cases};

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Derived {
        domain: String,
        code: i64,
        localized_description: String,
        #[serde(default)]
        user_info: BTreeMap<String, serde_json::Value>,
    }

    #[test]
    fn errors_decode_as_the_derive() {
        let full = serde_json::json!({"domain": "NSURLErrorDomain", "code": -1001, "localizedDescription": "timed out", "userInfo": {"a": [1, {"b": null}]}});
        let min = serde_json::json!({"domain": "NSURLErrorDomain", "code": -1001, "localizedDescription": "timed out"});
        let mut cases = struct_cases(&full, &min);
        cases.extend([r#"["d",1,"l"]"#, r#"["d",1]"#, r#"["d",1,"l",{},2]"#, r#"{"domain":"d","code":9223372036854775808,"localizedDescription":"l"}"#].map(String::from));
        decodes_as_derived::<NsError, Derived>("NsError", &cases);
    }
}
