//! Content seals in `sha256sum` format: one line per file, `<64 hex digits>  <name>` (or
//! `<64 hex> *<name>`, binary mode), names of regular files of `dir`. Pure parsing and
//! rendering; the engine reads and hashes the pinned files.

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

/// Parses a seal of the directory `dir` (its absolute path); `Err` says why it is malformed.
/// A name is a file of the directory: `openclaw.json`, as `cd dir && sha256sum openclaw.json`
/// writes it, or `dir/openclaw.json`, as `sha256sum /sandbox/.openclaw/openclaw.json` does
/// (NemoClaw's images write both); any other `/` is malformed. Strict where `sha256sum -c`
/// would only warn: every line must have the shape, no name twice, no `.`, `..` or empty
/// name, no escaped names (a newline or a backslash), at most `SEAL_MAX` bytes, and at least
/// one line.
pub fn parse(text: &[u8], dir: &[u8]) -> Result<Vec<SealLine>, &'static str> {
    if text.len() > SEAL_MAX {
        return Err("the seal is larger than 64 KiB");
    }
    let body = text
        .strip_suffix(b"\n")
        .ok_or("the seal does not end with a newline")?;
    let mut lines = Vec::new();
    for line in body.split(|&b| b == b'\n') {
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
        let name = name
            .strip_prefix(dir)
            .and_then(|rest| rest.strip_prefix(b"/"))
            .filter(|_| dir.starts_with(b"/"))
            .unwrap_or(name);
        match name {
            b"" | b"." | b".." => return Err("a line names no file of the directory"),
            n if n.contains(&b'/') => {
                return Err("a name contains '/': only files of the directory")
            }
            n if n.contains(&b'\\') || n.contains(&0) => {
                return Err("a name contains a backslash or NUL")
            }
            n if n.len() > super::NAME_MAX => return Err("a name is longer than NAME_MAX"),
            _ => {}
        }
        if lines.iter().any(|l: &SealLine| l.name == name) {
            return Err("a name is sealed twice");
        }
        lines.push(SealLine {
            digest,
            name: name.to_vec(),
        });
    }
    Ok(lines)
}

/// The seal of `lines`, sorted by name, as `sha256sum` writes it (and `sha256sum -c` reads).
pub fn render(lines: &[SealLine]) -> Vec<u8> {
    let mut sorted: Vec<&SealLine> = lines.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = Vec::new();
    for line in sorted {
        for b in line.digest {
            out.extend_from_slice(format!("{b:02x}").as_bytes());
        }
        out.extend_from_slice(b"  ");
        out.extend_from_slice(&line.name);
        out.push(b'\n');
    }
    out
}

/// The digest in lower-case hex.
pub fn hex(digest: &[u8; 32]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &[u8] =
        b"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  openclaw.json\n";

    #[test]
    fn a_sha256sum_line_parses_and_renders_back() {
        let lines = parse(LINE, b"/sandbox/.openclaw").expect("valid");
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].name, b"openclaw.json");
        assert_eq!(
            hex(&lines[0].digest),
            std::str::from_utf8(&LINE[..64]).unwrap()
        );
        assert_eq!(render(&lines), LINE);
        let binary = [&LINE[..65], b"*", &LINE[66..]].concat();
        assert_eq!(
            parse(&binary, b"/d").expect("binary mode")[0].name,
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
            ok.replacen("openclaw.json", "a\\b", 1),
            format!("{ok}{ok}"),
            format!("{ok}\n"),
            "x".repeat(SEAL_MAX + 1),
        ] {
            assert!(
                parse(bad.as_bytes(), b"/sandbox/.openclaw").is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_directorys_own_absolute_path_is_its_file() {
        let ok = std::str::from_utf8(LINE).unwrap();
        let absolute = ok.replacen("openclaw.json", "/sandbox/.openclaw/openclaw.json", 1);
        let lines = parse(absolute.as_bytes(), b"/sandbox/.openclaw").expect("sha256sum /abs");
        assert_eq!(lines[0].name, b"openclaw.json");
        for other in [
            "/sandbox/.openclaw/sub/openclaw.json",
            "/sandbox/.openclaw2/openclaw.json",
            "/etc/openclaw.json",
            "sandbox/.openclaw/openclaw.json",
        ] {
            let line = ok.replacen("openclaw.json", other, 1);
            assert!(
                parse(line.as_bytes(), b"/sandbox/.openclaw").is_err(),
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
        let text = render(&[a, b]);
        assert!(text.starts_with(&b"0202"[..]));
        assert_eq!(parse(&text, b"/d").expect("reparses").len(), 2);
    }
}
