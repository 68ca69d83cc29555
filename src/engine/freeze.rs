//! The freeze: renew, pin the directory, judge (and copy, for the mount layer) every
//! entry, attach the fresh directory, check from outside; one undo taken back on any error
//! or panic.

use super::posture::Transition;
use super::*;

impl Policy {
    /// Pins first, validates what is pinned, reads every flag back. On a failed validation
    /// every flag and mount this call added is taken back and the report says NC_INVALID.
    /// Calls on the same path serialize; one that was killed half-way is converged on.
    pub fn validate_and_freeze(&self) -> Result<Report, Error> {
        #[cfg(feature = "__panic-test")]
        if self.paths.dir.ends_with(b"/nc-harden-panic-test") {
            panic!("forced by the panic-test feature");
        }
        let _lock = self.lock(LockMode::Exclusive)?;
        let (dir, mut checked) = self.resolve_dir_checked()?;
        let data = self.resolve_data_dir_after(&dir, &mut checked)?;
        self.freeze(&dir, &data)
    }

    /// The freeze itself: renew, pin the directory, judge (and copy, for the mount layer)
    /// every entry, attach the fresh directory, check from outside.
    ///
    /// The one rollback path: whatever error stops the freeze, what it added is taken back
    /// here, and a panic takes it back too (`Pending` rolls back when dropped unfinished);
    /// an invalid layout is an answer, not an error: `pin_and_judge` takes it back itself
    /// and reports what is left.
    pub(super) fn freeze(&self, dir: &OwnedFd, data: &Option<DataDir>) -> Result<Report, Error> {
        let mut pending = undo::Pending::new(dir.as_fd(), &self.paths.dir);
        match self.pin_and_judge(dir, data, pending.undo(), Renewal::WhenFound) {
            Ok(report) => {
                pending.finish();
                Ok(report)
            }
            Err(e) => {
                // Nothing half-changed; a rollback that fails says why instead.
                pending.roll_back()?;
                Err(e)
            }
        }
    }

