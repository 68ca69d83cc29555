//! Unfreeze (shields down): nc-harden's mount off, the flags cleared, and the hand-back of
//! exactly what shields up locked.

use super::*;

impl Policy {
    /// Removes what a freeze added: nc-harden's read-only mount (never another mount), the
    /// flags of the regular files and symlinks, then the directory's (and `data_dir`'s with
    /// `pin_data_dir`). Needs no valid layout; NC_OK where nothing was frozen, so it is safe
    /// to call twice. An entry with something mounted over it is left alone.
    pub fn unfreeze(&self) -> Result<Report, Error> {
        let _lock = self.lock(LockMode::Exclusive)?;
        let resolved = self.resolve_dir()?;
        self.unfreeze_resolved(resolved)
    }

    /// `unfreeze` of the directory already resolved (`resolved`: what the path showed).
    pub(super) fn unfreeze_resolved(&self, resolved: OwnedFd) -> Result<Report, Error> {
        let reopen = || self.open_dir(Access::Read);
        let unmounted = mount::unpin(
            &self.paths.dir,
            &reopen,
            mount::MountSupport::probe(self.freeze.mount_api).our_mounts(),
        )?;
        killpoint::step();
        // The flags are changed, and the directory handed back, through the descriptor
        // resolved at the start; under nc-harden's mount that was the mount's root, and the
        // directory beneath is opened once the mount is off (the hand-back then holds it to
        // what shields up recorded, so a directory swapped in meanwhile is not handed back).
        let dir = if unmounted.action == Action::Unfrozen {
            self.open_dir(Access::Read)?
        } else {
            resolved
        };
        let mut scan = Scan::new(dir.as_fd(), None, self.layout.owner, Mode::Unfreeze);
        let mut entries = vec![];
        for_each_entry(dir.as_fd(), |name, d_type| {
            entries.push(scan.apply_mode(name, d_type)?);
            Ok(())
        })?;
        let flag = immutable::unpin_inode(dir.as_fd()).context("unpinning the directory")?;
        killpoint::step();
        let mut attempts = vec![
            attempt(Layer::Mount, unmounted),
            attempt(Layer::Immutable, nothing_to_clear(flag)),
        ];
        let mut data = None;
        if self.freeze.pin_data_dir {
            if let Some(opened) = self.resolve_data_dir(&dir)? {
                let outcome =
                    immutable::unpin_inode(opened.fd.as_fd()).context("unpinning data_dir")?;
                attempts.push(attempt(Layer::DataDir, nothing_to_clear(outcome)));
                data = Some(opened);
            }
        }
        // Without --pin-data-dir the data directory's own flag (set by a freeze with it) is
        // left as it is: said, never hidden behind "layers: none".
        let data_dir_left_pinned = !self.freeze.pin_data_dir
            && self.paths.data_dir.as_deref().is_some_and(|path| {
                walk::open_directory(path, Access::Read, self.paths.resolution)
                    .ok()
                    .and_then(|fd| immutable::is_pinned(fd.as_fd()).ok().flatten())
                    == Some(true)
            });
        // Shields down: hand the directory back in the mutable posture, once nothing pins it.
        let pins_left = entries.iter().any(|e| e.action == Action::Denied)
            || attempts.iter().any(|a| a.action == Action::Denied);
        let mut note = None;
        if self.hand_to.any() {
            if pins_left {
                note = Some("not handed back: pins are left that this call could not take off");
            } else {
                note = self.hand_back(dir.as_fd(), &mut entries)?;
            }
        }
        let meta = sys::fstat(dir.as_fd()).context("examining the directory")?;
        let directory = directory_outcome(&attempts[..2]);
        entries.insert(
            0,
            Entry {
                errno: directory.errno,
                ..Entry::directory(meta.kind, directory.action)
            },
        );
        let status = if entries.iter().any(|e| e.action == Action::Denied)
            || attempts.iter().any(|a| a.action == Action::Denied)
        {
            Status::NoCapability
        } else {
            Status::Ok
        };
        let still = |layer: Layer| {
            attempts
                .iter()
                .any(|a| a.layer == layer && a.action == Action::Denied)
        };
        let layers = Layers {
            immutable: still(Layer::Immutable),
            mount: still(Layer::Mount),
            data_dir: still(Layer::DataDir) || data_dir_left_pinned,
        };
        let mut report = Report::new(
            Operation::Unfreeze,
            &self.paths.dir,
            status,
            layers,
            attempts,
            entries,
        );
        if let Some(data) = data {
            report.set_data_dir_replaceable(data.replaceable);
        }
        match (note, data_dir_left_pinned) {
            (Some(note), _) => report.set_note(note),
            (None, true) => report.set_note(
                "data_dir keeps the immutable flag a freeze with --pin-data-dir set: unfreeze \
                 --pin-data-dir clears it",
            ),
            (None, false) => {}
        }
        report.set_posture(self.shields_posture(dir.as_fd()));
        Ok(report)
    }

