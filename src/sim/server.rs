//! The simulator's scripted server: resources of a size served at a rate,
//! with validators, honouring `Range`/`If-Range` or not, and faults.

use crate::core::request::{Request, ResponseInfo};
use std::collections::BTreeMap;

/// A run of bytes of one representation: bytes `start..start + len` of the
/// content whose seed is `seed`. Stored bytes are lists of pieces, so a
/// gigabyte costs nothing and "the file equals what the server sent" is exact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    /// The representation (a resource's URL and version).
    pub seed: u64,
    /// Its first byte's offset in the representation.
    pub start: u64,
    /// How many bytes.
    pub len: u64,
}

/// The byte at `offset` of the representation `seed`.
pub fn byte_at(seed: u64, offset: u64) -> u8 {
    let mut z = seed ^ (offset / 8).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> ((offset % 8) * 8)) as u8
}

/// What can go wrong on the server's side, each consumed as it happens.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Faults {
    /// Cut the connection when the body reaches these offsets (each once).
    pub cuts: Vec<u64>,
    /// Answer this many requests with 503.
    pub unavailable: u32,
    /// The 503's `Retry-After`, seconds.
    pub retry_after_s: Option<u32>,
    /// Answer this many `Range` requests with the whole body (200).
    pub ignore_range: u32,
    /// Send this many bodies short (half of what is announced).
    pub short_bodies: u32,
}

/// One resource.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    /// Size in bytes.
    pub size: u64,
    /// Bytes per second.
    pub rate: f64,
    /// Sends an `ETag` (a validator) with each answer.
    pub etag: bool,
    /// Honours `Range` (206).
    pub ranges: bool,
    /// The status of a whole answer (200; 404 for a missing resource).
    pub status: u16,
    /// The representation's version: a change makes old bytes stale.
    pub version: u32,
    /// Faults still to happen.
    pub faults: Faults,
}

impl Resource {
    /// A resource of `size` bytes at `rate` bytes/s, with an ETag, honouring ranges.
    pub fn new(size: u64, rate: f64) -> Self {
        Resource { size, rate, etag: true, ranges: true, status: 200, version: 1, faults: Faults::default() }
    }
}

/// What one request got (the server's log).
#[derive(Clone, Debug, PartialEq)]
pub struct Served {
    /// When (virtual ms).
    pub at: f64,
    /// The URL.
    pub url: String,
    /// The `Range` asked, if any.
    pub range: Option<String>,
    /// The status answered.
    pub status: u16,
}

/// A response decided by the server: its head and the body it will send.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// The head.
    pub head: ResponseInfo,
    /// The representation sent.
    pub seed: u64,
    /// First byte sent (offset in the representation).
    pub start: u64,
    /// Bytes it will really send before ending (short bodies end early).
    pub len: u64,
    /// The body breaks at this many bytes of it.
    pub cut_after: Option<u64>,
    /// Bytes per second.
    pub rate: f64,
}

/// The scripted server.
#[derive(Clone, Debug, Default)]
pub struct Server {
    /// Resources by URL.
    pub resources: BTreeMap<String, Resource>,
    /// Every request, in order.
    pub log: Vec<Served>,
}

impl Server {
    /// The seed of a resource's current representation.
    pub fn seed(url: &str, version: u32) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in url.bytes().chain(version.to_le_bytes()) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h
    }

    /// The resource changes (a new version: new bytes, new ETag).
    pub fn change(&mut self, url: &str) {
        if let Some(r) = self.resources.get_mut(url) {
            r.version += 1;
        }
    }

    /// Answers a request.
    pub fn answer(&mut self, now: f64, req: &Request) -> Answer {
        let range = req.headers.get("range").cloned();
        let Some(r) = self.resources.get_mut(&req.url) else {
            self.log.push(Served { at: now, url: req.url.clone(), range, status: 404 });
            return Answer { head: head(&req.url, 404, &[("content-length", "0".into())]), seed: 0, start: 0, len: 0, cut_after: None, rate: 1e9 };
        };
        let seed = Self::seed(&req.url, r.version);
        let etag = format!("\"v{}\"", r.version);
        if r.faults.unavailable > 0 {
            r.faults.unavailable -= 1;
            let mut h = vec![("content-length", "0".to_string())];
            if let Some(s) = r.faults.retry_after_s {
                h.push(("retry-after", s.to_string()));
            }
            self.log.push(Served { at: now, url: req.url.clone(), range, status: 503 });
            return Answer { head: head(&req.url, 503, &h), seed, start: 0, len: 0, cut_after: None, rate: r.rate };
        }
        let if_range_ok = req.headers.get("if-range").map_or(true, |v| r.etag && *v == etag);
        let asked = range.as_deref().and_then(|v| parse_range(v, r.size));
        let ignore = asked.is_some() && r.faults.ignore_range > 0;
        if ignore {
            r.faults.ignore_range -= 1;
        }
        let (status, start, end) = match asked {
            Some((a, b)) if r.ranges && if_range_ok && !ignore && r.status == 200 => (206, a, b),
            _ => (r.status, 0, r.size.saturating_sub(1)),
        };
        let len = if r.size == 0 { 0 } else { end + 1 - start };
        let mut headers = vec![("content-length", len.to_string()), ("content-type", "application/octet-stream".to_string())];
        if r.etag {
            headers.push(("etag", etag));
        }
        if status == 206 {
            headers.push(("content-range", format!("bytes {start}-{end}/{}", r.size)));
        }
        let mut sent = len;
        if r.faults.short_bodies > 0 && len > 1 {
            r.faults.short_bodies -= 1;
            sent = len / 2;
        }
        let cut = r.faults.cuts.iter().position(|c| *c > start && *c < start + sent);
        let cut_after = cut.map(|i| r.faults.cuts.remove(i) - start);
        self.log.push(Served { at: now, url: req.url.clone(), range, status });
        Answer { head: head(&req.url, status, &headers), seed, start, len: sent, cut_after, rate: r.rate }
    }
}

fn head(url: &str, status: u16, headers: &[(&str, String)]) -> ResponseInfo {
    ResponseInfo { url: url.to_string(), status_code: status, headers: headers.iter().map(|(k, v)| (k.to_string(), v.clone())).collect() }
}

/// `bytes=a-b` or `bytes=a-` within a body of `size` bytes.
fn parse_range(v: &str, size: u64) -> Option<(u64, u64)> {
    let (a, b) = v.strip_prefix("bytes=")?.split_once('-')?;
    let a: u64 = a.parse().ok()?;
    let b: u64 = if b.is_empty() { size.checked_sub(1)? } else { b.parse::<u64>().ok()?.min(size.checked_sub(1)?) };
    (a <= b).then_some((a, b))
}