    pub(super) fn pin_and_judge(
        &self,
        dir: &OwnedFd,
        data: &Option<DataDir>,
        undo: &mut Undo,
        renewal: Renewal,
    ) -> Result<Report, Error> {
        let ours = match mount::state(
            &self.paths.dir,
            dir.as_fd(),
            mount::MountSupport::probe(self.freeze.mount_api).our_mounts(),
        )? {
            MountState::Covered => return Err(mount::covered(&self.paths.dir)),
            MountState::Ours { read_only, .. } => {
                // Remounted read-write by someone with CAP_SYS_ADMIN: read-only again.
                if !read_only {
                    mount::make_read_only(dir.as_fd())?;
                }
                true
            }
            MountState::Absent => false,
        };
        // Over nc-harden's own mount, what lies beneath may have been changed since through a
        // descriptor held from before: a transition made there would seal and pin those
        // bytes. Only shields down (unfreeze) and up again may change the posture.
        if ours
            && (self.freeze.lock_posture || self.freeze.reseal)
            && self.transition_needed(dir.as_fd())?
        {
            return Err(Error::UnsafePath {
                path: escape_bytes(&self.paths.dir),
                why: "pinned by nc-harden's read-only mount in another posture or seal; what lies \
                      beneath is not to be trusted: unfreeze (shields down) first; nothing changed"
                    .into(),
            });
        }
        let mut renewed = Vec::new();
        if self.freeze.lock_posture || self.freeze.reseal {
            match self.transition(dir, data, undo)? {
                Transition::Unneeded => {}
                Transition::Done(names) => renewed = names,
                Transition::Stopped(report) => return Ok(*report),
            }
        }
        let wants_flags = self.freeze.strategy != Strategy::Mount;
        let legacy = self.freeze.mount_api.forces_legacy();
        let may_flag = wants_flags && sys::has_effective_capability(sys::CAP_LINUX_IMMUTABLE);
        // Fresh inodes, in place, where the flags (or the legacy bind) will pin the files
        // themselves; the fresh directory of the mount layer makes its own.
        let flagged_before = immutable::is_pinned(dir.as_fd()).ok().flatten() == Some(true);
        let in_place = !ours && !flagged_before;
        // Where the files' own flags pin them and shields up recorded nothing, the pass that
        // pins them asks first whether a writer holds one: nobody, the common case, and no
        // file needs a fresh inode (one pass of leases fewer). One that is held, or cannot be
        // told, is left unpinned, and the freeze starts again renewing first; a directory
        // flagged before the call (a killed freeze's) is taken off for that and put back
        // should the call not finish.
        let may_defer = renewal == Renewal::WhenFound
            && may_flag
            && !legacy
            && !ours
            && renewed.is_empty()
            && !self.freeze.lock_posture
            && !self.freeze.reseal;
        let legacy_mount = legacy && self.freeze.strategy != Strategy::Immutable;
        // What shields up recorded: its files are followed onto their fresh inodes, so they
        // are renewed first, never deferred.
        let record = match (may_flag || legacy_mount) && !ours && renewed.is_empty() {
            true => pin::locked::load(&self.paths.dir).ok().flatten(),
            false => None,
        };
        let deferred = may_defer && record.is_none();
        if in_place && renewed.is_empty() {
            // A killed renewal's temporary files go first; a directory we may not write has
            // none of ours.
            let _ = renew::remove_leftovers(dir.as_fd());
            if (may_flag || legacy_mount) && !deferred {
                // Only what a writer may hold goes onto a fresh inode (a read lease refused,
                // or one that cannot be had: "cannot tell" renews); the pass that pins each
                // file asks the lease again, so a writer that opened it meanwhile is refused.
                // What shields up recorded follows its files onto their fresh inodes.
                let start = match &record {
                    Some(_) => self.locked_files(dir.as_fd())?,
                    None => Vec::new(),
                };
                match renew::renew_all(
                    dir.as_fd(),
                    self.layout.owner,
                    None,
                    renew::Which::Held,
                    &|_| false,
                ) {
                    Ok(names) => renewed = names,
                    Err(e) if denied(&e) => {}
                    Err(e) => return Err(Error::io("renewing the regular files", e)),
                }
                if let (Some(record), false) = (&record, renewed.is_empty()) {
                    self.record_locked(dir.as_fd(), &start, Some(record), false)?;
                }
            }
        }
        let mut attempts = Vec::new();
        let mut layers = Layers::default();
        if wants_flags {
            let outcome = immutable::pin_inode(dir.as_fd()).context("pinning the directory")?;
            if outcome.action == Action::Frozen {
                undo.directory_flagged();
            }
            killpoint::step();
            attempts.push(attempt(Layer::Immutable, outcome));
            layers.immutable = outcome.action.is_pinned();
        }
        let wants_mount = match self.freeze.strategy {
            Strategy::Auto => !layers.immutable,
            Strategy::Immutable => false,
            Strategy::Mount | Strategy::Both => true,
        };
        let reopen = || self.open_dir(Access::Read);
        let mut fresh = None;
        let mut bound = false;
        if wants_mount && ours {
            attempts.push(attempt(Layer::Mount, Outcome::new(Action::AlreadyFrozen)));
            layers.mount = true;
        } else if wants_mount {
            let made = if legacy {
                Err(std::io::Error::from_raw_os_error(libc::ENOSYS))
            } else {
                mount::FreshDirectory::new(dir.as_fd())
            };
            match made {
                Ok(made) => fresh = Some(made),
                Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                    let pinned = mount::pin_legacy(&self.paths.dir, dir.as_fd(), &reopen);
                    let pinned = pinned?;
                    attempts.push(attempt(Layer::Mount, pinned.outcome));
                    undo.mounted(pinned.mount);
                    layers.mount = pinned.outcome.action.is_pinned();
                    bound = layers.mount;
                }
                Err(e) => {
                    let outcome = pin::denial(e).context("making a fresh directory")?;
                    attempts.push(attempt(Layer::Mount, outcome));
                }
            }
        }
        self.pin_data_dir(data, wants_flags, undo, &mut attempts, &mut layers)?;
        // The sandbox user owns data_dir's parent and may have swapped data_dir meanwhile:
        // the path must still lead to the directory whose names were pinned.
        if let Some(data) = data.as_ref().filter(|_| layers.data_dir) {
            if !self.still_at(&data.path, data.fd.as_fd())? {
                return Err(Error::UnsafePath {
                    path: escape_bytes(&data.path),
                    why: format!(
                        "data_dir was moved or replaced during the call; {}",
                        self.left_by_a_refusal()
                    ),
                });
            }
        }
        let mode = if layers.immutable {
            Mode::Freeze(PinnedBy::OwnFlag)
        } else if layers.mount || fresh.is_some() {
            Mode::Freeze(PinnedBy::Directory)
        } else {
            Mode::Check
        };
        let mut scan = Scan::new(dir.as_fd(), scan_data(data), self.layout.owner, mode);
        scan.allow_missing = self.layout.allow_missing;
        scan.undo = Some(&mut *undo);
        let renewed_in_place = renew::names(&renewed);
        scan.renewed = renewed_in_place.clone();
        scan.fresh = fresh.as_ref().map(mount::FreshDirectory::root);
        scan.check_writers = layers.immutable || bound;
        scan.renewal_deferred = deferred;
        let judged = if bound && !layers.immutable {
            self.judge_settled(&mut scan)
        } else {
            self.judge_all(&mut scan, Action::Checked, 0)
        };
        if scan.found_held && judged.is_ok() {
            // A writer holds a file that was not renewed (or no lease can tell): what the
            // pass pinned is taken back, and the freeze starts again, renewing first.
            drop(scan);
            undo.rollback(dir.as_fd(), &self.paths.dir)?;
            if flagged_before {
                let outcome = immutable::unpin_inode(dir.as_fd())
                    .context("taking the directory's flag off for the renewal")?;
                if outcome.action == Action::Unfrozen {
                    undo.directory_cleared();
                }
            }
            return self.pin_and_judge(dir, data, undo, Renewal::First);
        }
        // A mount made or taken off during the pass may have shown a link that is not the
        // one beneath (a good link mounted over a bad one for a moment): what was judged is
        // then not known to be what is pinned, and everything this call did is taken back.
        let unsettled = judged
            .as_ref()
            .is_ok_and(|entries| !scan.links_still_hold(entries));
        renewed.append(&mut scan.uncarried);
        let uncarried = renew::uncarried_note(&renewed);
        drop(scan);
        let mut entries = judged?;
        if unsettled {
            return Err(mount_table_changed(
                &self.paths.dir,
                self.left_by_a_refusal(),
            ));
        }
        let valid = !entries.iter().any(Entry::is_rejected);
        // The fresh directory, filled with what was judged, goes over `dir` (read-only; with
        // BOTH its entries carry the flag too).
        let mut shown = None;
        if let (Some(fresh), true) = (fresh, valid) {
            if self.freeze.strategy == Strategy::Both && layers.immutable {
                pin_copies(fresh.root())?;
            }
            let root = fresh
                .root()
                .try_clone_to_owned()
                .context("keeping the fresh directory")?;
            let pinned = mount::attach_fresh(&self.paths.dir, dir.as_fd(), fresh, &reopen)?;
            attempts.push(attempt(Layer::Mount, pinned.outcome));
            layers.mount = pinned.outcome.action.is_pinned();
            if pinned.mount.is_some() {
                shown = Some(root);
            } else if pinned.outcome.action == Action::AlreadyFrozen {
                // Another freeze's fresh directory stood there first: it is what is shown.
                shown = Some(self.open_dir(Access::Read)?);
            }
            undo.mounted(pinned.mount);
            // The path shows the copies now: a symlink there is held by the fresh directory
            // (tmpfs keeps no flag on a symlink), whatever flag its original carries beneath.
            if layers.mount {
                for entry in &mut entries {
                    if entry.kind == FileKind::Symlink && entry.action == Action::Frozen {
                        entry.action = Action::PinnedByDirectory;
                    }
                }
            }
        }
        // The seal, on the pinned bytes the path shows (on the bytes as they are where nothing
        // could be pinned: the result is reported all the same).
        let shown_fd = shown.as_ref().map_or(dir.as_fd(), |r| r.as_fd());
        let mut sealed = None;
        if let (Some(seal), true) = (&self.layout.seal, valid) {
            sealed = Some(sealing::check(
                shown_fd,
                &self.paths.dir,
                seal,
                &mut entries,
            )?);
        }
        let valid = !entries.iter().any(Entry::is_rejected);
        let posture = self.shields_posture(shown_fd);
        let finish = |mut report: Report| {
            if let (Some(seal), Some(result)) = (&self.layout.seal, sealed) {
                report.set_seal(seal, result);
            }
            report.set_posture(posture);
            if let Some(note) = &uncarried {
                report.set_note(note);
            }
            report
        };
        let directory = directory_outcome(&attempts);
        if let Some(record) = entries.first_mut().filter(|e| !e.is_rejected()) {
            record.action = directory.action;
            record.errno = directory.errno;
        }
        if !valid {
            let added = undo.added();
            let restored = undo.cleared_any();
            // The directory's own flag, taken off for a renewal, is put back with the rest.
            let restored_directory = undo.cleared_directory();
            undo.rollback(dir.as_fd(), &self.paths.dir)?;
            let left = Layers {
                immutable: (layers.immutable && !added.immutable) || restored_directory,
                mount: layers.mount && !added.mount,
                data_dir: layers.data_dir && !added.data_dir,
            };
            for entry in &mut entries {
                let taken_back = entry.action == Action::Frozen
                    || (!left.any() && entry.action == Action::PinnedByDirectory);
                if taken_back {
                    entry.action = Action::Checked;
                }
                // The fresh directory's copies are gone with it; files renewed in place stay so.
                entry.renewed = renewed_in_place
                    .iter()
                    .any(|n| n.to_bytes() == entry.name.as_slice());
            }
            if restored_directory {
                if let Some(record) = entries.first_mut().filter(|e| e.is_directory_itself()) {
                    record.action = Action::AlreadyFrozen;
                }
            }
            let mut report = finish(self.report(
                Operation::Freeze,
                Status::Invalid,
                left,
                attempts,
                entries,
                data,
            ));
            if self.freeze.lock_posture {
                report.set_fail_closed(if restored {
                    "the pins found before the call were put back"
                } else {
                    ""
                });
            }
            return Ok(report);
        }
        // From outside: the path must still lead to the directory pinned (the fresh one where
        // it was mounted). Once pinned it cannot be renamed (immutable, or a mount point), so
        // a swap can only have happened before.
        let pinned_dir = shown.as_ref().map_or(dir.as_fd(), |r| r.as_fd());
        if !self.still_at_path(pinned_dir)? {
            return Err(self.moved());
        }
        killpoint::step();
        let status = if !layers.any() {
            if attempts.iter().any(|a| a.action == Action::Denied) {
                Status::NoCapability
            } else {
                Status::Unsupported
            }
        } else if (self.freeze.strategy == Strategy::Both && !(layers.immutable && layers.mount))
            || (self.freeze.pin_data_dir && !layers.data_dir)
        {
            Status::Partial
        } else {
            pinned_status(&entries)
        };
        Ok(finish(self.report(
            Operation::Freeze,
            status,
            layers,
            attempts,
            entries,
            data,
        )))
    }

    /// `pin_data_dir`: FS_IMMUTABLE_FL on `data_dir`'s own inode. The flag layer only: a
    /// read-only mount of `data_dir` would stop the sandbox user's own writes, which the
    /// contract leaves to it.
    pub(super) fn pin_data_dir(
        &self,
        data: &Option<DataDir>,
        wants_flags: bool,
        undo: &mut Undo,
        attempts: &mut Vec<LayerAttempt>,
        layers: &mut Layers,
    ) -> Result<(), Error> {
        let Some(data) = data.as_ref().filter(|_| self.freeze.pin_data_dir) else {
            return Ok(());
        };
        let outcome = if wants_flags {
            immutable::pin_inode(data.fd.as_fd()).context("pinning data_dir")?
        } else {
            Outcome {
                action: Action::Unsupported,
                errno: libc::EOPNOTSUPP,
            }
        };
        attempts.push(attempt(Layer::DataDir, outcome));
        if outcome.action == Action::Frozen {
            undo.data_dir_flagged(data.fd.try_clone().context("keeping data_dir")?);
        }
        layers.data_dir = outcome.action.is_pinned();
        Ok(())
    }

    /// Judges the entries under the read-only mount alone. The mount stops every change
    /// that starts after it, but a change already under way in the writable mount beneath
    /// (its path resolved before) may still land: wait for those (the directory's lock),
    /// then judge until a pass sees the directory's change time stand still.
    pub(super) fn judge_settled(&self, scan: &mut Scan<'_, '_>) -> Result<Vec<Entry>, Error> {
        let changed = |fd| {
            sys::fstat(fd)
                .map(|m| m.changed)
                .context("examining the directory")
        };
        for _ in 0..SETTLE_PASSES {
            sys::lock_barrier(scan.dir);
            let before = changed(scan.dir)?;
            let entries = self.judge_all(scan, Action::Checked, 0)?;
            if changed(scan.dir)? != before {
                continue;
            }
            // A writer preempted between its lookup and the directory's lock gets the CPU
            // once more and is waited for; only then is the pass taken as settled.
            std::thread::yield_now();
            sys::lock_barrier(scan.dir);
            if changed(scan.dir)? == before {
                return Ok(entries);
            }
        }
        Err(Error::io(
            "judging the directory",
            std::io::Error::from_raw_os_error(libc::EAGAIN),
        ))
    }
}

