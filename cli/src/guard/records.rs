//! The guards' JSON lines, byte for byte as Python's `json.dumps(..., sort_keys=True)`
//! writes them: keys sorted, `ensure_ascii` escapes (`\uXXXX`, lowercase hex, surrogate
//! pairs beyond the BMP, `\udcXX` for a byte that is not UTF-8, as surrogateescape decodes
//! it), and the separators of each guard: `", "` and `": "` for `openclaw-config-guard.py`
//! (the default), `","` and `":"` for `state-dir-guard.py` (`separators=(",", ":")`).
//! One difference, on purpose: DEL (0x7f) is written `\u007f`, as every control a reader may
//! take for one (Python leaves it raw; the parsed value is the same).

use nc_harden::guard::python::decode;
use nc_harden::guard::GuardError;

/// The separators of a guard's records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// `openclaw-config-guard.py`: `{"a": 1, "b": 2}`.
    Spaced,
    /// `state-dir-guard.py`: `{"a":1,"b":2}`.
    Compact,
}

/// A value of a record.
pub enum Value<'a> {
    Str(&'a [u8]),
    Bool(bool),
    Int(u64),
    Strs(&'a [&'a str]),
}

/// One record as a line (without its newline), keys sorted.
pub fn line(style: Style, fields: &mut [(&str, Value<'_>)]) -> String {
    fields.sort_by(|a, b| a.0.cmp(b.0));
    let (item, key) = match style {
        Style::Spaced => (", ", ": "),
        Style::Compact => (",", ":"),
    };
    let mut out = String::from("{");
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push_str(item);
        }
        string(&mut out, name.as_bytes());
        out.push_str(key);
        match value {
            Value::Str(s) => string(&mut out, s),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(n) => out.push_str(&n.to_string()),
            Value::Strs(list) => {
                out.push('[');
                for (j, s) in list.iter().enumerate() {
                    if j > 0 {
                        out.push_str(item);
                    }
                    string(&mut out, s.as_bytes());
                }
                out.push(']');
            }
        }
    }
    out.push('}');
    out
}

/// The issue record of a guard error.
pub fn issue(style: Style, e: &GuardError) -> String {
    line(
        style,
        &mut [
            ("type", Value::Str(b"issue")),
            ("code", Value::Str(e.code.as_bytes())),
            ("path", Value::Str(&e.path)),
            ("detail", Value::Str(e.detail.as_bytes())),
        ],
    )
}

/// A JSON string as `json.dumps` with `ensure_ascii=True` writes it.
fn string(out: &mut String, bytes: &[u8]) {
    out.push('"');
    for c in decode(bytes) {
        match c {
            Err(byte) => out.push_str(&format!("\\udc{byte:02x}")),
            Ok('"') => out.push_str("\\\""),
            Ok('\\') => out.push_str("\\\\"),
            Ok('\n') => out.push_str("\\n"),
            Ok('\r') => out.push_str("\\r"),
            Ok('\t') => out.push_str("\\t"),
            Ok('\u{8}') => out.push_str("\\b"),
            Ok('\u{c}') => out.push_str("\\f"),
            Ok(c) if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            Ok(c) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaced_as_json_dumps_sort_keys() {
        let files = ["openclaw.json", ".config-hash"];
        let got = line(
            Style::Spaced,
            &mut [
                ("type", Value::Str(b"result")),
                ("action", Value::Str(b"lock")),
                ("status", Value::Str(b"ok")),
                ("configDir", Value::Str(b"/sandbox/.openclaw")),
                ("files", Value::Strs(&files)),
                ("chattrApplied", Value::Bool(false)),
            ],
        );
        assert_eq!(
            got,
            r#"{"action": "lock", "chattrApplied": false, "configDir": "/sandbox/.openclaw", "files": ["openclaw.json", ".config-hash"], "status": "ok", "type": "result"}"#
        );
    }

    #[test]
    fn compact_as_separators_comma_colon() {
        let got = line(
            Style::Compact,
            &mut [
                ("type", Value::Str(b"result")),
                ("issueCount", Value::Int(0)),
            ],
        );
        assert_eq!(got, r#"{"issueCount":0,"type":"result"}"#);
    }

    #[test]
    fn strings_as_ensure_ascii() {
        let mut out = String::new();
        string(
            &mut out,
            "a\"\\\n\r\t\u{8}\u{c}\u{1}\u{7f}é\u{2028}😀".as_bytes(),
        );
        assert_eq!(
            out,
            r#""a\"\\\n\r\t\b\f\u0001\u007f\u00e9\u2028\ud83d\ude00""#
        );
        let mut out = String::new();
        string(&mut out, b"/x\xff");
        assert_eq!(out, r#""/x\udcff""#);
    }
}
