//! Standard base64 (RFC 4648, with padding): how response bytes of an upload
//! (`didReceiveData`) travel inside a JSON journal entry.
//!
//! # Examples
//!
//! ```
//! use bgsession::core::base64;
//!
//! assert_eq!(base64::encode(b"foobar"), "Zm9vYmFy");
//! assert_eq!(base64::encode(b"foob"), "Zm9vYg==");
//! assert_eq!(base64::decode("Zm9vYg==").as_deref(), Some(&b"foob"[..]));
//! // Only what `encode` makes is accepted: wrong length, alphabet or padding.
//! assert_eq!(base64::decode("Zg="), None);
//! assert_eq!(base64::decode("Zg==Zm9v"), None);
//! ```

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Encodes `bytes` as standard base64 (alphabet `A–Z a–z 0–9 + /`), padded
/// with `=` to a multiple of 4 characters; the empty slice gives `""`.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes what [`encode`] made; `None` for anything else.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let s = text.as_bytes();
    if s.len() % 4 != 0 {
        return None;
    }
    let value = |c: u8| ALPHABET.iter().position(|&a| a == c).map(|p| p as u32);
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for (i, quad) in s.chunks(4).enumerate() {
        let last = i + 1 == s.len() / 4;
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &quad[..4 - pad] {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_matches_rfc_4648_vectors() {
        for (plain, coded) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")] {
            assert_eq!(encode(plain.as_bytes()), coded);
            assert_eq!(decode(coded).unwrap(), plain.as_bytes());
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(decode(&encode(&all)).unwrap(), all);
    }

    #[test]
    fn rejects_what_it_did_not_make() {
        assert_eq!(decode("Zg="), None, "length");
        assert_eq!(decode("Z!=="), None, "alphabet");
        assert_eq!(decode("Zg==Zm9v"), None, "padding inside");
    }
}
