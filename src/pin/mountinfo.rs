//! Reading /proc/self/mountinfo, to recognise nc-harden's own mount: a bind of a directory
//! onto itself. Pure parsing, unit-tested; the bytes come from `sys::mount::read_mountinfo`.

/// One line of mountinfo (proc(5)): the fields nc-harden looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountInfo {
    pub id: u64,
    pub parent: u64,
    /// `major:minor` of the filesystem.
    pub dev: Vec<u8>,
    /// The directory of the filesystem that is the root of this mount.
    pub root: Vec<u8>,
    /// Where the mount is, relative to the process's root.
    pub mount_point: Vec<u8>,
    /// Per-mount options, e.g. `ro,nosuid,nodev,relatime`.
    pub options: Vec<u8>,
}

/// mountinfo escapes space, tab, newline and backslash as `\NNN` (octal).
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let octal = field
            .get(i + 1..i + 4)
            .filter(|d| field[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') << 6 | (d[1] - b'0') << 3 | (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    out
}

fn parse_line(line: &[u8]) -> Option<MountInfo> {
    let mut fields = line.split(|&b| b == b' ');
    let number = |f: Option<&[u8]>| std::str::from_utf8(f?).ok()?.parse::<u64>().ok();
    Some(MountInfo {
        id: number(fields.next())?,
        parent: number(fields.next())?,
        dev: fields.next()?.to_vec(),
        root: unescape(fields.next()?),
        mount_point: unescape(fields.next()?),
        options: fields.next()?.to_vec(),
    })
}

/// The entry of mount `id`.
pub fn find(text: &[u8], id: u64) -> Option<MountInfo> {
    text.split(|&b| b == b'\n')
        .filter_map(parse_line)
        .find(|m| m.id == id)
}

/// `path` relative to `base` ("" when equal, "/x/y" when inside), or None when outside.
fn relative<'a>(path: &'a [u8], base: &[u8]) -> Option<&'a [u8]> {
    if base == b"/" {
        Some(path)
    } else if path == base {
        Some(b"")
    } else if path.starts_with(base) && path.get(base.len()) == Some(&b'/') {
        Some(&path[base.len()..])
    } else {
        None
    }
}

/// `mount` is a bind of the very directory it is mounted on: same filesystem as the mount it
/// sits on, and its root is the directory that the mount point names in that filesystem.
pub fn is_self_bind(mount: &MountInfo, parent: &MountInfo) -> bool {
    let Some(rel) = relative(&mount.mount_point, &parent.mount_point) else {
        return false;
    };
    let expected: Vec<u8> = match (parent.root.as_slice(), rel) {
        (root, b"") => root.to_vec(),
        (b"/", rel) => rel.to_vec(),
        (root, rel) => [root, rel].concat(),
    };
    mount.dev == parent.dev && mount.root == expected
}

/// Every one of `wanted` is among the comma-separated `options`.
pub fn has_options(options: &[u8], wanted: &[&[u8]]) -> bool {
    wanted
        .iter()
        .all(|w| options.split(|&b| b == b',').any(|o| o == *w))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &[u8] = b"\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
40 22 254:0 /tmp/a\\040b/.openclaw /tmp/a\\040b/.openclaw ro,nosuid,nodev,relatime shared:1 - ext4 /dev/vda rw
41 22 0:55 / /tmp/t rw,relatime - tmpfs tmpfs rw
42 41 0:55 /x/.openclaw /tmp/t/x/.openclaw ro,nosuid,nodev - tmpfs tmpfs rw
43 41 0:55 /other /tmp/t/x/.openclaw ro,nosuid,nodev - tmpfs tmpfs rw
44 22 0:56 / /tmp/u/.openclaw rw - tmpfs tmpfs rw
45 44 0:56 / /tmp/u/.openclaw ro,nosuid,nodev - tmpfs tmpfs rw
";

    fn get(id: u64) -> MountInfo {
        find(TEXT, id).expect("present")
    }

    #[test]
    fn parses_and_unescapes() {
        let m = get(40);
        assert_eq!(m.parent, 22);
        assert_eq!(m.mount_point, b"/tmp/a b/.openclaw");
        assert_eq!(m.root, b"/tmp/a b/.openclaw");
        assert!(has_options(&m.options, &[b"ro", b"nosuid", b"nodev"]));
        assert!(!has_options(&get(41).options, &[b"ro"]));
        assert_eq!(unescape(b"a\\134b\\012"), b"a\\b\n");
        assert_eq!(unescape(b"trailing\\04"), b"trailing\\04");
        assert!(find(TEXT, 99).is_none());
    }

    #[test]
    fn self_binds_are_recognised() {
        assert!(is_self_bind(&get(40), &get(22)), "on the root filesystem");
        assert!(is_self_bind(&get(42), &get(41)), "inside another mount");
        assert!(
            is_self_bind(&get(45), &get(44)),
            "on top of a filesystem mounted on the directory"
        );
    }

    #[test]
    fn other_mounts_are_not() {
        assert!(
            !is_self_bind(&get(43), &get(41)),
            "a bind of another directory"
        );
        assert!(
            !is_self_bind(&get(44), &get(22)),
            "a filesystem mounted on the directory"
        );
        assert!(!is_self_bind(&get(41), &get(22)), "a different device");
    }
}
