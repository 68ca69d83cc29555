//! Reading a directory with `getdents64(2)` into one fixed buffer: no allocation per entry,
//! however large the directory.

#![forbid(unsafe_code)]

use std::ffi::CStr;
use std::io;
use std::os::fd::BorrowedFd;

use crate::inode::FileKind;

/// Large enough that a directory of 100,000 entries takes a few hundred calls.
const BUF_LEN: usize = 32 * 1024;

/// One entry, borrowed from the reader's buffer until the next call.
pub struct DirEntry<'a> {
    pub name: &'a CStr,
    /// `d_type` as getdents reports it; `Unknown` where the filesystem did not say (ask
    /// `fstatat`).
    pub d_type: FileKind,
}

/// A `getdents64` reader over a borrowed directory fd. `.` and `..` are skipped.
pub struct DirEntries<'fd> {
    dir: BorrowedFd<'fd>,
    /// The records of the last getdents, never zeroed beforehand (`sys::getdents`).
    buf: Vec<u8>,
    pos: usize,
}

impl<'fd> DirEntries<'fd> {
    /// Reads from the directory's current offset (callers open or rewind it first).
    pub fn new(dir: BorrowedFd<'fd>) -> Self {
        Self {
            dir,
            buf: Vec::with_capacity(BUF_LEN),
            pos: 0,
        }
    }

    /// Starts again from the first entry, reusing the buffer.
    pub fn rewind(&mut self) -> io::Result<()> {
        super::rewind(self.dir)?;
        self.buf.clear();
        self.pos = 0;
        Ok(())
    }

    /// The next entry, `None` at the end.
    pub fn next_entry(&mut self) -> io::Result<Option<DirEntry<'_>>> {
        let (name_start, record_end, d_type) = loop {
            if self.pos >= self.buf.len() {
                super::getdents(self.dir, &mut self.buf)?;
                self.pos = 0;
                if self.buf.is_empty() {
                    return Ok(None);
                }
            }
            let (reclen, d_type) = parse_header(&self.buf[self.pos..])?;
            let name_start = self.pos + NAME_OFFSET;
            let record_end = self.pos + reclen;
            self.pos = record_end;
            // "." and ".." by their first bytes, without a scan for the NUL.
            match self.buf[name_start..record_end] {
                [b'.', 0, ..] | [b'.', b'.', 0, ..] => continue,
                _ => break (name_start, record_end, d_type),
            }
        };
        // One scan for the NUL (memchr), within the record.
        let name =
            CStr::from_bytes_until_nul(&self.buf[name_start..record_end]).map_err(|_| corrupt())?;
        Ok(Some(DirEntry {
            name,
            d_type: FileKind::from_d_type(d_type),
        }))
    }
}

fn corrupt() -> io::Error {
    io::Error::from_raw_os_error(libc::EIO)
}

/// Offset of `d_name`, in `struct linux_dirent64 { u64 d_ino; i64 d_off; u16 d_reclen;
/// u8 d_type; char d_name[]; }`.
const NAME_OFFSET: usize = 19;

/// Returns (record length, d_type) of the record at the start of `rec`.
fn parse_header(rec: &[u8]) -> io::Result<(usize, u8)> {
    if rec.len() < NAME_OFFSET + 1 {
        return Err(corrupt());
    }
    let reclen = u16::from_ne_bytes([rec[16], rec[17]]) as usize;
    if reclen <= NAME_OFFSET || reclen > rec.len() {
        return Err(corrupt());
    }
    Ok((reclen, rec[18]))
}
