//! How NemoClaw's Python guards spell things in their records, so that the drop-in's
//! details read the same: `posixpath.normpath`, `repr()` of a str, `str(OSError)`.

use std::io;

/// `posixpath.normpath`: lexical (`..` is not resolved against the filesystem); two leading
/// slashes are kept, as POSIX allows them a meaning, three or more become one.
pub fn normpath(path: &[u8]) -> Vec<u8> {
    if path.is_empty() {
        return b".".to_vec();
    }
    let leading = path.iter().take_while(|&&b| b == b'/').count();
    let prefix: &[u8] = match leading {
        0 => b"",
        2 => b"//",
        _ => b"/",
    };
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in path.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                if parts.last().is_some_and(|p| *p != b"..") {
                    parts.pop();
                } else if prefix.is_empty() {
                    parts.push(part);
                }
            }
            _ => parts.push(part),
        }
    }
    let mut out = prefix.to_vec();
    out.extend(parts.join(&b'/'));
    if out.is_empty() {
        out.push(b'.');
    }
    out
}

/// `repr()` of a Python str made of these bytes (UTF-8; an undecodable byte shows as the
/// surrogate `\udcXX` that surrogateescape gives it).
pub fn repr(text: &[u8]) -> String {
    let chars: Vec<Result<char, u8>> = decode(text);
    let has_single = chars.contains(&Ok('\''));
    let has_double = chars.contains(&Ok('"'));
    let quote = if has_single && !has_double { '"' } else { '\'' };
    let mut out = String::new();
    out.push(quote);
    for c in chars {
        match c {
            Err(byte) => out.push_str(&format!("\\udc{byte:02x}")),
            Ok(c) if c == quote || c == '\\' => {
                out.push('\\');
                out.push(c);
            }
            Ok('\t') => out.push_str("\\t"),
            Ok('\n') => out.push_str("\\n"),
            Ok('\r') => out.push_str("\\r"),
            Ok(c) if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            Ok(c) if (0x80..=0xa0).contains(&(c as u32)) || c == '\u{ad}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            Ok(c)
                if matches!(c, '\u{2028}' | '\u{2029}' | '\u{85}')
                    || c.is_whitespace() && c != ' ' =>
            {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            Ok(c) => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// The bytes as Python's surrogateescape decodes them: chars, and the bytes that are not
/// UTF-8 on their own.
pub fn decode(text: &[u8]) -> Vec<Result<char, u8>> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.extend(s.chars().map(Ok));
                break;
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                out.extend(
                    std::str::from_utf8(good)
                        .unwrap_or_default()
                        .chars()
                        .map(Ok),
                );
                let skip = e.error_len().unwrap_or(bad.len());
                out.extend(bad[..skip].iter().map(|&b| Err(b)));
                rest = &bad[skip..];
            }
        }
    }
    out
}

/// `str(exc)` of the OSError Python raises for `err` (with `filename` where the call had one):
/// `[Errno 2] No such file or directory: 'openclaw.json'`.
pub fn os_error(err: &io::Error, filename: Option<&[u8]>) -> String {
    let Some(errno) = err.raw_os_error() else {
        return err.to_string();
    };
    let text = crate::sys::fdio::strerror(errno);
    match filename {
        Some(name) => format!("[Errno {errno}] {text}: {}", repr(name)),
        None => format!("[Errno {errno}] {text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normpath_as_posixpath() {
        for (given, want) in [
            ("/sandbox/.openclaw", "/sandbox/.openclaw"),
            ("/sandbox/.openclaw/", "/sandbox/.openclaw"),
            ("/sandbox/./.openclaw", "/sandbox/.openclaw"),
            ("/sandbox/x/../.openclaw", "/sandbox/.openclaw"),
            ("//sandbox/.openclaw", "//sandbox/.openclaw"),
            ("///sandbox//.openclaw", "/sandbox/.openclaw"),
            ("/../sandbox/.openclaw", "/sandbox/.openclaw"),
            ("sandbox/../../x", "../x"),
            ("", "."),
            ("/", "/"),
        ] {
            assert_eq!(normpath(given.as_bytes()), want.as_bytes(), "{given}");
        }
    }

    #[test]
    fn repr_as_python() {
        assert_eq!(repr(b"../openclaw.json"), "'../openclaw.json'");
        assert_eq!(repr(b"it's"), "\"it's\"");
        assert_eq!(repr(b"a'b\"c"), "'a\\'b\"c'");
        assert_eq!(repr(b"tab\there\x01\x7f"), "'tab\\there\\x01\\x7f'");
        assert_eq!(repr(b"\xff"), "'\\udcff'");
        assert_eq!(repr("é".as_bytes()), "'é'");
    }

    #[test]
    fn os_error_as_python() {
        let e = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(
            os_error(&e, Some(b".openclaw")),
            "[Errno 2] No such file or directory: '.openclaw'"
        );
        assert_eq!(os_error(&e, None), "[Errno 2] No such file or directory");
    }
}
