//! Content seals in `sha256sum` format: one line per file, `<64 hex digits>  <name>` (or
//! `<64 hex> *<name>`, binary mode), names of regular files of `dir`, read and written as
//! GNU coreutils does. Pure parsing and rendering; the engine reads and hashes the pinned
//! files.
//!
//! GNU's rules (coreutils 9, `md5sum.c`), which these follow: a name holding a backslash, a
//! newline or a carriage return is written escaped (`\\`, `\n`, `\r`) on a line that starts
//! with a `\`; `-c` skips a line starting with `#` and an empty line, and drops one carriage
//! return before each newline (a seal with CRLF line ends is read as with LF).

/// The largest seal file read: a seal of every file of a configuration directory is a few
/// hundred bytes; anything this large is not one.
pub const SEAL_MAX: usize = 64 * 1024;

/// One line: a file's name and the SHA-256 it must have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealLine {
    pub digest: [u8; 32],
    pub name: Vec<u8>,
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The name as GNU `sha256sum` writes it, and whether the line must then start with `\`:
/// `\` becomes `\\`, a newline `\n`, a carriage return `\r`; any other byte stays.
pub fn escape_name(name: &[u8]) -> (Vec<u8>, bool) {
    if !name.iter().any(|b| matches!(b, b'\\' | b'\n' | b'\r')) {
        return (name.to_vec(), false);
    }
    let mut out = Vec::with_capacity(name.len() + 4);
    for &b in name {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
    (out, true)
}

/// The name of an escaped line (one that starts with `\`), unescaped; `None` for an escape
/// `sha256sum -c` does not know (it then refuses the line too).
fn unescape_name(name: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(name.len());
    let mut bytes = name.iter();
    while let Some(&b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        out.push(match bytes.next()? {
            b'\\' => b'\\',
            b'n' => b'\n',
            b'r' => b'\r',
            _ => return None,
        });
    }
    Some(out)
}

/// One line of a seal as `sha256sum` writes it, newline included.
pub fn format_line(digest: &[u8; 32], name: &[u8]) -> Vec<u8> {
    let (name, escaped) = escape_name(name);
    let mut out = Vec::with_capacity(1 + 64 + 2 + name.len() + 1);
    if escaped {
        out.push(b'\\');
    }
    out.extend_from_slice(hex(digest).as_bytes());
    out.extend_from_slice(b"  ");
    out.extend_from_slice(&name);
    out.push(b'\n');
    out
}

/// Parses the seal `seal` of the directory `dir` (its absolute path); `Err` says why it is
/// malformed. A name is a file of the directory: `openclaw.json`, as `cd dir && sha256sum
/// openclaw.json` writes it, or `dir/openclaw.json`, as `sha256sum
/// /sandbox/.openclaw/openclaw.json` does (NemoClaw's images write both); any other `/`
/// (a file outside `dir`, or in a subdirectory), `.`, `..`, an empty name and the seal
/// itself are malformed. Comment (`#...`) and empty lines are skipped, as `sha256sum -c`
/// does. Strict where `sha256sum -c` would only warn: every other line must have the shape,
/// no name twice, at most `SEAL_MAX` bytes, a newline at the end, and at least one file.
pub fn parse(text: &[u8], dir: &[u8], seal: &[u8]) -> Result<Vec<SealLine>, &'static str> {
    if text.len() > SEAL_MAX {
        return Err("the seal is larger than 64 KiB");
    }
    let body = text
        .strip_suffix(b"\n")
        .ok_or("the seal does not end with a newline")?;
    let mut lines = Vec::new();
    for line in body.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() || line.starts_with(b"#") {
            continue;
        }
        let (escaped, line) = match line.strip_prefix(b"\\") {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        if line.len() < 64 + 2 + 1 {
            return Err("a line is too short to be `<sha256>  <name>`");
        }
        let (hex, rest) = line.split_at(64);
        let mut digest = [0u8; 32];
        for (i, pair) in hex.chunks(2).enumerate() {
            let (hi, lo) = (hex_digit(pair[0]), hex_digit(pair[1]));
            digest[i] = (hi.ok_or("a digest is not 64 hex digits")? << 4)
                | lo.ok_or("a digest is not 64 hex digits")?;
        }
        let name = match rest {
            [b' ', b' ', name @ ..] | [b' ', b'*', name @ ..] => name,
            _ => return Err("a digest is not followed by two spaces (or ` *`) and a name"),
        };
        let name = if escaped {
            unescape_name(name).ok_or("a name has an escape sha256sum does not know")?
        } else {
            name.to_vec()
        };
        let name = match name.strip_prefix(dir).and_then(|r| r.strip_prefix(b"/")) {
            Some(own) if dir.starts_with(b"/") => own.to_vec(),
            _ => name,
        };
        match name.as_slice() {
            b"" | b"." | b".." => return Err("a line names no file of the directory"),
            n if n.contains(&b'/') => {
                return Err("a name contains '/': only files of the directory")
            }
            n if n.contains(&0) => return Err("a name contains NUL"),
            n if n.len() > super::NAME_MAX => return Err("a name is longer than NAME_MAX"),
            n if n == seal => return Err("the seal names itself"),
            _ => {}
        }
        if lines.iter().any(|l: &SealLine| l.name == name) {
            return Err("a name is sealed twice");
        }
        lines.push(SealLine { digest, name });
    }
    if lines.is_empty() {
        return Err("the seal names no file");
    }
    Ok(lines)
}

