//! Errors that stop a call before there is a verdict on the entries. Every one maps to one
//! status of the contract; a call that got as far as judging entries returns a `Report`.

#![forbid(unsafe_code)]

use std::io;

use crate::status::Status;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// NULL, empty, relative, not normalized, too long, overlapping, bad options.
    #[error("bad argument: {0}")]
    BadArgument(String),
    /// `dir` or `data_dir` (or one of their components) does not exist.
    #[error("{path}: does not exist")]
    NotFound { path: String },
    /// A component is a symlink or not a directory.
    #[error("{path}: unsafe path: {why}")]
    UnsafePath { path: String, why: String },
    /// An unexpected OS error.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
}

impl Error {
    pub fn status(&self) -> Status {
        match self {
            Error::BadArgument(_) => Status::BadArgument,
            Error::NotFound { .. } => Status::NotFound,
            Error::UnsafePath { .. } => Status::UnsafePath,
            Error::Io { .. } => Status::IoError,
        }
    }

    /// The saved errno, 0 where there is none.
    pub fn errno(&self) -> i32 {
        match self {
            // A bounded wait that ran out carries words of its own, and is EAGAIN.
            Error::Io { source, .. } => {
                source
                    .raw_os_error()
                    .unwrap_or(if source.kind() == io::ErrorKind::WouldBlock {
                        libc::EAGAIN
                    } else {
                        0
                    })
            }
            _ => 0,
        }
    }

    pub(crate) fn bad(why: impl Into<String>) -> Self {
        Error::BadArgument(why.into())
    }

    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

/// `.context("opening X")` on an `io::Result`: the one way an OS error becomes the crate's
/// `Error::Io`, with what was being done.
pub(crate) trait Context<T> {
    fn context(self, what: &str) -> Result<T, Error>;
}

impl<T> Context<T> for io::Result<T> {
    fn context(self, what: &str) -> Result<T, Error> {
        self.map_err(|e| Error::io(what, e))
    }
}
