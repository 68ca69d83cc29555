//! Errors that stop a call before there is a verdict on the entries. Every one has a kind,
//! which maps to one status of the contract; a call that got as far as judging entries
//! returns a `Report`.
//!
//! An error carries what was being done (a chain of frames, outermost first: each
//! `.context(..)` adds one), the path it concerns (`.at(..)`) and what the call needs that it
//! lacks (`.needs(..)`), as fields; its text is the bare error's with those added around it.

#![forbid(unsafe_code)]

use std::io;
use std::path::{Path, PathBuf};

use crate::escape::escape_bytes;
use crate::status::Status;

/// What went wrong, as a caller branches on it: each kind is one status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// NULL, empty, relative, not normalized, too long, overlapping, bad options.
    BadArgument,
    /// `dir` or `data_dir` (or one of their components) does not exist.
    NotFound,
    /// A component is a symlink or not a directory.
    UnsafePath,
    /// An unexpected OS error.
    Io,
}

impl ErrorKind {
    pub fn status(self) -> Status {
        match self {
            ErrorKind::BadArgument => Status::BadArgument,
            ErrorKind::NotFound => Status::NotFound,
            ErrorKind::UnsafePath => Status::UnsafePath,
            ErrorKind::Io => Status::IoError,
        }
    }
}

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
    /// One of the errors above with its context: built by `.context(..)`, `.at(..)` and
    /// `.needs(..)`, read through `kind()`, `frames()`, `path()` and `needed()`.
    #[error("{0}")]
    Context(Box<Contextual>),
}

/// An error with what was being done around it, the path it concerns and what is needed.
#[derive(Debug)]
pub struct Contextual {
    /// What was being done, outermost first.
    frames: Vec<String>,
    path: Option<PathBuf>,
    needs: Option<String>,
    /// The bare error (never itself a `Context`).
    error: Error,
}

impl std::fmt::Display for Contextual {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for frame in &self.frames {
            write!(f, "{frame}: ")?;
        }
        write!(f, "{}", self.error)?;
        match (&self.path, &self.needs) {
            (None, None) => Ok(()),
            (Some(path), None) => write!(f, " [path {}]", quoted(path)),
            (None, Some(needs)) => write!(f, " [needs {needs}]"),
            (Some(path), Some(needs)) => {
                write!(f, " [path {}; needs {needs}]", quoted(path))
            }
        }
    }
}

/// A path as a log line can carry it: quoted, its control and non-UTF-8 bytes escaped.
fn quoted(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    format!("\"{}\"", escape_bytes(path.as_os_str().as_bytes()))
}

impl Error {
    /// The bare error under every frame.
    fn bare(&self) -> &Error {
        match self {
            Error::Context(c) => &c.error,
            other => other,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self.bare() {
            Error::BadArgument(_) => ErrorKind::BadArgument,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::UnsafePath { .. } => ErrorKind::UnsafePath,
            Error::Io { .. } | Error::Context(_) => ErrorKind::Io,
        }
    }

    pub fn status(&self) -> Status {
        self.kind().status()
    }

    /// The saved errno, 0 where there is none.
    pub fn errno(&self) -> i32 {
        match self.bare() {
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

    /// What was being done, outermost first (empty for a bare error).
    pub fn frames(&self) -> &[String] {
        match self {
            Error::Context(c) => &c.frames,
            _ => &[],
        }
    }

    /// The path the error concerns, where one was given.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Error::Context(c) => c.path.as_deref(),
            _ => None,
        }
    }

    /// What the call needs that it lacked (root, a capability), where that is known.
    pub fn needed(&self) -> Option<&str> {
        match self {
            Error::Context(c) => c.needs.as_deref(),
            _ => None,
        }
    }

    fn contextual(self) -> Box<Contextual> {
        match self {
            Error::Context(c) => c,
            error => Box::new(Contextual {
                frames: Vec::new(),
                path: None,
                needs: None,
                error,
            }),
        }
    }

    /// Adds a frame, outside those already there: what was being done when this happened.
    pub fn context(self, what: impl Into<String>) -> Self {
        let mut c = self.contextual();
        c.frames.insert(0, what.into());
        Error::Context(c)
    }

    /// The path the error concerns. The first one given stays: it is the closest to the
    /// failing call.
    pub fn at(self, path: impl AsRef<Path>) -> Self {
        let mut c = self.contextual();
        c.path.get_or_insert_with(|| path.as_ref().to_path_buf());
        Error::Context(c)
    }

    /// The same, for a path held as bytes.
    pub(crate) fn at_bytes(self, path: &[u8]) -> Self {
        use std::os::unix::ffi::OsStrExt;
        self.at(std::ffi::OsStr::from_bytes(path))
    }

    /// What the call needs that it lacked ("root, or CAP_CHOWN and CAP_FOWNER").
    pub fn needs(self, what: impl Into<String>) -> Self {
        let mut c = self.contextual();
        c.needs.get_or_insert_with(|| what.into());
        Error::Context(c)
    }

    /// For an EPERM or EACCES: what the call needs, else the error unchanged.
    pub(crate) fn needs_on_denied(self, what: impl Into<String>) -> Self {
        if matches!(self.errno(), libc::EPERM | libc::EACCES) {
            self.needs(what)
        } else {
            self
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

/// `.context("opening X")`: on an `io::Result`, the one way an OS error becomes the crate's
/// `Error::Io`, with what was being done; on a `Result<_, Error>`, one more frame around it.
pub(crate) trait Context<T> {
    fn context(self, what: &str) -> Result<T, Error>;
}

impl<T> Context<T> for io::Result<T> {
    fn context(self, what: &str) -> Result<T, Error> {
        self.map_err(|e| Error::io(what, e))
    }
}

impl<T> Context<T> for Result<T, Error> {
    fn context(self, what: &str) -> Result<T, Error> {
        self.map_err(|e| e.context(what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied() -> Error {
        Error::io(
            "locking the parent",
            io::Error::from_raw_os_error(libc::EPERM),
        )
    }

    #[test]
    fn context_adds_frames_outermost_first_and_keeps_the_kind_and_errno() {
        let e = denied().context("locking the top").context("shields up");
        assert_eq!(e.frames(), ["shields up", "locking the top"]);
        assert_eq!(e.kind(), ErrorKind::Io);
        assert_eq!(e.status(), Status::IoError);
        assert_eq!(e.errno(), libc::EPERM);
        assert!(e
            .to_string()
            .starts_with("shields up: locking the top: locking the parent: "));
    }

    #[test]
    fn path_and_needs_add_to_the_text_without_rewording_it() {
        let bare = denied().to_string();
        let e = denied()
            .at("/sandbox")
            .at("/elsewhere")
            .needs_on_denied("root");
        assert_eq!(e.path(), Some(Path::new("/sandbox")));
        assert_eq!(e.needed(), Some("root"));
        assert_eq!(
            e.to_string(),
            format!("{bare} [path \"/sandbox\"; needs root]")
        );
        let bad = Error::bad("dir is NULL").at("/x");
        assert_eq!(bad.kind(), ErrorKind::BadArgument);
        assert!(bad.to_string().starts_with("bad argument: dir is NULL"));
        assert_eq!(bad.needs_on_denied("root").needed(), None);
    }

    #[test]
    fn a_path_is_escaped() {
        let e = denied().at_bytes(b"/a\nb\xff");
        assert!(!e.to_string().contains('\n'), "{e}");
    }
}