/// The seal of `lines`, sorted by name, as `sha256sum` writes it (and `sha256sum -c` reads);
/// `Err` with its length where that is more than `SEAL_MAX`: a seal `parse` would refuse is
/// never written (it would read back as malformed on every later call).
pub fn render(lines: &[SealLine]) -> Result<Vec<u8>, usize> {
    let mut sorted: Vec<&SealLine> = lines.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let text: Vec<u8> = sorted
        .into_iter()
        .flat_map(|line| format_line(&line.digest, &line.name))
        .collect();
    if text.len() > SEAL_MAX {
        return Err(text.len());
    }
    Ok(text)
}

/// The digest in lower-case hex.
pub fn hex(digest: &[u8; 32]) -> String {
    crate::escape::hex(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &[u8] =
        b"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  openclaw.json\n";

    #[test]
    fn a_sha256sum_line_parses_and_renders_back() {
        let lines = parse(LINE, b"/sandbox/.openclaw", b".config-hash").expect("valid");
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].name, b"openclaw.json");
        assert_eq!(
            hex(&lines[0].digest),
            std::str::from_utf8(&LINE[..64]).unwrap()
        );
        assert_eq!(render(&lines).expect("small"), LINE);
        let binary = [&LINE[..65], b"*", &LINE[66..]].concat();
        assert_eq!(
            parse(&binary, b"/d", b"seal").expect("binary mode")[0].name,
            b"openclaw.json"
        );
    }

    #[test]
    fn malformed_seals_are_refused() {
        let ok = std::str::from_utf8(LINE).unwrap();
        for bad in [
            String::new(),
            ok.trim_end().to_string(),
            ok.replacen('9', "g", 1),
            ok.replacen("  ", " ", 1),
            ok.replacen("openclaw.json", "a/b", 1),
            ok.replacen("openclaw.json", "..", 1),
            ok.replacen("openclaw.json", ".config-hash", 1),
            format!("\\{}", ok.replacen("openclaw.json", "a\\xb", 1)),
            format!("\\{}", ok.replacen("openclaw.json", "a\\", 1)),
            format!("\\{}", ok.replacen("openclaw.json", "a\\/b", 1)),
            format!("\\{}", ok.replacen("openclaw.json", "/etc/new\\nline", 1)),
            "# only a comment\n\n".to_string(),
            format!(" {ok}"),
            format!("{ok}{ok}"),
            "x".repeat(SEAL_MAX + 1),
        ] {
            assert!(
                parse(bad.as_bytes(), b"/sandbox/.openclaw", b".config-hash").is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_directorys_own_absolute_path_is_its_file() {
        let ok = std::str::from_utf8(LINE).unwrap();
        let absolute = ok.replacen("openclaw.json", "/sandbox/.openclaw/openclaw.json", 1);
        let lines = parse(absolute.as_bytes(), b"/sandbox/.openclaw", b".config-hash")
            .expect("sha256sum /abs");
        assert_eq!(lines[0].name, b"openclaw.json");
        for other in [
            "/sandbox/.openclaw/sub/openclaw.json",
            "/sandbox/.openclaw2/openclaw.json",
            "/etc/openclaw.json",
            "sandbox/.openclaw/openclaw.json",
        ] {
            let line = ok.replacen("openclaw.json", other, 1);
            assert!(
                parse(line.as_bytes(), b"/sandbox/.openclaw", b".config-hash").is_err(),
                "{other}"
            );
        }
    }

    #[test]
    fn render_sorts_by_name() {
        let a = SealLine {
            digest: [1; 32],
            name: b"b".to_vec(),
        };
        let b = SealLine {
            digest: [2; 32],
            name: b"a".to_vec(),
        };
        let text = render(&[a, b]).expect("small");
        assert!(text.starts_with(&b"0202"[..]));
        assert_eq!(parse(&text, b"/d", b"seal").expect("reparses").len(), 2);
    }

    /// A seal of exactly `SEAL_MAX` bytes is written and reads back; one byte more is not
    /// written at all (it would read back as malformed).
    #[test]
    fn a_seal_larger_than_is_read_is_never_rendered() {
        // 256 lines of 64 + 2 + 189 + 1 bytes: 65,536.
        let lines = |last: usize| -> Vec<SealLine> {
            (0..256)
                .map(|i| {
                    let width = if i == 255 { last } else { 189 };
                    SealLine {
                        digest: [i as u8; 32],
                        name: format!("{i:03}{}", "a".repeat(width - 3)).into_bytes(),
                    }
                })
                .collect()
        };
        let text = render(&lines(189)).expect("exactly SEAL_MAX");
        assert_eq!(text.len(), SEAL_MAX);
        assert_eq!(parse(&text, b"/d", b"seal").expect("reads back").len(), 256);
        assert_eq!(render(&lines(190)), Err(SEAL_MAX + 1));
    }

    /// What coreutils 9's `sha256sum` writes for these names (checked with the installed
    /// one: `tests/privileged`, the seal round trip).
    #[test]
    fn names_with_a_backslash_newline_or_carriage_return_are_escaped_as_gnu_does() {
        let digest = [0xab; 32];
        let hex = "ab".repeat(32);
        for (name, line) in [
            (&b"back\\slash"[..], format!("\\{hex}  back\\\\slash\n")),
            (b"new\nline", format!("\\{hex}  new\\nline\n")),
            (b"c\rr", format!("\\{hex}  c\\rr\n")),
            (b"plain", format!("{hex}  plain\n")),
            (b"\xff\x01 tab\t", format!("{hex}  \u{fffd}\u{1} tab\t\n")),
        ] {
            let written = format_line(&digest, name);
            if name.is_ascii() {
                assert_eq!(written, line.as_bytes(), "{name:?}");
            }
            let read = parse(&written, b"/d", b"seal").expect("reads back");
            assert_eq!(
                read,
                vec![SealLine {
                    digest,
                    name: name.to_vec()
                }]
            );
        }
    }

    #[test]
    fn comments_blank_lines_and_crlf_are_read_as_sha256sum_c_reads_them() {
        let ok = std::str::from_utf8(LINE).unwrap();
        let hermes = format!(
            "{}{}\n# nemoclaw-hermes-mcp-state-v1 intended={} applied={}\n",
            ok.replacen("openclaw.json", "/sandbox/.hermes/config.yaml", 1),
            ok.trim_end()
                .replacen("openclaw.json", "/sandbox/.hermes/.env", 1),
            "0".repeat(64),
            "1".repeat(64)
        );
        let lines = parse(hermes.as_bytes(), b"/sandbox/.hermes", b".config-hash").expect("hermes");
        let names: Vec<&[u8]> = lines.iter().map(|l| l.name.as_slice()).collect();
        assert_eq!(names, [&b"config.yaml"[..], b".env"]);
        let spaced = format!("# a comment\n\n{ok}\n#\n");
        assert_eq!(
            parse(spaced.as_bytes(), b"/d", b"s").expect("blank").len(),
            1
        );
        let crlf = ok.replace('\n', "\r\n");
        assert_eq!(
            parse(crlf.as_bytes(), b"/d", b"s").expect("crlf")[0].name,
            b"openclaw.json"
        );
    }

    #[test]
    fn a_raw_backslash_in_a_line_without_the_escape_mark_is_the_name() {
        let ok = std::str::from_utf8(LINE).unwrap();
        let raw = ok.replacen("openclaw.json", "a\\nb", 1);
        assert_eq!(
            parse(raw.as_bytes(), b"/d", b"s").expect("raw")[0].name,
            b"a\\nb"
        );
    }

    #[test]
    fn an_escaped_absolute_name_of_the_directory_is_its_file() {
        let escaped = format!("\\{}  /sandbox/.openclaw/new\\nline\n", "ab".repeat(32));
        let lines = parse(escaped.as_bytes(), b"/sandbox/.openclaw", b"s").expect("escaped abs");
        assert_eq!(lines[0].name, b"new\nline");
    }
}
