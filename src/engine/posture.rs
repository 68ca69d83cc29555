//! Shields up's posture step on a flat (or symlink) directory: the locked posture, fail-closed
//! on a refusal, never a widening, what it locked recorded, the pins it took off put back.

use super::*;

impl Policy {
    /// Whether a lock of the posture or a reseal has something to change in `shown` (the
    /// directory the path shows): a reseal where the seal already holds for the bytes shown
    /// changes nothing, so a second "shields up" is a no-op, never a rewrite.
    pub(super) fn transition_needed(&self, shown: BorrowedFd<'_>) -> Result<bool, Error> {
        let locked =
            || sealing::is_locked(shown, self.layout.owner).context("examining the posture");
        if self.freeze.lock_posture && !locked()? {
            return Ok(true);
        }
        match (&self.layout.seal, self.freeze.reseal) {
            (Some(seal), true) => Ok(!sealing::holds(shown, &self.paths.dir, seal)?),
            _ => Ok(false),
        }
    }

    /// Shields up's posture step: the locked posture (directory the owner's, 0755; files the
    /// owner's, 0444, on fresh inodes) and a fresh seal.
    ///
    /// Judged first, as the posture will be. A refusal that the caller's privileges decide (a
    /// flag in the way without CAP_LINUX_IMMUTABLE to clear it) changes nothing. A refusal
    /// that the directory's contents decide fails closed: the posture is locked all the same
    /// (a planted entry must not veto shields up), nothing is sealed or pinned, and the report
    /// says `locked, not verified`. A file that the locked posture would make readable by
    /// someone who could not read it is refused and left as it is; a file that cannot be
    /// renewed loses its write bits in place. Pins taken off on the way are put back whenever
    /// the call does not finish.
    pub(super) fn transition(
        &self,
        dir: &OwnedFd,
        data: &Option<DataDir>,
        undo: &mut Undo,
    ) -> Result<Transition, Error> {
        if !self.transition_needed(dir.as_fd())? {
            return Ok(Transition::Unneeded);
        }
        let before = sys::fstat(dir.as_fd()).context("examining the directory")?;
        let mut scan = Scan::new(dir.as_fd(), scan_data(data), self.layout.owner, Mode::Check);
        scan.allow_missing = self.layout.allow_missing;
        scan.posture_to_come = self.freeze.lock_posture;
        let mut entries = self.judge_all(&mut scan, Action::Checked, 0)?;
        drop(scan);
        let regular = |e: &Entry| e.kind == FileKind::Regular && !e.is_directory_itself();
        if self.freeze.lock_posture {
            for entry in entries
                .iter_mut()
                .filter(|e| regular(e) && !e.is_rejected())
            {
                let name = CString::new(entry.name.clone()).expect("entry names hold no NUL");
                let meta = sys::lstatat(dir.as_fd(), &name).map_err(|e| {
                    Error::io(format!("examining \"{}\"", escape_bytes(&entry.name)), e)
                })?;
                if rules::would_widen_access(&meta, &before) {
                    entry.action = Action::Rejected;
                    entry.reason = Reason::WouldWidenAccess;
                }
            }
        }
        let rejected = entries.iter().any(Entry::is_rejected);
        if rejected && !self.freeze.lock_posture {
            // A reseal alone changes nothing on a refusal: there is no posture to fail closed to.
            return self.fail_closed(dir.as_fd(), data, entries, undo);
        }
        // Flags in the way (a directory pinned before, or set by hand): cleared where this
        // call may set them again, else nothing changes and the report says why.
        let mut flagged = Vec::new();
        if immutable::is_pinned(dir.as_fd()).ok().flatten() == Some(true) {
            flagged.push(None);
        }
        for entry in entries.iter().filter(|e| regular(e)) {
            let name = CString::new(entry.name.clone()).expect("entry names hold no NUL");
            let Ok(meta) = sys::lstatat(dir.as_fd(), &name) else {
                continue;
            };
            let Ok(file) = scan::open_regular(dir.as_fd(), &name, &meta) else {
                continue;
            };
            if immutable::is_pinned(file.as_fd()).ok().flatten() == Some(true) {
                flagged.push(Some((name, file)));
            }
        }
        if !flagged.is_empty() {
            if !sys::has_effective_capability(sys::CAP_LINUX_IMMUTABLE) {
                let mut report = self.report(
                    Operation::Freeze,
                    Status::NoCapability,
                    Layers::default(),
                    Vec::new(),
                    entries,
                    data,
                );
                report.set_note(
                    "posture and seal unchanged: a file or the directory carries the immutable flag and CAP_LINUX_IMMUTABLE is missing to clear it",
                );
                report.set_posture(sealing::is_locked(dir.as_fd(), self.layout.owner).ok());
                return Ok(Transition::Stopped(Box::new(report)));
            }
            for (name, file) in flagged.iter().flatten() {
                immutable::unpin_inode(file.as_fd()).map_err(|e| {
                    Error::io(
                        format!("unpinning \"{}\"", escape_bytes(name.to_bytes())),
                        e,
                    )
                })?;
                undo.file_cleared(name);
            }
            if flagged.iter().any(Option::is_none) {
                immutable::unpin_inode(dir.as_fd()).context("unpinning the directory")?;
                undo.directory_cleared();
            }
            killpoint::step();
        }
        let _ = renew::remove_leftovers(dir.as_fd());
        let locked = renew::Posture {
            uid: self.layout.owner,
            gid: self.layout.owner,
            mode: sealing::LOCKED_FILE_MODE,
        };
        let mut renewed = Vec::new();
        let mut recorded = None;
        if self.freeze.lock_posture {
            let previous = pin::locked::load(&self.paths.dir).ok().flatten();
            // With no record of nc-harden's, a directory already in the locked posture was
            // locked by another tool (NemoClaw's guards): what it locked is what is found so.
            let inherited = previous.is_none()
                && before.uid == self.layout.owner
                && before.mode == sealing::LOCKED_DIR_MODE;
            let start = self.locked_files(dir.as_fd())?;
            sys::files::set_owner_mode(
                dir.as_fd(),
                self.layout.owner,
                self.layout.owner,
                sealing::LOCKED_DIR_MODE,
            )
            .map_err(|e| {
                let needs = if e.raw_os_error() == Some(libc::EPERM) {
                    " (it takes root, or CAP_CHOWN and CAP_FOWNER: nothing was changed)"
                } else {
                    ""
                };
                Error::io(format!("locking the directory's posture{needs}"), e)
                    .at_bytes(&self.paths.dir)
            })?;
            killpoint::step();
            let skip = |name: &std::ffi::CStr| {
                entries
                    .iter()
                    .any(|e| e.name == name.to_bytes() && e.is_rejected())
            };
            renewed = renew::renew_all(
                dir.as_fd(),
                self.layout.owner,
                Some(locked),
                renew::Which::Every,
                &skip,
            )
            .context("locking the files' posture")?;
            // What could not be renewed (it kept changing, or is refused) loses its write bits
            // in place: the sandbox user keeps no write access to a name of the directory.
            self.strip_write_in_place(dir.as_fd())?;
            killpoint::step();
            recorded =
                Some(self.record_locked(dir.as_fd(), &start, previous.as_ref(), inherited)?);
        }
        if rejected {
            return self.fail_closed(dir.as_fd(), data, entries, undo);
        }
        if let (true, Some(seal)) = (self.freeze.reseal, &self.layout.seal) {
            let attrs = self
                .freeze
                .lock_posture
                .then_some((locked.uid, locked.gid, locked.mode));
            let fallback = (locked.uid, locked.gid, locked.mode);
            // The seal's fresh inode joins the record before it takes the name, so that a
            // kill between the two never leaves a locked seal that shields down would not
            // hand back.
            let mut on_fresh = |fd: BorrowedFd<'_>| -> std::io::Result<()> {
                let Some(set) = recorded.as_mut() else {
                    return Ok(());
                };
                let meta = sys::fstat(fd)?;
                set.files.push(pin::locked::Identity::of(fd, &meta)?);
                pin::locked::store(&self.paths.dir, set)
            };
            let written = sealing::write(
                dir.as_fd(),
                &self.paths.dir,
                seal,
                attrs,
                fallback,
                &mut on_fresh,
            )?;
            if let sealing::SealWrite::Rejected(reason) = written {
                match entries.iter_mut().find(|e| e.name == *seal) {
                    Some(e) => {
                        e.action = Action::Rejected;
                        e.reason = reason;
                    }
                    None => entries.push(Entry::rejected(seal, FileKind::Unknown, reason, 0)),
                }
                return self.fail_closed(dir.as_fd(), data, entries, undo);
            }
        }
        Ok(Transition::Done(renewed))
    }

    /// The answer of a transition whose layout is rejected: NC_INVALID, the pins found put back; with the
    /// posture locked (fail-closed), the report says `locked, not verified`.
    fn fail_closed(
        &self,
        dir: BorrowedFd<'_>,
        data: &Option<DataDir>,
        entries: Vec<Entry>,
        undo: &mut Undo,
    ) -> Result<Transition, Error> {
        let restored = restore_pins(undo, dir)?;
        let mut report = self.report(
            Operation::Freeze,
            Status::Invalid,
            Layers::default(),
            Vec::new(),
            entries,
            data,
        );
        if self.freeze.lock_posture {
            report.set_posture(sealing::is_locked(dir, self.layout.owner).ok());
            report.set_fail_closed(restored);
        }
        Ok(Transition::Stopped(Box::new(report)))
    }

    /// Records what shields up locked in `dir` (see `pin::locked`): the directory, and each
    /// regular file now in exactly the locked posture that this call brought there, or that
    /// was found so at `start` and locked before (by nc-harden's `previous` record, or, with
    /// `inherited`, by another tool). A file found locked that no one recorded (moved in
    /// while the shields were down) is not recorded: shields down leaves it as it is.
    pub(super) fn record_locked(
        &self,
        dir: BorrowedFd<'_>,
        start: &[(Vec<u8>, pin::locked::Identity)],
        previous: Option<&pin::locked::LockedSet>,
        inherited: bool,
    ) -> Result<pin::locked::LockedSet, Error> {
        let examined = sys::fstat(dir).context("examining the directory")?;
        let mut set = pin::locked::LockedSet {
            directory: Some(
                pin::locked::Identity::of(dir, &examined).context("examining the directory")?,
            ),
            files: Vec::new(),
        };
        for (name, id) in self.locked_files(dir)? {
            let ours = match start.iter().find(|(n, _)| *n == name) {
                None => true,
                Some((_, old)) => inherited || previous.is_some_and(|p| p.holds_file(old)),
            };
            if ours {
                set.files.push(id);
            }
        }
        pin::locked::store(&self.paths.dir, &set)
            .context("recording what shields up locked (in nc-harden's state directory)")?;
        Ok(set)
    }

    /// The regular files of `dir` in exactly the locked posture (the owner's, 0444, one link,
    /// on the directory's device), with their identities.
    pub(super) fn locked_files(
        &self,
        dir: BorrowedFd<'_>,
    ) -> Result<Vec<(Vec<u8>, pin::locked::Identity)>, Error> {
        let dev = sys::fstat(dir).context("examining the directory")?.dev;
        let mut found = Vec::new();
        for_each_entry(dir, |name, d_type| {
            if !matches!(d_type, FileKind::Regular | FileKind::Unknown) {
                return Ok(());
            }
            let Ok(meta) = sys::lstatat(dir, name) else {
                return Ok(());
            };
            if !sealing::in_locked_posture(&meta, self.layout.owner, dev) {
                return Ok(());
            }
            let Ok(fd) = scan::open_regular(dir, name, &meta) else {
                return Ok(());
            };
            let id = pin::locked::Identity::of(fd.as_fd(), &meta).map_err(|e| {
                Error::io(
                    format!("examining \"{}\"", escape_bytes(name.to_bytes())),
                    e,
                )
            })?;
            found.push((name.to_bytes().to_vec(), id));
            Ok(())
        })?;
        Ok(found)
    }

    /// Takes every write bit off the regular files of `dir` that still have one after the
    /// posture was locked (a file refused, or one that kept changing while it was copied),
    /// and gives them to the owner: never a widening (read bits are kept as they are), and
    /// the sandbox user keeps no write access. A root-owned file is left alone when it is
    /// hard-linked (its other names are not this directory's to change); one the sandbox
    /// user owns is not, whatever its links: a link it planted must not keep its write
    /// access.
    pub(super) fn strip_write_in_place(&self, dir: BorrowedFd<'_>) -> Result<(), Error> {
        let mut names = Vec::new();
        for_each_entry(dir, |name, d_type| {
            if matches!(d_type, FileKind::Regular | FileKind::Unknown) {
                names.push(name.to_owned());
            }
            Ok(())
        })?;
        for name in names {
            let Ok(meta) = sys::lstatat(dir, &name) else {
                continue;
            };
            if meta.kind != FileKind::Regular
                || (meta.nlink != 1 && meta.uid == 0)
                || meta.mount.is_some_and(|m| m.is_root)
                || (meta.uid == self.layout.owner && meta.mode & 0o222 == 0)
            {
                continue;
            }
            if meta.uid == 0 && meta.mode & 0o022 == 0 {
                continue;
            }
            let Ok(fd) = scan::open_regular(dir, &name, &meta) else {
                continue;
            };
            sys::files::change_owner_mode(fd.as_fd(), None, None, Some(meta.mode & !0o7222))
                .and_then(|()| {
                    sys::files::change_owner_mode(
                        fd.as_fd(),
                        Some(self.layout.owner),
                        Some(self.layout.owner),
                        None,
                    )
                })
                .map_err(|e| {
                    Error::io(
                        format!("locking \"{}\" in place", escape_bytes(name.to_bytes())),
                        e,
                    )
                })?;
        }
        Ok(())
    }
}

/// What shields up's posture step came to.
pub(super) enum Transition {
    /// Nothing to change: the posture and the seal already hold.
    Unneeded,
    /// Locked (and resealed where asked): the names renewed onto fresh inodes.
    Done(Vec<renew::Renewed>),
    /// Stopped short (entries rejected, or a capability missing): the report to answer with
    /// (the posture left locked where it was asked for).
    Stopped(Box<Report>),
}

/// Puts back the pins the call took off (see `Undo::restore_cleared`), and says so.
fn restore_pins(undo: &mut Undo, dir: BorrowedFd<'_>) -> Result<&'static str, Error> {
    let any = undo.cleared_any();
    undo.restore_cleared(dir)?;
    Ok(if any {
        "the pins found before the call were put back"
    } else {
        ""
    })
}
