//! Value parsers of the command line: the CLI's only conveniences over the C ABI, which
//! stays strict. A path loses the one trailing `/` that tab completion adds. Everything else
//! is judged by the library.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use clap::builder::{MapValueParser, OsStringValueParser, TypedValueParser};

/// The value parser of `--dir` and `--data-dir`: any bytes, see `strip_one_slash`.
pub fn directory() -> MapValueParser<OsStringValueParser, fn(OsString) -> OsString> {
    OsStringValueParser::new().map(strip_one_slash)
}

/// Drops one trailing `/` (tab completion adds it), unless the path is `/` itself or the
/// slash is part of a `//`. Nothing else is normalised here: `//`, `.`, `..` and relative
/// paths reach the library as given and stay NC_BAD_ARGUMENT.
fn strip_one_slash(value: OsString) -> OsString {
    match strip_trailing_slash(value.as_bytes()) {
        stripped if stripped.len() < value.len() => OsStr::from_bytes(stripped).to_os_string(),
        _ => value,
    }
}

fn strip_trailing_slash(path: &[u8]) -> &[u8] {
    match path {
        [.., b'/', b'/'] => path,
        [rest @ .., b'/'] if !rest.is_empty() => rest,
        _ => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_trailing_slash_goes() {
        for (given, kept) in [
            ("/sandbox/.openclaw/", "/sandbox/.openclaw"),
            ("/sandbox/.openclaw", "/sandbox/.openclaw"),
            ("/a/", "/a"),
            ("/", "/"),
            // Not a completion's slash: the library says what is wrong with these.
            ("//", "//"),
            ("/a//", "/a//"),
            ("/a//b/", "/a//b"),
            ("/a/./", "/a/."),
            ("/a/../", "/a/.."),
            ("relative/", "relative"),
            ("", ""),
        ] {
            assert_eq!(
                strip_one_slash(OsString::from(given)),
                OsStr::new(kept),
                "{given:?}"
            );
        }
    }

    #[test]
    fn non_utf8_paths_pass_through() {
        let given = OsStr::from_bytes(b"/a\xff/").to_os_string();
        assert_eq!(strip_one_slash(given).as_bytes(), b"/a\xff");
    }
}
