//! Resume data (`cancelByProducingResumeData`,
//! `NSURLSessionDownloadTaskResumeData`, `downloadTaskWithResumeData`): an
//! opaque blob to the app, here versioned JSON naming the stored bytes and
//! the validator that makes continuing them safe.
//!
//! # Examples
//!
//! ```
//! use bgsession::core::request::Request;
//! use bgsession::core::resume::ResumeData;
//! use bgsession::core::task::{TaskRecord, Validator};
//!
//! // A download that stored 30 of 100 bytes from a server that sent an ETag.
//! let mut task = TaskRecord::new_download("s", 3, Request::get("https://h/f").unwrap(), 0.0, "blob-3".into());
//! task.segments = vec![10, 20];
//! task.bytes_received = 30;
//! task.bytes_expected = Some(100);
//! task.validator = Some(Validator::ETag("\"v1\"".into()));
//!
//! // cancelByProducingResumeData: the bytes the app holds…
//! let bytes = ResumeData::from_task(&task).unwrap().to_bytes();
//! // …and downloadTaskWithResumeData: a new task that goes on from byte 30.
//! let resumed = ResumeData::from_bytes(&bytes).unwrap().into_task("s", 9, 0.0);
//! assert_eq!((resumed.task_id, resumed.bytes_received, resumed.blob_id.as_str()), (9, 30, "blob-3"));
//!
//! // Anything else is refused with a reason.
//! assert!(ResumeData::from_bytes(b"hello").is_err());
//! // Without a validator continuing is not safe: no resume data (iOS gives nil too).
//! task.validator = None;
//! assert!(ResumeData::from_task(&task).is_none());
//! ```

use crate::core::error::{NsError, UrlErrorCode};
use crate::core::request::{Request, ResponseInfo};
use crate::core::task::{TaskRecord, Validator};
use serde::{Deserialize, Serialize};

const MAGIC: &str = "bgsession-resume-data";
const VERSION: u32 = 1;

/// The contents of a resume data blob (the `Data` of
/// `NSURLSessionDownloadTaskResumeData`): what a new task needs to continue
/// a download from its stored bytes. Made by [`ResumeData::from_task`],
/// carried as [`to_bytes`](ResumeData::to_bytes), read back by
/// [`from_bytes`](ResumeData::from_bytes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResumeData {
    magic: String,
    version: u32,
    /// Identifier of the session whose task produced it.
    pub session: String,
    /// The task's `originalRequest`.
    pub original_request: Request,
    /// The task's `currentRequest` (after redirects): where ranges go.
    pub current_request: Request,
    /// The stored bytes the new task takes over.
    pub blob_id: String,
    /// Length of each stored segment, in order.
    pub segments: Vec<u64>,
    /// Bytes stored: the sum of `segments` (checked on reading).
    pub bytes_received: u64,
    /// The body's length, if the server said.
    pub bytes_expected: Option<u64>,
    /// What `If-Range` sends, so the server only continues the same
    /// representation.
    pub validator: Validator,
    /// The response the bytes came with.
    pub response: Option<ResponseInfo>,
}

/// Why resume data was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadResumeData(pub String);

impl std::fmt::Display for BadResumeData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid resume data: {}", self.0)
    }
}

/// Apple's userInfo key for resume data in a failed download's error.
pub const RESUME_DATA_KEY: &str = "NSURLSessionDownloadTaskResumeData";

/// A task is failing with `err`: if its bytes can be continued, `err`
/// carries the resume data ([`RESUME_DATA_KEY`], as on iOS) and the bytes
/// are kept; otherwise (no validator, an upload, a storage error, which
/// frees the space) they are discarded. Returns whether they are kept.
pub fn keep_for_resume(task: &mut TaskRecord, err: &mut NsError) -> bool {
    let storage_error = err.code == UrlErrorCode::CannotWriteToFile.code() || err.code == UrlErrorCode::CannotCreateFile.code();
    match ResumeData::from_task(task).filter(|_| !storage_error) {
        Some(data) => {
            let text = String::from_utf8(data.to_bytes()).unwrap_or_default();
            err.user_info.insert(RESUME_DATA_KEY.into(), serde_json::Value::String(text));
            true
        }
        None => {
            task.discard_bytes();
            false
        }
    }
}

