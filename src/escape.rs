//! One escaping for every human line: a name may hold any byte but '/' and NUL, and must not
//! be able to end a log line early, forge another one or pass for a different name.

#![forbid(unsafe_code)]

use std::fmt::Write;

/// The bytes in lower-case hex, two digits each: digests, record names, the paths records
/// hold, non-UTF-8 names in JSON.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

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

/// Whether a reader may take `c` for a line break or a control: C0 (newline, vertical tab,
/// form feed, the separators U+001C..U+001E that Python's `str.splitlines` splits on), DEL,
/// C1 (U+0085, NEL, among them) and the Unicode line and paragraph separators.
pub fn breaks_lines(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// `text` with every character that `breaks_lines` escaped as `escape_bytes` escapes its
/// bytes (`\n`, `\xe2\x80\xa8`, ...), the rest as it is: for text that is not a name (an
/// error's words, an argument echoed back) before it joins a human line.
pub fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if breaks_lines(c) {
            out.push_str(&escape_bytes(c.encode_utf8(&mut [0; 4]).as_bytes()));
        } else {
            out.push(c);
        }
    }
    out
}

/// Serialized JSON with every `breaks_lines` character that JSON allows raw (DEL, C1,
/// U+2028, U+2029: serde_json escapes only C0, `"` and `\\`) written as `\uXXXX`. Exact on
/// any valid JSON: outside strings JSON has only ASCII punctuation, digits, literals and
/// blanks, so each such character is inside a string, where `\uXXXX` is the same character.
pub fn escape_json_breaks(json: String) -> String {
    if !json.chars().any(|c| breaks_lines(c) && c >= '\u{7f}') {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if breaks_lines(c) && c >= '\u{7f}' {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_two_lower_case_digits_a_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff, 0x10]), "000fa5ff10");
        assert_eq!(hex(b""), "");
        let every: Vec<u8> = (0..=255).collect();
        let expected: String = every.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex(&every), expected);
    }

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

    /// Every character Python's `str.splitlines` splits on, and DEL and the C1 controls.
    const BREAKS: [char; 13] = [
        '\n', '\r', '\u{b}', '\u{c}', '\u{1c}', '\u{1d}', '\u{1e}', '\u{85}', '\u{2028}',
        '\u{2029}', '\u{7f}', '\u{9b}', '\u{1b}',
    ];

    #[test]
    fn controls_and_unicode_line_breaks_are_escaped_in_text() {
        for c in BREAKS {
            let text = format!("a{c}[SECURITY] forged");
            let escaped = escape_controls(&text);
            assert!(!escaped.chars().any(breaks_lines), "{c:?}: {escaped:?}");
            assert!(escaped.starts_with("a\\"), "{c:?}: {escaped:?}");
        }
        assert_eq!(escape_controls("é ok"), "é ok");
    }

    #[test]
    fn json_keeps_its_value_and_loses_its_raw_breaks() {
        for c in BREAKS {
            let value =
                serde_json::json!({ "target": format!("x{c}[SECURITY] forged"), "n": [1, 2] });
            let json = escape_json_breaks(value.to_string());
            assert!(!json.chars().any(breaks_lines), "{c:?}: {json:?}");
            let back: serde_json::Value = serde_json::from_str(&json).expect("still JSON");
            assert_eq!(back, value, "{c:?}");
        }
    }
}
