//! Verify: read-only; valid and pinned is NC_OK, valid and not pinned NC_NOT_FROZEN.

use super::*;

impl Policy {
    /// Read-only: NC_OK when valid and pinned (by either layer), NC_NOT_FROZEN when valid
    /// and not pinned.
    pub fn verify(&self) -> Result<Report, Error> {
        // A freeze or unfreeze under way finishes first: verify never sees one half-done.
        let _lock = self.lock(LockMode::Shared)?;
        let (dir, mut checked) = self.resolve_dir_checked()?;
        let data = self.resolve_data_dir_after(&dir, &mut checked)?;
        let flag = immutable::is_pinned(dir.as_fd()).context("reading the directory's flags")?;
        let mounted = match mount::state(
            &self.paths.dir,
            dir.as_fd(),
            mount::MountSupport::probe(self.freeze.mount_api).our_mounts(),
        )? {
            // A mount of ours remounted read-write holds nothing.
            MountState::Ours { read_only, .. } => read_only,
            MountState::Absent => false,
            MountState::Covered => return Err(mount::covered(&self.paths.dir)),
        };
        let data_flag = match data.as_ref().filter(|_| self.freeze.pin_data_dir) {
            Some(data) => {
                immutable::is_pinned(data.fd.as_fd()).context("reading data_dir's flags")?
            }
            None => None,
        };
        let layers = Layers {
            immutable: flag == Some(true),
            mount: mounted,
            data_dir: data_flag == Some(true),
        };
        let held = |flag: Option<bool>| match flag {
            Some(true) => Action::AlreadyFrozen,
            Some(false) => Action::Checked,
            None => Action::Unsupported,
        };
        let mut attempts = vec![
            LayerAttempt {
                layer: Layer::Immutable,
                action: held(flag),
                errno: 0,
            },
            LayerAttempt {
                layer: Layer::Mount,
                action: held(Some(mounted)),
                errno: 0,
            },
        ];
        if self.freeze.pin_data_dir {
            attempts.push(LayerAttempt {
                layer: Layer::DataDir,
                action: held(data_flag),
                errno: 0,
            });
        }
        let dir_action = if layers.any() {
            Action::AlreadyFrozen
        } else {
            attempts[0].action
        };
        let mode = Mode::Verify {
            dir_pinned: layers.immutable || layers.mount,
            mounted,
        };
        let mut scan = Scan::new(dir.as_fd(), scan_data(&data), self.layout.owner, mode);
        scan.allow_missing = self.layout.allow_missing;
        let mut entries = self.judge_all(&mut scan, dir_action, 0)?;
        if !scan.links_still_hold(&entries) {
            return Err(super::freeze::mount_table_changed(
                &self.paths.dir,
                "verify changes nothing",
            ));
        }
        drop(scan);
        // The seal, read-only, on the bytes the path shows: "are the shields up?" in one call.
        let mut sealed = None;
        if let Some(seal) = &self.layout.seal {
            if !entries.iter().any(Entry::is_rejected) {
                sealed = Some(sealing::check(
                    dir.as_fd(),
                    &self.paths.dir,
                    seal,
                    &mut entries,
                )?);
            }
        }
        // A flat directory in exactly NemoClaw's mutable posture has its shields down: that
        // is an answer of its own (NC_NOT_FROZEN, state "down"), not a tampered layout.
        let down = match (&self.layout.seal, &self.paths.data_dir) {
            (Some(seal), None) if entries.iter().any(Entry::is_rejected) => {
                crate::shields::down_summary(&self.paths.dir, seal)
            }
            _ => None,
        };
        let status = if down.is_some() {
            Status::NotFrozen
        } else if entries.iter().any(Entry::is_rejected) {
            Status::Invalid
        } else if !(layers.immutable || layers.mount) {
            Status::NotFrozen
        } else if self.freeze.pin_data_dir && !layers.data_dir {
            Status::Partial
        } else {
            pinned_status(&entries)
        };
        let mut report = self.report(Operation::Verify, status, layers, attempts, entries, &data);
        if let (Some(seal), Some(result)) = (&self.layout.seal, sealed) {
            report.set_seal(seal, result);
        }
        report.set_posture(self.shields_posture(dir.as_fd()));
        if let Some(summary) = down {
            report.set_down(&summary);
        }
        Ok(report)
    }
}
