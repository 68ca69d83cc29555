//! What the kernel says of an inode, as plain data: the vocabulary shared by `sys`, which
//! reads it, and `rules`, which judges it. Nothing here decides anything.

#![forbid(unsafe_code)]

crate::contract_table! {
    /// The type of a directory entry, from `st_mode` (or `d_type` when that is all we read).
    pub enum FileKind in C enum nc_entry_kind {
        Directory = 1 => NC_ENTRY_KIND_DIRECTORY "directory",
        Symlink = 2 => NC_ENTRY_KIND_SYMLINK "symlink",
        Regular = 3 => NC_ENTRY_KIND_REGULAR "regular",
        Fifo = 4 => NC_ENTRY_KIND_FIFO "fifo",
        Socket = 5 => NC_ENTRY_KIND_SOCKET "socket",
        CharDevice = 6 => NC_ENTRY_KIND_CHAR_DEVICE "char_device",
        BlockDevice = 7 => NC_ENTRY_KIND_BLOCK_DEVICE "block_device",
        Unknown = 8 => NC_ENTRY_KIND_UNKNOWN "unknown",
    }
}

impl FileKind {
    pub fn from_mode(mode: u32) -> Self {
        match mode & libc::S_IFMT {
            libc::S_IFDIR => Self::Directory,
            libc::S_IFLNK => Self::Symlink,
            libc::S_IFREG => Self::Regular,
            libc::S_IFIFO => Self::Fifo,
            libc::S_IFSOCK => Self::Socket,
            libc::S_IFCHR => Self::CharDevice,
            libc::S_IFBLK => Self::BlockDevice,
            _ => Self::Unknown,
        }
    }

    /// The type `getdents` reports in `d_type`; `Unknown` where the filesystem did not say.
    pub fn from_d_type(d_type: u8) -> Self {
        match d_type {
            libc::DT_FIFO => Self::Fifo,
            libc::DT_CHR => Self::CharDevice,
            libc::DT_DIR => Self::Directory,
            libc::DT_BLK => Self::BlockDevice,
            libc::DT_REG => Self::Regular,
            libc::DT_LNK => Self::Symlink,
            libc::DT_SOCK => Self::Socket,
            _ => Self::Unknown,
        }
    }
}

/// What `stat` says of an inode, reduced to what the policy looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    pub kind: FileKind,
    /// Permission bits only (`st_mode & 07777`).
    pub mode: u32,
    pub uid: u32,
    pub nlink: u64,
    pub dev: u64,
    pub ino: u64,
    pub gid: u32,
    pub size: u64,
    /// `st_ctime` in nanoseconds: changes with every entry added, removed or renamed.
    pub changed: i128,
    /// `st_mtime` and `st_atime` as (seconds, nanoseconds), for a copy to carry them.
    pub modified: (i64, i64),
    pub accessed: (i64, i64),
    /// The mount the inode was seen on, where the kernel said (statx, Linux 5.8+).
    pub mount: Option<Mount>,
    /// The birth time (`STATX_BTIME`) as one number, seconds << 30 | nanoseconds; 0 where the
    /// kernel did not say (fstat, or a filesystem that keeps none). With the inode number it
    /// names one inode for good where the filesystem keeps no generation (overlayfs, tmpfs):
    /// a number freed and given to a new inode comes with another birth time.
    pub born: u64,
}

/// Where an inode sits in the mount tree, as statx reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mount {
    /// The mount id (`STATX_MNT_ID`).
    pub id: u64,
    /// The inode is the root of that mount (`STATX_ATTR_MOUNT_ROOT`).
    pub is_root: bool,
}

impl Meta {
    pub fn same_inode(&self, other: &Meta) -> bool {
        self.dev == other.dev && self.ino == other.ino
    }
}
