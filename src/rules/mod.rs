//! The policy of the contract, as pure functions over plain data: no syscall here, so every
//! rule is unit-tested on its own and the walk only gathers facts for it.

#![forbid(unsafe_code)]

mod paths;
pub mod seal;

use crate::inode::{FileKind, Meta, Mount};
pub use paths::{check_disjoint, check_entry_name, check_path, NAME_MAX, PATH_MAX};

crate::contract_table! {
    /// Why an entry breaks the policy. The numbers are part of the C ABI: never renumbered.
    pub enum Reason in C enum nc_reason {
        None = 0 => NC_REASON_NONE "none",
        /// The symlink does not read, byte for byte, as `data_dir + "/" + name`.
        LinkTargetMismatch = 1 => NC_REASON_LINK_TARGET_MISMATCH "link_target_mismatch",
        /// `data_dir/name` does not exist: a dangling link, or a name with no counterpart.
        DataEntryMissing = 2 => NC_REASON_DATA_ENTRY_MISSING "data_entry_missing",
        /// `data_dir/name` is itself a symlink.
        DataEntryIsSymlink = 3 => NC_REASON_DATA_ENTRY_IS_SYMLINK "data_entry_is_symlink",
        /// `data_dir/name` could not be examined (errno in the record).
        DataEntryUnreadable = 4 => NC_REASON_DATA_ENTRY_UNREADABLE "data_entry_unreadable",
        /// Not owned by the required owner.
        OwnerMismatch = 5 => NC_REASON_OWNER_MISMATCH "owner_mismatch",
        /// Writable by group or others.
        WritableByOthers = 6 => NC_REASON_WRITABLE_BY_OTHERS "writable_by_others",
        /// A regular file with more than one link.
        HardLinked = 7 => NC_REASON_HARD_LINKED "hard_linked",
        UnexpectedDirectory = 8 => NC_REASON_UNEXPECTED_DIRECTORY "unexpected_directory",
        UnexpectedFifo = 9 => NC_REASON_UNEXPECTED_FIFO "unexpected_fifo",
        UnexpectedSocket = 10 => NC_REASON_UNEXPECTED_SOCKET "unexpected_socket",
        UnexpectedDevice = 11 => NC_REASON_UNEXPECTED_DEVICE "unexpected_device",
        /// A name listed as required is not in the directory.
        RequiredMissing = 12 => NC_REASON_REQUIRED_MISSING "required_missing",
        /// The entry could not be examined (errno in the record).
        EntryUnreadable = 13 => NC_REASON_ENTRY_UNREADABLE "entry_unreadable",
        /// The entry changed while it was being examined (only possible where nothing is pinned).
        EntryChanged = 14 => NC_REASON_ENTRY_CHANGED "entry_changed",
        /// An entry whose type the kernel reports as none of the known ones.
        UnexpectedType = 15 => NC_REASON_UNEXPECTED_TYPE "unexpected_type",
        /// Something is mounted over the entry: what the path shows is not an inode of `dir`.
        MountPoint = 16 => NC_REASON_MOUNT_POINT "mount_point",
        /// A process holds the pinned file open for writing (or mapped), and would go on writing.
        OpenForWriting = 17 => NC_REASON_OPEN_FOR_WRITING "open_for_writing",
        /// The seal file named by `seal` is not in the directory.
        SealMissing = 18 => NC_REASON_SEAL_MISSING "seal_missing",
        /// The seal is not in `sha256sum` format, is too large, or names something that is not a
        /// regular file of the directory.
        SealMalformed = 19 => NC_REASON_SEAL_MALFORMED "seal_malformed",
        /// A sealed file's bytes do not have the digest the seal gives.
        SealMismatch = 20 => NC_REASON_SEAL_MISMATCH "seal_mismatch",
        /// A symlink in a flat layout (no `data_dir`): only regular files belong there.
        UnexpectedSymlink = 21 => NC_REASON_UNEXPECTED_SYMLINK "unexpected_symlink",
        /// Shields up would make the file readable by someone who could not read it before (a
        /// root-only file moved into the mutable directory, say): refused and left as it is.
        WouldWidenAccess = 22 => NC_REASON_WOULD_WIDEN_ACCESS "would_widen_access",
        /// Shields down found an inode that shields up did not lock (a hard link to a root file,
        /// a file moved in since): not handed back, left as it is.
        NotLockedByShields = 23 => NC_REASON_NOT_LOCKED_BY_SHIELDS "not_locked_by_shields",
    }
}

