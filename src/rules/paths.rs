//! The argument rules: `dir` and `data_dir` absolute, normalized, at most PATH_MAX, disjoint;
//! required names single, real entry names. Checked on bytes, before any syscall.

/// Bytes a path may have including its terminating NUL, as the kernel counts them.
pub const PATH_MAX: usize = libc::PATH_MAX as usize;
/// The longest entry name.
pub const NAME_MAX: usize = 255;

/// Why a path is refused, or `Ok` for an absolute, normalized path short enough to open.
pub fn check_path(path: &[u8]) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("is empty");
    }
    if path.len() >= PATH_MAX {
        return Err("is longer than PATH_MAX");
    }
    if path.contains(&0) {
        return Err("contains a NUL byte");
    }
    if path[0] != b'/' {
        return Err("is not absolute");
    }
    if path == b"/" {
        return Ok(());
    }
    for component in path[1..].split(|&b| b == b'/') {
        match component {
            b"" => return Err("is not normalized (empty component or trailing '/')"),
            b"." | b".." => return Err("is not normalized ('.' or '..' component)"),
            c if c.len() > NAME_MAX => return Err("has a component longer than NAME_MAX"),
            _ => {}
        }
    }
    Ok(())
}

/// `a` equals `b` or lies inside it (both already normalized).
fn within(a: &[u8], b: &[u8]) -> bool {
    a == b || b == b"/" || (a.len() > b.len() && a.starts_with(b) && a[b.len()] == b'/')
}

/// Neither path is the other or inside the other.
pub fn check_disjoint(dir: &[u8], data_dir: &[u8]) -> Result<(), &'static str> {
    if dir == data_dir {
        Err("dir and data_dir are the same path")
    } else if within(dir, data_dir) {
        Err("dir is inside data_dir")
    } else if within(data_dir, dir) {
        Err("data_dir is inside dir")
    } else {
        Ok(())
    }
}

/// A required name must be one directory entry name: not empty, no '/', not `.` or `..`.
pub fn check_entry_name(name: &[u8]) -> Result<(), &'static str> {
    match name {
        b"" => Err("a required name is empty"),
        b"." | b".." => Err("a required name is '.' or '..'"),
        n if n.contains(&b'/') => Err("a required name contains '/'"),
        n if n.contains(&0) => Err("a required name contains a NUL byte"),
        n if n.len() > NAME_MAX => Err("a required name is longer than NAME_MAX"),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_absolute_paths_pass() {
        for p in [
            "/",
            "/sandbox",
            "/sandbox/.openclaw",
            "/a/b c/\u{e9}",
            "/..a/.b/c..",
        ] {
            assert_eq!(check_path(p.as_bytes()), Ok(()), "{p}");
        }
    }

    #[test]
    fn relative_empty_and_unnormalized_paths_fail() {
        for p in [
            "", "sandbox", "./x", "/a/", "/a//b", "/a/./b", "/a/../b", "/..", "/.", "//",
        ] {
            assert!(check_path(p.as_bytes()).is_err(), "{p}");
        }
    }

    #[test]
    fn path_max_is_the_limit() {
        let mut p = vec![b'/'];
        while p.len() < PATH_MAX - 1 {
            p.extend_from_slice(b"a/");
            if p.len() > PATH_MAX - 1 {
                p.truncate(PATH_MAX - 1);
            }
        }
        while p.last() == Some(&b'/') {
            p.pop();
            p.push(b'b');
        }
        assert_eq!(p.len(), PATH_MAX - 1);
        assert_eq!(check_path(&p), Ok(()));
        p.extend_from_slice(b"c");
        assert!(check_path(&p).is_err());
    }

    #[test]
    fn nul_and_long_component_fail() {
        assert!(check_path(b"/a\0b").is_err());
        let long = format!("/{}", "x".repeat(256));
        assert!(check_path(long.as_bytes()).is_err());
    }

    #[test]
    fn overlapping_paths_fail() {
        assert!(check_disjoint(b"/s/a", b"/s/a").is_err());
        assert!(check_disjoint(b"/s/a/b", b"/s/a").is_err());
        assert!(check_disjoint(b"/s/a", b"/s/a/b").is_err());
        assert!(check_disjoint(b"/s/a", b"/").is_err());
        assert!(check_disjoint(b"/", b"/s").is_err());
        assert_eq!(
            check_disjoint(b"/s/.openclaw", b"/s/.openclaw-data"),
            Ok(())
        );
        assert_eq!(check_disjoint(b"/s/ab", b"/s/a"), Ok(()));
    }

    #[test]
    fn entry_names() {
        assert_eq!(check_entry_name(b"openclaw.json"), Ok(()));
        assert_eq!(check_entry_name(b".config-hash"), Ok(()));
        for bad in [&b""[..], b".", b"..", b"a/b", b"a\0"] {
            assert!(check_entry_name(bad).is_err());
        }
    }
}
