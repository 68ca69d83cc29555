//! One escaping for every human line: a name may hold any byte but '/' and NUL, and must not
//! be able to end a log line early, forge another one or pass for a different name.

#![forbid(unsafe_code)]

use std::fmt::Write;

/// Printable ASCII stays as it is (but `\` and `"`); everything else becomes `\n`, `\t`,
/// `\r` or `\xNN`. Distinct inputs give distinct outputs.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\r' => out.push_str("\\r"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape_bytes;

    #[test]
    fn printable_ascii_is_kept() {
        assert_eq!(escape_bytes(b"openclaw.json"), "openclaw.json");
    }

    #[test]
    fn newlines_controls_and_non_utf8_cannot_forge_a_line() {
        let forged = escape_bytes(b"x\n[SECURITY] all good\r\x1b[2K\xff\xc3\xa9");
        assert!(!forged.contains('\n') && !forged.contains('\r') && !forged.contains('\x1b'));
        assert_eq!(forged, "x\\n[SECURITY] all good\\r\\x1b[2K\\xff\\xc3\\xa9");
    }

    #[test]
    fn escaping_is_unambiguous() {
        assert_ne!(escape_bytes(b"\\x41"), escape_bytes(b"A"));
        assert_ne!(escape_bytes(b"\\n"), escape_bytes(b"\n"));
        assert_ne!(escape_bytes(b"a\"b"), escape_bytes(b"a\\\"b"));
    }
}
