//! The status of a call: its return value in the C ABI and the CLI's exit code. Its own module
//! so that `error` and `report` both name it without naming each other.

#![forbid(unsafe_code)]

/// Return value of every call and the CLI's exit code. Never renumbered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Status {
    Ok = 0,
    Partial = 1,
    NoCapability = 2,
    Unsupported = 3,
    NotFrozen = 4,
    Invalid = 10,
    UnsafePath = 11,
    NotFound = 12,
    BadArgument = 20,
    IoError = 21,
    Internal = 70,
}

impl Status {
    /// Every status, in the contract's order: what `from_code` (and through it
    /// `nc_status_name`) and the CLI's help are derived from.
    pub const fn all() -> [Status; 11] {
        [
            Status::Ok,
            Status::Partial,
            Status::NoCapability,
            Status::Unsupported,
            Status::NotFrozen,
            Status::Invalid,
            Status::UnsafePath,
            Status::NotFound,
            Status::BadArgument,
            Status::IoError,
            Status::Internal,
        ]
    }

    pub fn code(self) -> u32 {
        self as u32
    }

    pub fn from_code(code: u32) -> Option<Status> {
        Status::all().into_iter().find(|s| s.code() == code)
    }

    /// The contract's name, e.g. `"NC_INVALID"`.
    pub fn name(self) -> &'static str {
        self.c_name().to_str().unwrap_or("NC_UNKNOWN")
    }

    /// The same name, NUL-terminated for the C ABI.
    pub fn c_name(self) -> &'static std::ffi::CStr {
        match self {
            Status::Ok => c"NC_OK",
            Status::Partial => c"NC_PARTIAL",
            Status::NoCapability => c"NC_NO_CAPABILITY",
            Status::Unsupported => c"NC_UNSUPPORTED",
            Status::NotFrozen => c"NC_NOT_FROZEN",
            Status::Invalid => c"NC_INVALID",
            Status::UnsafePath => c"NC_UNSAFE_PATH",
            Status::NotFound => c"NC_NOT_FOUND",
            Status::BadArgument => c"NC_BAD_ARGUMENT",
            Status::IoError => c"NC_IO_ERROR",
            Status::Internal => c"NC_INTERNAL",
        }
    }

    /// A freeze that found the layout valid but could not pin all it was asked to (1, 2,
    /// 3): what the CLI's `--allow-degraded` tolerates. NC_NOT_FROZEN is a verify's answer.
    pub fn is_degraded(self) -> bool {
        matches!(
            self,
            Status::Partial | Status::NoCapability | Status::Unsupported
        )
    }
}