/// When a freeze gives the files a writer may hold their fresh inodes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Renewal {
    /// Before the directory is pinned, a read lease asked of every regular file.
    First,
    /// Only once the pass that pins the files finds one held (its lease asked before its
    /// flag is set): the pass's pins are then taken back, and the freeze starts again with
    /// `First`.
    WhenFound,
}

/// The kernel denied writing the directory (not root, read-only): nothing of ours to
/// renew there.
fn denied(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EPERM | libc::EACCES | libc::EROFS)
    )
}

/// BOTH: the fresh directory's root and regular files carry the flag too, so that the copy
/// also holds against a process that could remount it read-write.
fn pin_copies(root: BorrowedFd<'_>) -> Result<(), Error> {
    let failed = |e| Error::io("pinning the fresh directory", e);
    let mut names = Vec::new();
    for_each_entry(root, |name, d_type| {
        if d_type == FileKind::Regular {
            names.push(name.to_owned());
        }
        Ok(())
    })?;
    for name in names {
        let file = sys::openat(
            sys::Base::Dir(root),
            &name,
            sys::OFlags::RDONLY | sys::OFlags::NOFOLLOW | sys::OFlags::NONBLOCK,
        )
        .map_err(failed)?;
        immutable::pin_inode(file.as_fd()).map_err(failed)?;
    }
    immutable::pin_inode(root).map_err(failed)?;
    Ok(())
}

/// How many passes `judge_settled` makes before it gives up on a directory that keeps
/// changing under a fresh read-only mount.
const SETTLE_PASSES: usize = 4;

/// The error of a pass whose links did not hold while the mount table moved
/// (`Scan::links_still_hold`).
pub(super) fn mount_table_changed(path: &[u8], left: &str) -> Error {
    Error::UnsafePath {
        path: escape_bytes(path),
        why: format!(
            "a mount was made or taken off over an entry during the call: what was read may be \
             what a mount showed for a moment, not what lies in the directory; {left} (call \
             again)"
        ),
    }
}
