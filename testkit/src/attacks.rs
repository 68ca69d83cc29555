//! The changes the threat model's attacker tries on a frozen directory. Each returns Ok when
//! the change went through: a freeze must make every one fail, an unfreeze let them work.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{symlink, PermissionsExt};

use crate::layout::Layout;

pub struct Attack {
    pub name: &'static str,
    pub run: fn(&Layout) -> io::Result<()>,
}

/// renameat2(a, b, RENAME_EXCHANGE): the two names swap their inodes in one step.
pub fn rename_exchange(a: &std::path::Path, b: &std::path::Path) -> io::Result<()> {
    let (a, b) = (
        std::ffi::CString::new(a.as_os_str().as_encoded_bytes())?,
        std::ffi::CString::new(b.as_os_str().as_encoded_bytes())?,
    );
    // SAFETY: NUL-terminated paths; renameat2 with integer flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// An evil link prepared outside `dir`, to be moved in.
fn evil_link(l: &Layout) -> io::Result<std::path::PathBuf> {
    let evil = l.root.join("evil-hooks");
    let _ = fs::remove_file(&evil);
    symlink("/tmp/evil", &evil)?;
    Ok(evil)
}

pub const ATTACKS: &[Attack] = &[
    Attack {
        name: "create_link",
        run: |l| symlink("/etc", l.dir.join("injected")),
    },
    Attack {
        name: "create_dotfile_link",
        run: |l| symlink("/etc", l.dir.join(".evil")),
    },
    Attack {
        name: "create_file",
        run: |l| fs::File::create(l.dir.join("new.json")).map(drop),
    },
    Attack {
        name: "remove_link",
        run: |l| fs::remove_file(l.dir.join("hooks")),
    },
    Attack {
        name: "rename_link",
        run: |l| fs::rename(l.dir.join("hooks"), l.dir.join("hooks.old")),
    },
    Attack {
        name: "repoint_link_by_rename",
        run: |l| fs::rename(evil_link(l)?, l.dir.join("hooks")),
    },
    Attack {
        name: "repoint_link_by_exchange",
        run: |l| rename_exchange(&evil_link(l)?, &l.dir.join("hooks")),
    },
    Attack {
        name: "write_config",
        run: |l| {
            OpenOptions::new()
                .write(true)
                .open(l.dir.join("openclaw.json"))?
                .write_all(b"{}")
        },
    },
    Attack {
        name: "append_config",
        run: |l| {
            OpenOptions::new()
                .append(true)
                .open(l.dir.join("openclaw.json"))
                .map(drop)
        },
    },
    Attack {
        name: "chmod_config",
        run: |l| {
            fs::set_permissions(
                l.dir.join("openclaw.json"),
                fs::Permissions::from_mode(0o666),
            )
        },
    },
    Attack {
        name: "remove_config",
        run: |l| fs::remove_file(l.dir.join("openclaw.json")),
    },
    Attack {
        name: "hard_link_config",
        run: |l| fs::hard_link(l.dir.join("openclaw.json"), l.root.join("stolen")),
    },
];