impl Reason {
    /// One human phrase, for summaries and the CLI.
    pub fn describe(self) -> &'static str {
        match self {
            Self::None => "valid",
            Self::LinkTargetMismatch => "symlink does not point exactly at data_dir/<name>",
            Self::DataEntryMissing => "data_dir/<name> does not exist",
            Self::DataEntryIsSymlink => "data_dir/<name> is itself a symlink",
            Self::DataEntryUnreadable => "data_dir/<name> could not be examined",
            Self::OwnerMismatch => "not owned by the required owner",
            Self::WritableByOthers => "writable by group or others",
            Self::HardLinked => "regular file has more than one link",
            Self::UnexpectedDirectory => "a directory is not allowed here",
            Self::UnexpectedFifo => "a FIFO is not allowed here",
            Self::UnexpectedSocket => "a socket is not allowed here",
            Self::UnexpectedDevice => "a device node is not allowed here",
            Self::RequiredMissing => "required entry is missing",
            Self::EntryUnreadable => "entry could not be examined",
            Self::EntryChanged => "entry changed while it was examined",
            Self::UnexpectedType => "an entry of unknown type is not allowed here",
            Self::MountPoint => {
                "something is mounted over the entry (a bind mount of a file or directory)"
            }
            Self::OpenForWriting => {
                "a process holds the file open for writing (or may: with an errno, the lease \
                 that tells could not be taken) and would write past the pin"
            }
            Self::SealMissing => "the seal file is missing",
            Self::SealMalformed => "the seal is malformed",
            Self::SealMismatch => "the bytes do not match the seal",
            Self::UnexpectedSymlink => "a symlink is not allowed in a directory without data_dir",
            Self::WouldWidenAccess => {
                "the locked posture would make it readable by someone who could not read it"
            }
            Self::NotLockedByShields => {
                "shields up did not lock this inode: not handed back, left as it is"
            }
        }
    }
}

/// Whether the locked posture (owner root, mode 0444) would let someone read the regular file
/// `file` who could not read it before, in the directory `dir` as it was before the call
/// (NemoClaw's mutable posture: sandbox:sandbox 2770, files 0660). A root-only file (root's,
/// no read for group or others) never becomes 0444; nor does a file that the directory's
/// owner and group (the sandbox user, in the mutable posture) could not read.
pub fn would_widen_access(file: &Meta, dir: &Meta) -> bool {
    let others_read = file.mode & 0o004 != 0;
    if file.uid == 0 && file.mode & 0o044 == 0 {
        return true;
    }
    if dir.uid == 0 || others_read {
        return false;
    }
    let owner_reads = file.uid == dir.uid && file.mode & 0o400 != 0;
    let group_reads = file.gid == dir.gid && file.mode & 0o040 != 0;
    !(owner_reads || group_reads)
}

fn writable_by_others(mode: u32) -> bool {
    mode & 0o022 != 0
}

/// Rule 2: `dir` is owned by `owner` and not writable by group or others.
pub fn judge_directory(meta: &Meta, owner: u32) -> Reason {
    if meta.kind != FileKind::Directory {
        Reason::UnexpectedType
    } else if meta.uid != owner {
        Reason::OwnerMismatch
    } else if writable_by_others(meta.mode) {
        Reason::WritableByOthers
    } else {
        Reason::None
    }
}

/// Rule 3, regular files: owned by `owner`, not writable by group or others, one link.
pub fn judge_regular(meta: &Meta, owner: u32) -> Reason {
    if meta.kind != FileKind::Regular {
        judge_kind(meta.kind)
    } else if meta.uid != owner {
        Reason::OwnerMismatch
    } else if writable_by_others(meta.mode) {
        Reason::WritableByOthers
    } else if meta.nlink != 1 {
        Reason::HardLinked
    } else {
        Reason::None
    }
}

/// Rule 3, by type alone: what is neither a symlink nor a regular file is rejected, and
/// decided here without the entry ever being opened.
pub fn judge_kind(kind: FileKind) -> Reason {
    match kind {
        FileKind::Symlink | FileKind::Regular => Reason::None,
        FileKind::Directory => Reason::UnexpectedDirectory,
        FileKind::Fifo => Reason::UnexpectedFifo,
        FileKind::Socket => Reason::UnexpectedSocket,
        FileKind::CharDevice | FileKind::BlockDevice => Reason::UnexpectedDevice,
        FileKind::Unknown => Reason::UnexpectedType,
    }
}

/// Version 0.2, mount points: an entry whose inode is not on `dir`'s own mount (`dir_mount`)
/// or is the root of a mount has something mounted over it. `None` where the kernel gave no
/// mount id for one of the two: the caller must find out another way.
pub fn is_mount_point(entry: Option<Mount>, dir_mount: Option<u64>) -> Option<bool> {
    let (entry, dir_mount) = (entry?, dir_mount?);
    Some(entry.is_root || entry.id != dir_mount)
}