    /// `hand_to`: hands back exactly what shields up locked, through `dir` (the descriptor
    /// that was unpinned): the directory and the regular files whose identity (device, inode,
    /// generation) its record holds; with no record (locked by another tool, or before a
    /// reboot emptied /run), only a directory in the locked posture and the files in exactly
    /// the locked posture (the owner's, 0444, one link, on the directory's device). Anything
    /// else (a hard link to a root file, a file moved in, a directory swapped in at the path)
    /// is left as it is and reported (`not_locked_by_shields`).
    pub(super) fn hand_back(
        &self,
        dir: BorrowedFd<'_>,
        entries: &mut [Entry],
    ) -> Result<Option<&'static str>, Error> {
        let h = self.hand_to;
        let failed =
            |what: &[u8], e| Error::io(format!("handing back \"{}\"", escape_bytes(what)), e);
        let record = pin::locked::load(&self.paths.dir)
            .context("reading what shields up locked (nc-harden's state directory)")?;
        let dir_meta = sys::fstat(dir).map_err(|e| failed(b".", e))?;
        let dir_id = pin::locked::Identity::of(dir, &dir_meta).map_err(|e| failed(b".", e))?;
        let record = record.filter(|set| set.directory == Some(dir_id));
        let dir_locked =
            dir_meta.uid == self.layout.owner && dir_meta.mode == sealing::LOCKED_DIR_MODE;
        let already = h.uid.map_or(true, |u| u == dir_meta.uid)
            && h.gid.map_or(true, |g| g == dir_meta.gid)
            && h.dir_mode.map_or(true, |m| m == dir_meta.mode);
        if record.is_none() && !dir_locked && !already {
            return Ok(Some(
                "not handed back: the directory at the path is neither the one shields up \
                 locked nor in the locked posture",
            ));
        }
        let mut left = 0;
        for entry in entries
            .iter_mut()
            .filter(|e| e.kind == FileKind::Regular && !e.is_rejected())
        {
            let name = CString::new(entry.name.clone()).expect("entry names hold no NUL");
            let Ok(meta) = sys::lstatat(dir, &name) else {
                continue;
            };
            let Ok(file) = scan::open_regular(dir, &name, &meta) else {
                continue;
            };
            let id = pin::locked::Identity::of(file.as_fd(), &meta)
                .map_err(|e| failed(&entry.name, e))?;
            let locked_here = match &record {
                Some(set) => set.holds_file(&id),
                None => sealing::in_locked_posture(&meta, self.layout.owner, dir_meta.dev),
            };
            let handed = h.uid.map_or(true, |u| u == meta.uid)
                && h.gid.map_or(true, |g| g == meta.gid)
                && h.file_mode.map_or(true, |m| m == meta.mode);
            if !locked_here {
                if !handed {
                    entry.action = Action::Rejected;
                    entry.reason = Reason::NotLockedByShields;
                    left += 1;
                }
                continue;
            }
            sys::files::change_owner_mode(file.as_fd(), h.uid, h.gid, h.file_mode)
                .map_err(|e| failed(&entry.name, e))?;
            killpoint::step();
        }
        sys::files::change_owner_mode(dir, h.uid, h.gid, h.dir_mode)
            .map_err(|e| failed(b".", e))?;
        killpoint::step();
        pin::locked::remove(&self.paths.dir)
            .context("removing the record of what shields up locked")?;
        Ok((left > 0).then_some(
            "entries that shields up did not lock were left as they are (not_locked_by_shields)",
        ))
    }
}

/// No flags on this filesystem: there is nothing to clear.
fn nothing_to_clear(outcome: Outcome) -> Outcome {
    if outcome.action == Action::Unsupported {
        Outcome::new(Action::Checked)
    } else {
        outcome
    }
}
