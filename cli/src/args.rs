//! Value parsers of the command line: the CLI's only conveniences over the C ABI, which
//! stays strict. A path loses the one trailing `/` that tab completion adds; an owner may be
//! a user name. Everything else is judged by the library.

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
pub fn strip_one_slash(value: OsString) -> OsString {
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

/// `(uid_t)-1`: "no change" to chown(2) and NC_BAD_ARGUMENT as an owner in the C ABI.
const NO_UID: u32 = u32::MAX;

/// `--owner`: a uid number, or a user name looked up in `/etc/passwd`.
///
/// The name is looked up by reading `/etc/passwd`, not with getpwnam(3): the installed CLI is
/// a static-pie executable, where glibc's getpwnam_r loads the NSS modules of the glibc it
/// was linked with at run time (the linker warns about it), which the container image may
/// not have. Users known only to another NSS source (LDAP, systemd-userdb) are given by uid.
pub fn owner(value: &str) -> Result<u32, String> {
    let uid = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        value
            .parse::<u32>()
            .map_err(|_| format!("{value} is not a uid (0 to {})", NO_UID - 1))?
    } else {
        let passwd = std::fs::read("/etc/passwd")
            .map_err(|e| format!("cannot read /etc/passwd to look up user {value:?}: {e}"))?;
        passwd_uid(&passwd, value.as_bytes())
            .ok_or_else(|| format!("no user {value:?} in /etc/passwd (give the uid instead)"))?
    };
    if uid == NO_UID {
        return Err(format!("{uid} is (uid_t)-1, which names no user"));
    }
    Ok(uid)
}

/// `UID:GID` of `--hand-to`: each a number or a name (of /etc/passwd, of /etc/group).
pub fn user_group(value: &str) -> Result<(u32, u32), String> {
    let (user, group) = value
        .split_once(':')
        .ok_or_else(|| format!("{value:?} is not UID:GID"))?;
    let uid = owner(user)?;
    let gid = if !group.is_empty() && group.bytes().all(|b| b.is_ascii_digit()) {
        group
            .parse::<u32>()
            .map_err(|_| format!("{group} is not a gid (0 to {})", NO_UID - 1))?
    } else {
        let groups = std::fs::read("/etc/group")
            .map_err(|e| format!("cannot read /etc/group to look up group {group:?}: {e}"))?;
        passwd_uid(&groups, group.as_bytes())
            .ok_or_else(|| format!("no group {group:?} in /etc/group (give the gid instead)"))?
    };
    if gid == NO_UID {
        return Err(format!("{gid} is (gid_t)-1, which names no group"));
    }
    Ok((uid, gid))
}

/// A permission mode in octal, as chmod takes it: at most 07777.
pub fn mode(value: &str) -> Result<u32, String> {
    let mode =
        u32::from_str_radix(value, 8).map_err(|_| format!("{value:?} is not an octal mode"))?;
    if mode > 0o7777 {
        return Err(format!("{value} is more than 07777"));
    }
    Ok(mode)
}

/// The uid of `name` in the text of a passwd(5) file (or the gid in a group(5) file: the
/// same shape, the id in the third field): the first line whose name matches,
/// with a uid field that is a number. NIS compat lines (`+`, `-`) and comments are skipped.
pub fn passwd_uid(passwd: &[u8], name: &[u8]) -> Option<u32> {
    if name.is_empty() {
        return None;
    }
    passwd
        .split(|&b| b == b'\n')
        .filter(|line| !matches!(line.first(), None | Some(b'#' | b'+' | b'-')))
        .find_map(|line| {
            let mut fields = line.split(|&b| b == b':');
            let (user, _password, uid) = (fields.next()?, fields.next()?, fields.next()?);
            if user != name || uid.is_empty() || !uid.iter().all(u8::is_ascii_digit) {
                return None;
            }
            std::str::from_utf8(uid).ok()?.parse().ok()
        })
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

    const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/bash\n\
        # a comment: x:1:1\n\
        +nis:x:7:7::/:/bin/sh\n\
        \n\
        sandbox:x:998:998:Sandbox,,,:/sandbox:/usr/sbin/nologin\n\
        broken:x:notanumber:1::/:/bin/sh\n\
        short:x\n\
        sandbox:x:5:5::/:/bin/sh\n\
        last:x:1000:1000::/home/last:/bin/sh";

    #[test]
    fn passwd_names_resolve() {
        assert_eq!(passwd_uid(PASSWD, b"root"), Some(0));
        assert_eq!(
            passwd_uid(PASSWD, b"sandbox"),
            Some(998),
            "the first line wins"
        );
        assert_eq!(passwd_uid(PASSWD, b"last"), Some(1000), "no final newline");
    }

    #[test]
    fn passwd_misses_are_none() {
        for name in [
            &b"nobody-here"[..],
            b"",
            b"x",
            b"nis",
            b"+nis",
            b"broken",
            b"short",
            b"roo",
            b"root:x",
            b"# a comment",
        ] {
            assert_eq!(passwd_uid(PASSWD, name), None, "{:?}", name.escape_ascii());
        }
    }

    #[test]
    fn owner_numbers_and_their_limits() {
        assert_eq!(owner("0"), Ok(0));
        assert_eq!(owner("998"), Ok(998));
        assert_eq!(owner("4294967294"), Ok(u32::MAX - 1));
        assert!(owner("4294967295").is_err(), "(uid_t)-1");
        assert!(owner("4294967296").is_err());
        assert!(owner("").is_err());
        assert!(owner("-1").is_err());
        assert!(owner("no-such-user-of-nc-harden").is_err());
    }
}