/// The safe-path rule (OpenSSH's `safe_path`, sudo): an ancestor must be owned by root or
/// `owner` and not writable by group or others, unless it is sticky and the child on the
/// path is owned by root or `owner` (as `/tmp`). `None` when it is safe, else why not.
pub fn judge_ancestor(ancestor: &Meta, child: &Meta, owner: u32) -> Option<&'static str> {
    let trusted = |uid: u32| uid == 0 || uid == owner;
    if !trusted(ancestor.uid) {
        Some("is owned by a user other than root and the owner")
    } else if writable_by_others(ancestor.mode)
        && !(ancestor.mode & libc::S_ISVTX != 0 && trusted(child.uid))
    {
        Some("is writable by group or others")
    } else {
        None
    }
}

/// Rule 3, symlinks: the target, as read (never resolved), must equal `data_dir + "/" + name`
/// byte for byte. A relative link, a chain through another link, a trailing slash or a
/// doubled slash all differ from it, and so are rejected.
pub fn link_target_matches(data_dir: &[u8], name: &[u8], target: &[u8]) -> bool {
    target.len() == data_dir.len() + 1 + name.len()
        && target.starts_with(data_dir)
        && target[data_dir.len()] == b'/'
        && &target[data_dir.len() + 1..] == name
}

/// Rule 3, the other end of a link: `data_dir/name` must exist and not be a symlink.
/// `found` is its type, or `None` when it does not exist.
pub fn judge_data_entry(found: Option<FileKind>) -> Reason {
    match found {
        None => Reason::DataEntryMissing,
        Some(FileKind::Symlink) => Reason::DataEntryIsSymlink,
        Some(_) => Reason::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(kind: FileKind, mode: u32, uid: u32, nlink: u64) -> Meta {
        Meta {
            kind,
            mode,
            uid,
            nlink,
            gid: uid,
            size: 0,
            dev: 1,
            ino: 2,
            changed: 0,
            modified: (0, 0),
            accessed: (0, 0),
            mount: None,
            born: 0,
        }
    }

    const DATA: &[u8] = b"/sandbox/.openclaw-data";

    #[test]
    fn the_locked_posture_never_widens_read_access() {
        let mutable = meta(FileKind::Directory, 0o2770, 998, 2);
        let file = |mode, uid| meta(FileKind::Regular, mode, uid, 1);
        // The sandbox user's own files, and files it could read: 0444 widens nothing for it.
        assert!(!would_widen_access(&file(0o660, 998), &mutable));
        assert!(!would_widen_access(&file(0o600, 998), &mutable));
        assert!(!would_widen_access(&file(0o644, 0), &mutable));
        // A root-only file moved in, another user's private file: refused.
        assert!(would_widen_access(&file(0o600, 0), &mutable));
        assert!(would_widen_access(&file(0o400, 0), &mutable));
        assert!(would_widen_access(&file(0o600, 1001), &mutable));
        // A root-only file stays root-only whoever owns the directory.
        let locked = meta(FileKind::Directory, 0o755, 0, 2);
        assert!(would_widen_access(&file(0o600, 0), &locked));
        assert!(!would_widen_access(&file(0o444, 0), &locked));
    }

    #[test]
    fn exact_target_is_accepted() {
        assert!(link_target_matches(
            DATA,
            b"hooks",
            b"/sandbox/.openclaw-data/hooks"
        ));
    }

    #[test]
    fn repointed_relative_chained_and_sloppy_targets_are_refused() {
        for target in [
            &b"/tmp/evil"[..],
            b"../.openclaw-data/hooks",
            b"/sandbox/elsewhere/hop",
            b"/sandbox/.openclaw-data/hooks/",
            b"/sandbox/.openclaw-data//hooks",
            b"/sandbox/.openclaw-data/./hooks",
            b"/sandbox/.openclaw-data/hook",
            b"/sandbox/.openclaw-data/hooksx",
            b"/sandbox/.openclaw-dataXhooks",
            b"",
        ] {
            assert!(!link_target_matches(DATA, b"hooks", target), "{target:?}");
        }
    }

    #[test]
    fn non_utf8_and_newline_names_compare_as_bytes() {
        assert!(link_target_matches(
            DATA,
            b"a\xffb\n",
            b"/sandbox/.openclaw-data/a\xffb\n"
        ));
        assert!(!link_target_matches(
            DATA,
            b"a\xffb",
            b"/sandbox/.openclaw-data/a\xfeb"
        ));
    }

    #[test]
    fn directory_rules() {
        let ok = meta(FileKind::Directory, 0o755, 0, 2);
        assert_eq!(judge_directory(&ok, 0), Reason::None);
        assert_eq!(
            judge_directory(&meta(FileKind::Directory, 0o755, 998, 2), 0),
            Reason::OwnerMismatch
        );
        assert_eq!(
            judge_directory(&meta(FileKind::Directory, 0o777, 0, 2), 0),
            Reason::WritableByOthers
        );
        assert_eq!(
            judge_directory(&meta(FileKind::Directory, 0o775, 0, 2), 0),
            Reason::WritableByOthers
        );
        assert_eq!(
            judge_directory(&meta(FileKind::Directory, 0o1777, 0, 2), 0),
            Reason::WritableByOthers
        );
        assert_eq!(judge_directory(&ok, 998), Reason::OwnerMismatch);
    }

    #[test]
    fn regular_file_rules() {
        assert_eq!(
            judge_regular(&meta(FileKind::Regular, 0o444, 0, 1), 0),
            Reason::None
        );
        assert_eq!(
            judge_regular(&meta(FileKind::Regular, 0o600, 0, 1), 0),
            Reason::None
        );
        assert_eq!(
            judge_regular(&meta(FileKind::Regular, 0o644, 998, 1), 0),
            Reason::OwnerMismatch
        );
        assert_eq!(
            judge_regular(&meta(FileKind::Regular, 0o664, 0, 1), 0),
            Reason::WritableByOthers
        );
        assert_eq!(
            judge_regular(&meta(FileKind::Regular, 0o646, 0, 1), 0),
            Reason::WritableByOthers
        );
        assert_eq!(
            judge_regular(&meta(FileKind::Regular, 0o444, 0, 2), 0),
            Reason::HardLinked
        );
        assert_eq!(
            judge_regular(&meta(FileKind::Fifo, 0o444, 0, 1), 0),
            Reason::UnexpectedFifo
        );
    }

    #[test]
    fn every_other_type_is_rejected_by_type() {
        assert_eq!(judge_kind(FileKind::Directory), Reason::UnexpectedDirectory);
        assert_eq!(judge_kind(FileKind::Fifo), Reason::UnexpectedFifo);
        assert_eq!(judge_kind(FileKind::Socket), Reason::UnexpectedSocket);
        assert_eq!(judge_kind(FileKind::CharDevice), Reason::UnexpectedDevice);
        assert_eq!(judge_kind(FileKind::BlockDevice), Reason::UnexpectedDevice);
        assert_eq!(judge_kind(FileKind::Unknown), Reason::UnexpectedType);
        assert_eq!(judge_kind(FileKind::Symlink), Reason::None);
        assert_eq!(judge_kind(FileKind::Regular), Reason::None);
    }

    #[test]
    fn data_entry_must_exist_and_not_be_a_symlink() {
        assert_eq!(judge_data_entry(None), Reason::DataEntryMissing);
        assert_eq!(
            judge_data_entry(Some(FileKind::Symlink)),
            Reason::DataEntryIsSymlink
        );
        assert_eq!(judge_data_entry(Some(FileKind::Directory)), Reason::None);
        assert_eq!(judge_data_entry(Some(FileKind::Regular)), Reason::None);
    }

    #[test]
    fn file_kind_from_mode() {
        assert_eq!(
            FileKind::from_mode(libc::S_IFLNK | 0o777),
            FileKind::Symlink
        );
        assert_eq!(
            FileKind::from_mode(libc::S_IFREG | 0o644),
            FileKind::Regular
        );
        assert_eq!(FileKind::from_mode(0), FileKind::Unknown);
    }

    #[test]
    fn mount_points_are_told_by_id_or_root() {
        let on = |id, is_root| Some(Mount { id, is_root });
        assert_eq!(is_mount_point(on(7, false), Some(7)), Some(false));
        assert_eq!(is_mount_point(on(8, false), Some(7)), Some(true));
        assert_eq!(is_mount_point(on(7, true), Some(7)), Some(true));
        assert_eq!(is_mount_point(None, Some(7)), None);
        assert_eq!(is_mount_point(on(7, false), None), None);
    }

    #[test]
    fn ancestors_follow_the_safe_path_rule() {
        let dir = |mode, uid| meta(FileKind::Directory, mode, uid, 2);
        let root_child = dir(0o755, 0);
        let user_child = dir(0o755, 998);
        assert_eq!(judge_ancestor(&dir(0o755, 0), &root_child, 0), None);
        assert_eq!(judge_ancestor(&dir(0o755, 5), &root_child, 5), None);
        assert!(judge_ancestor(&dir(0o755, 998), &root_child, 0).is_some());
        assert!(judge_ancestor(&dir(0o775, 0), &root_child, 0).is_some());
        assert!(judge_ancestor(&dir(0o757, 0), &root_child, 0).is_some());
        // Sticky and world-writable, as /tmp: only a child of a trusted owner is safe.
        assert_eq!(judge_ancestor(&dir(0o1777, 0), &root_child, 0), None);
        assert!(judge_ancestor(&dir(0o1777, 0), &user_child, 0).is_some());
        assert!(judge_ancestor(&dir(0o1777, 998), &root_child, 0).is_some());
    }
}
