//! The identities of NemoClaw's posture table: root 0:0, and the `sandbox` user and group.
//!
//! The guards ask `pwd.getpwnam("sandbox")` and `grp.getgrnam("sandbox")`. The installed
//! nc-harden is a static executable, where glibc's NSS lookups load modules of the glibc it
//! was linked with (which the image may not have), so the files are read instead, as the
//! CLI's `--owner` does: `/etc/passwd` and `/etc/group`, where NemoClaw's images define it.

use std::io;

/// The user and group the mutable posture belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    pub sandbox_uid: u32,
    pub sandbox_gid: u32,
}

impl Identity {
    pub(crate) const ROOT_UID: u32 = 0;
    pub(crate) const ROOT_GID: u32 = 0;
}

/// `sandbox` in `/etc/passwd` and in `/etc/group`; `Ok(None)` when either is missing.
pub fn production() -> io::Result<Option<Identity>> {
    let passwd = std::fs::read("/etc/passwd")?;
    let group = std::fs::read("/etc/group")?;
    Ok(
        match (id_of(&passwd, b"sandbox", 2), id_of(&group, b"sandbox", 2)) {
            (Some(sandbox_uid), Some(sandbox_gid)) => Some(Identity {
                sandbox_uid,
                sandbox_gid,
            }),
            _ => None,
        },
    )
}

/// The numeric field `field` (0-based) of the first line of a colon-separated database
/// (passwd, group) whose first field is `name`.
fn id_of(db: &[u8], name: &[u8], field: usize) -> Option<u32> {
    db.split(|&b| b == b'\n')
        .map(|line| line.split(|&b| b == b':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&name) && fields.len() > field)
        .and_then(|fields| std::str::from_utf8(fields[field]).ok()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_matching_line() {
        let db = b"root:x:0:0::/root:/bin/sh\nsandboxer:x:5:5::/:/bin/sh\nsandbox:x:998:997::/sandbox:/bin/sh\nsandbox:x:1:1::/:/\n";
        assert_eq!(id_of(db, b"sandbox", 2), Some(998));
        assert_eq!(id_of(db, b"sandbox", 3), Some(997));
        assert_eq!(id_of(db, b"nobody", 2), None);
        assert_eq!(id_of(b"sandbox:x:notanumber:1\n", b"sandbox", 2), None);
    }
}