impl ResumeData {
    /// Resume data for a task, if continuing it is possible: bytes stored and
    /// a validator to check them against (else iOS gives nil too).
    pub fn from_task(task: &TaskRecord) -> Option<Self> {
        if task.kind != crate::core::task::TaskKind::Download {
            return None; // an upload starts again from its file
        }
        let validator = task.validator.clone()?;
        if task.bytes_received == 0 || task.segments.is_empty() {
            return None;
        }
        Some(ResumeData {
            magic: MAGIC.into(),
            version: VERSION,
            session: task.session.clone(),
            original_request: task.original_request.clone(),
            current_request: task.current_request.clone(),
            blob_id: task.blob_id.clone(),
            segments: task.segments.clone(),
            bytes_received: task.bytes_received,
            bytes_expected: task.bytes_expected,
            validator,
            response: task.response.clone(),
        })
    }

    /// The blob handed to the app (versioned JSON; opaque to it).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("resume data serialises")
    }

    /// Reads a blob made by [`to_bytes`](Self::to_bytes); refuses anything
    /// else, another version, or segment lengths that do not add up to
    /// `bytes_received`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BadResumeData> {
        // From text, as every other record is read: one serde_json reader
        // in the wasm (from_slice is a second copy of every decoder).
        let text = std::str::from_utf8(bytes).map_err(|_| BadResumeData("not bgsession resume data (not UTF-8 text)".into()))?;
        let data: ResumeData = serde_json::from_str(text).map_err(|e| BadResumeData(format!("not bgsession resume data ({e})")))?;
        if data.magic != MAGIC {
            return Err(BadResumeData("not bgsession resume data".into()));
        }
        if data.version != VERSION {
            return Err(BadResumeData(format!("version {} is not supported", data.version)));
        }
        if data.segments.iter().sum::<u64>() != data.bytes_received {
            return Err(BadResumeData("segment lengths do not add up".into()));
        }
        Ok(data)
    }

    /// A new, suspended task continuing from these bytes.
    pub fn into_task(self, session: &str, task_id: u64, now: f64) -> TaskRecord {
        let mut t = TaskRecord::new_download(session, task_id, self.original_request, now, self.blob_id);
        t.current_request = self.current_request;
        t.segments = self.segments;
        t.bytes_received = self.bytes_received;
        t.bytes_expected = self.bytes_expected;
        t.validator = Some(self.validator);
        t.response = self.response;
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn half_done() -> TaskRecord {
        let mut t = TaskRecord::new_download("s", 3, Request::get("https://h/f").unwrap(), 0.0, "blob-3".into());
        t.segments = vec![10, 20];
        t.bytes_received = 30;
        t.bytes_expected = Some(100);
        t.validator = Some(Validator::ETag("\"v\"".into()));
        t
    }

    #[test]
    fn round_trip_continues_where_it_stopped() {
        let data = ResumeData::from_task(&half_done()).unwrap();
        let bytes = data.to_bytes();
        let back = ResumeData::from_bytes(&bytes).unwrap();
        assert_eq!(back, data);
        let t = back.into_task("s", 9, 5.0);
        assert_eq!(t.task_id, 9);
        assert_eq!(t.bytes_received, 30);
        assert_eq!(t.blob_id, "blob-3");
        let plan = crate::core::transfer::plan_fetch(&t);
        assert_eq!(plan.offset, 30);
        assert_eq!(plan.request.headers["if-range"], "\"v\"");
    }

    #[test]
    fn none_without_bytes_or_validator() {
        let mut t = half_done();
        t.validator = None;
        assert!(ResumeData::from_task(&t).is_none());
        let mut t = half_done();
        t.segments.clear();
        t.bytes_received = 0;
        assert!(ResumeData::from_task(&t).is_none());
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert!(ResumeData::from_bytes(b"hello").unwrap_err().to_string().contains("not bgsession resume data"));
        let mut d = ResumeData::from_task(&half_done()).unwrap();
        d.bytes_received = 31;
        assert!(ResumeData::from_bytes(&d.to_bytes()).unwrap_err().0.contains("add up"));
    }
}
