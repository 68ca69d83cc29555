//! The status of a call: its return value in the C ABI and the CLI's exit code. Its own module
//! so that `error` and `report` both name it without naming each other.

#![forbid(unsafe_code)]

crate::contract_table! {
    /// Return value of every call, and the exit code of the CLI. Never renumbered.
    pub enum Status in C enum nc_status, derive(Hash) {
        /// Valid, and pinned as asked; every flag read back.
        Ok = 0 => NC_OK,
        /// Valid; directory pinned, but something the policy asks to freeze was not.
        Partial = 1 => NC_PARTIAL,
        /// Valid; nothing pinned: the needed capability is missing (EPERM).
        NoCapability = 2 => NC_NO_CAPABILITY,
        /// Valid; nothing pinned: the filesystem has no immutable flag.
        Unsupported = 3 => NC_UNSUPPORTED,
        /// nc_verify only: valid but not pinned.
        NotFrozen = 4 => NC_NOT_FROZEN,
        /// The layout breaks the policy; nothing was left changed.
        Invalid = 10 => NC_INVALID,
        /// A component of dir or data_dir is a symlink or not a directory.
        UnsafePath = 11 => NC_UNSAFE_PATH,
        /// dir or data_dir does not exist.
        NotFound = 12 => NC_NOT_FOUND,
        /// NULL, empty, relative, not normalized, too long, overlapping, bad options.
        BadArgument = 20 => NC_BAD_ARGUMENT,
        /// An unexpected OS error (errno in the report).
        IoError = 21 => NC_IO_ERROR,
        /// A bug (a caught panic); never seen in a correct build.
        Internal = 70 => NC_INTERNAL,
    }
}

impl Status {
    /// A freeze that found the layout valid but could not pin all it was asked to (1, 2,
    /// 3): what the CLI's `--allow-degraded` tolerates. NC_NOT_FROZEN is a verify's answer.
    pub fn is_degraded(self) -> bool {
        matches!(
            self,
            Status::Partial | Status::NoCapability | Status::Unsupported
        )
    }
}
