//! Resume data (`cancelByProducingResumeData`,
//! `NSURLSessionDownloadTaskResumeData`, `downloadTaskWithResumeData`): an
//! opaque blob to the app, here versioned JSON naming the stored bytes and
//! the validator that makes continuing them safe.

use crate::core::request::{Request, ResponseInfo};
use crate::core::task::{TaskRecord, Validator};
use serde::{Deserialize, Serialize};

const MAGIC: &str = "bgsession-resume-data";
const VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResumeData {
    magic: String,
    version: u32,
    pub session: String,
    pub original_request: Request,
    pub current_request: Request,
    pub blob_id: String,
    pub segments: Vec<u64>,
    pub bytes_received: u64,
    pub bytes_expected: Option<u64>,
    pub validator: Validator,
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

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("resume data serialises")
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BadResumeData> {
        let data: ResumeData = serde_json::from_slice(bytes).map_err(|e| BadResumeData(format!("not bgsession resume data ({e})")))?;
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
