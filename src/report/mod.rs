//! What a call found and did, entry by entry, and the status that sums it up. The report is
//! the only output of the engine: the C ABI and the CLI render it, never re-derive it.

#![forbid(unsafe_code)]

pub(crate) mod json;

use crate::escape::escape_bytes;

use crate::error::Error;
use crate::inode::FileKind;
use crate::rules::Reason;
use crate::status::Status;

crate::contract_table! {
    /// What the seal check found, for the report: the values of `nc_report_seal`.
    pub enum SealResult in C defines {
        /// `nc_report_seal`: no seal was asked for (or not reached: the layout was invalid
        /// before).
        None = 0 => NC_SEAL_NONE "none",
        /// `nc_report_seal`: every sealed file has the digest the seal gives.
        Ok = 1 => NC_SEAL_OK "ok",
        /// `nc_report_seal`: the seal file is not in the directory.
        Missing = 2 => NC_SEAL_MISSING "missing",
        /// `nc_report_seal`: the seal is not in sha256sum format (or names what is not a
        /// regular file of dir).
        Malformed = 3 => NC_SEAL_MALFORMED "malformed",
        /// `nc_report_seal`: a sealed file's bytes do not have the seal's digest.
        Mismatch = 4 => NC_SEAL_MISMATCH "mismatch",
    }
}

crate::contract_table! {
    /// Which call made the report; `nc_explain_bad_argument`'s `op`.
    pub enum Operation in C enum nc_operation {
        /// nc_validate_and_freeze.
        Freeze = 1 => NC_OPERATION_FREEZE "freeze",
        /// nc_verify.
        Verify = 2 => NC_OPERATION_VERIFY "verify",
        /// nc_unfreeze.
        Unfreeze = 3 => NC_OPERATION_UNFREEZE "unfreeze",
    }
}

crate::contract_table! {
    /// What was done to one entry. Numbers are part of the C ABI.
    pub enum Action in C enum nc_action {
        /// This call set its immutable flag, and read it back.
        Frozen = 1 => NC_ACTION_FROZEN "frozen",
        /// The flag was already set (read back).
        AlreadyFrozen = 2 => NC_ACTION_ALREADY_FROZEN "already_frozen",
        /// Held by the directory's pin (its immutable flag or its read-only mount), not by a
        /// flag of its own: a symlink whose inode cannot carry one, or any entry under the mount.
        PinnedByDirectory = 3 => NC_ACTION_PINNED_BY_DIRECTORY "pinned_by_directory",
        /// The filesystem has no immutable flag (or it did not stick).
        Unsupported = 4 => NC_ACTION_UNSUPPORTED "unsupported",
        /// The flag was refused: the capability is missing.
        Denied = 5 => NC_ACTION_DENIED "denied",
        /// The entry breaks the policy.
        Rejected = 6 => NC_ACTION_REJECTED "rejected",
        /// Examined and valid; nothing pinned or changed.
        Checked = 7 => NC_ACTION_CHECKED "checked",
        /// This call cleared its immutable flag.
        Unfrozen = 8 => NC_ACTION_UNFROZEN "unfrozen",
    }
}

impl Action {
    /// The name as words, for human lines: `"already frozen"`.
    fn phrase(self) -> String {
        self.name().replace('_', " ")
    }

    /// The entry is held in place after the call.
    pub fn is_pinned(self) -> bool {
        matches!(
            self,
            Action::Frozen | Action::AlreadyFrozen | Action::PinnedByDirectory
        )
    }
}

crate::contract_table! {
    /// A pinning layer. The numbers are the bits of `nc_report_layers`.
    pub enum Layer in C defines {
        /// `nc_report_layers` bit: FS_IMMUTABLE_FL is on the directory (and its regular files).
        Immutable = 1 => NC_LAYER_IMMUTABLE "immutable",
        /// `nc_report_layers` bit: the directory is a read-only, nosuid, nodev mount.
        Mount = 2 => NC_LAYER_MOUNT "mount",
        /// `nc_report_layers` bit (and `nc_report_layer` layer): FS_IMMUTABLE_FL on data_dir's own
        /// inode, with NC_FLAG_PIN_DATA_DIR.
        DataDir = 4 => NC_LAYER_DATA_DIR "data_dir",
    }
}

impl Layer {
    /// The capability that applying (or removing) the layer needs.
    pub fn capability(self) -> &'static str {
        match self {
            Layer::Immutable | Layer::DataDir => "CAP_LINUX_IMMUTABLE",
            Layer::Mount => "CAP_SYS_ADMIN",
        }
    }

    /// Against whom the layer holds, and where it does not: what no call can check, said
    /// where a launcher can log it.
    pub fn condition(self) -> &'static str {
        match self {
            Layer::Immutable => {
                "the immutable flag holds against every process without CAP_LINUX_IMMUTABLE, \
                 in every mount namespace; a process with it can clear the flag"
            }
            Layer::Mount => {
                "the read-only mount holds in this mount namespace against processes without \
                 CAP_SYS_ADMIN and CAP_DAC_READ_SEARCH; not against one with CAP_DAC_READ_SEARCH \
                 (open_by_handle_at reaches the directory through another mount of its \
                 filesystem), nor through another mount of the same directory (an alias bind), \
                 nor from another mount namespace"
            }
            Layer::DataDir => {
                "data_dir's immutable flag fixes its set of names and keeps it in place against \
                 processes without CAP_LINUX_IMMUTABLE; the contents of its entries stay writable"
            }
        }
    }
}

/// The pinning layers in place after the call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Layers {
    pub immutable: bool,
    pub mount: bool,
    /// `data_dir`'s own flag (`pin_data_dir`): not a layer of `dir`.
    pub data_dir: bool,
}

impl Layers {
    /// The layers in place, in their order.
    pub fn in_place(self) -> Vec<Layer> {
        [
            (self.immutable, Layer::Immutable),
            (self.mount, Layer::Mount),
            (self.data_dir, Layer::DataDir),
        ]
        .into_iter()
        .filter_map(|(on, layer)| on.then_some(layer))
        .collect()
    }

    pub fn names(self) -> Vec<&'static str> {
        self.in_place().into_iter().map(Layer::name).collect()
    }

    /// The `nc_report_layers` bits.
    pub fn bits(self) -> u32 {
        self.in_place()
            .into_iter()
            .map(|l| l as u32)
            .fold(0, |a, b| a | b)
    }

    /// Whether `dir` is pinned by a layer of its own.
    pub fn any(self) -> bool {
        self.immutable || self.mount
    }
}

/// What one layer answered when the call applied (or removed) it on the directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerAttempt {
    pub layer: Layer,
    pub action: Action,
    pub errno: i32,
}

/// The name under which the directory itself is recorded: no real entry can have it.
pub const DIRECTORY_ENTRY: &[u8] = b".";

/// One record: the directory itself (named `.`), one entry of it, or a missing required name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Raw bytes: names need not be UTF-8.
    pub name: Vec<u8>,
    pub kind: FileKind,
    pub action: Action,
    pub reason: Reason,
    /// The errno behind the action or reason, 0 where there is none.
    pub errno: i32,
    /// For a rejected symlink: the target it reads as.
    pub target: Option<Vec<u8>>,
    /// A regular file this call put on a fresh inode (same bytes, owner, mode, times and
    /// extended attributes), so that no descriptor opened before reaches what is pinned.
    pub renewed: bool,
    /// For a re-pointed symlink: the target it must read (`data_dir/<name>`).
    pub expected: Option<Vec<u8>>,
    /// A symlink accepted with `allow_missing` whose data entry does not exist yet.
    pub data_entry_missing: bool,
    /// A regular file's SHA-256, where a seal was checked or written.
    pub sha256: Option<[u8; 32]>,
    /// What was found, where an owner, a mode or a link count is why it is rejected: the
    /// owner uid found and the one required, the permission bits, the number of links.
    pub found: Option<Found>,
}

/// The facts behind an owner, mode or link-count rejection, so that a line says what to fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    pub uid: u32,
    pub required_uid: u32,
    pub mode: u32,
    pub links: u64,
}

impl Entry {
    pub fn new(name: &[u8], kind: FileKind, action: Action) -> Self {
        Entry {
            name: name.to_vec(),
            kind,
            action,
            reason: Reason::None,
            errno: 0,
            target: None,
            renewed: false,
            expected: None,
            data_entry_missing: false,
            sha256: None,
            found: None,
        }
    }

    pub fn rejected(name: &[u8], kind: FileKind, reason: Reason, errno: i32) -> Self {
        Entry {
            reason,
            errno,
            ..Entry::new(name, kind, Action::Rejected)
        }
    }

    /// The record of the directory itself (named [`DIRECTORY_ENTRY`], `.`, in the report,
    /// its JSON and the C ABI).
    pub fn directory(kind: FileKind, action: Action) -> Self {
        Entry::new(DIRECTORY_ENTRY, kind, action)
    }

    /// The directory itself, rejected for `reason`.
    pub fn directory_rejected(reason: Reason) -> Self {
        Entry::rejected(DIRECTORY_ENTRY, FileKind::Directory, reason, 0)
    }

    /// Whether this is the record of the directory itself rather than of one of its
    /// entries (no entry can be named `.`).
    pub fn is_directory_itself(&self) -> bool {
        self.name == DIRECTORY_ENTRY
    }

    pub fn is_rejected(&self) -> bool {
        self.action == Action::Rejected
    }

    /// One line, safe to log, e.g. `"hooks" (symlink): rejected: ... (reads "/tmp/evil")`.
    pub fn line(&self) -> String {
        let mut line = format!(
            "\"{}\" ({}): {}",
            escape_bytes(&self.name),
            self.kind.name(),
            self.action.phrase()
        );
        if self.reason != Reason::None {
            line.push_str(": ");
            line.push_str(self.reason.describe());
        }
        match (&self.target, &self.expected) {
            (Some(target), Some(expected)) => line.push_str(&format!(
                " (reads \"{}\", must read \"{}\")",
                escape_bytes(target),
                escape_bytes(expected)
            )),
            (Some(target), None) => {
                line.push_str(&format!(" (reads \"{}\")", escape_bytes(target)))
            }
            _ => {}
        }
        if self.data_entry_missing {
            line.push_str(" (its data entry does not exist yet: allowed)");
        }
        // What to do about it, where the reason alone does not say.
        line.push_str(match self.reason {
            Reason::DataEntryMissing => " (create it, or accept it with --allow-missing)",
            Reason::DataEntryIsSymlink => " (it must be the file or directory itself)",
            Reason::UnexpectedDirectory
            | Reason::UnexpectedFifo
            | Reason::UnexpectedSocket
            | Reason::UnexpectedDevice
            | Reason::UnexpectedType => " (only symlinks into data_dir and regular files belong)",
            _ => "",
        });
        if let Some(f) = self.found {
            match self.reason {
                Reason::OwnerMismatch => line.push_str(&format!(
                    " (owner uid {}, must be {})",
                    f.uid, f.required_uid
                )),
                Reason::WritableByOthers => line.push_str(&format!(
                    " (mode {:04o}: no write bit for group or others, e.g. chmod go-w)",
                    f.mode
                )),
                Reason::HardLinked => {
                    line.push_str(&format!(" ({} links: one name only)", f.links))
                }
                _ => {}
            }
        }
        // A link pinned by its directory: the errno is the filesystem's answer to a flag on
        // the link itself (EOPNOTSUPP on all but XFS), expected, not news (JSON keeps it).
        if self.errno != 0 && self.action != Action::PinnedByDirectory {
            line.push_str(&format!(" [{}]", errno_text(self.errno)));
        }
        line
    }
}

/// `errno 1: Operation not permitted`.
fn errno_text(errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    format!(
        "errno {errno}: {}",
        text.split(" (os error").next().unwrap_or("")
    )
}

/// The outcome of one call.
#[derive(Clone, Debug)]
pub struct Report {
    operation: Operation,
    dir: Vec<u8>,
    status: Status,
    layers: Layers,
    attempts: Vec<LayerAttempt>,
    entries: Vec<Entry>,
    errno: i32,
    summary: String,
    /// Why `data_dir` can be replaced by whoever controls its parent, if it can.
    data_dir_replaceable: Option<String>,
    /// Whether the directory the path shows is in the locked posture (owner, 0755, files
    /// 0444), where the call looked.
    posture_locked: Option<bool>,
    /// The seal asked for, and what its check found.
    seal: Option<(Vec<u8>, SealResult)>,
    /// What the call could not do, said in words (a transition refused, say).
    note: Option<String>,
    /// A shields up refused after it locked the posture (fail-closed): `locked, not verified:
    /// <reason>`, and what it did with the pins it found.
    fail_closed: Option<(String, String)>,
    /// A verify found the shields down (exactly the mutable posture).
    down: bool,
}

impl Report {
    pub(crate) fn new(
        operation: Operation,
        dir: &[u8],
        status: Status,
        layers: Layers,
        attempts: Vec<LayerAttempt>,
        entries: Vec<Entry>,
    ) -> Self {
        let mut report = Report {
            operation,
            dir: dir.to_vec(),
            status,
            layers,
            attempts,
            entries,
            errno: 0,
            summary: String::new(),
            data_dir_replaceable: None,
            posture_locked: None,
            seal: None,
            note: None,
            fail_closed: None,
            down: false,
        };
        report.summary = report.summarize(None);
        report
    }

    pub(crate) fn set_note(&mut self, note: &str) {
        self.note = Some(note.to_string());
        self.summary = self.summarize(None);
    }

    /// A refused shields up that leaves the locked posture in place: the state becomes
    /// `locked, not verified: <first reason>`; `pins` says what became of the pins found.
    pub(crate) fn set_fail_closed(&mut self, pins: &str) {
        let reason = self.rejected().next().map_or("refused".to_string(), |e| {
            format!("\"{}\" {}", escape_bytes(&e.name), e.reason.name())
        });
        self.fail_closed = Some((format!("locked, not verified: {reason}"), pins.to_string()));
        self.summary = self.summarize(None);
    }

    /// A verify of a directory whose shields are down (exactly the mutable posture): the state
    /// becomes `down`, and the summary says so (`shields` is the shields status's summary).
    pub(crate) fn set_down(&mut self, shields: &str) {
        self.down = true;
        self.note = Some(format!("shields down: {shields}"));
        self.summary = self.summarize(None);
    }

    /// `locked, not verified: <reason>` after a refused shields up (see `set_fail_closed`),
    /// `down` for a verify of a directory whose shields are down.
    pub fn state(&self) -> Option<&str> {
        if self.down {
            return Some("down");
        }
        self.fail_closed.as_ref().map(|(state, _)| state.as_str())
    }

    /// What the call could not do, in words, where there is something to say.
    pub fn note(&self) -> Option<&str> {
        self.note.as_deref()
    }

    pub(crate) fn set_posture(&mut self, locked: Option<bool>) {
        self.posture_locked = locked;
    }

    pub(crate) fn set_seal(&mut self, name: &[u8], result: SealResult) {
        self.seal = Some((name.to_vec(), result));
        self.summary = self.summarize(None);
    }

    /// Whether the directory is in the locked posture ("shields up": the owner, 0755, its
    /// regular files the owner's, 0444), where the call looked (`None` where it did not).
    pub fn posture_locked(&self) -> Option<bool> {
        self.posture_locked
    }

    /// The seal asked for and the result of its check (`None` where none was asked for).
    pub fn seal(&self) -> Option<(&[u8], SealResult)> {
        self.seal.as_ref().map(|(n, r)| (n.as_slice(), *r))
    }

    pub(crate) fn set_data_dir_replaceable(&mut self, why: Option<String>) {
        self.data_dir_replaceable = why;
        self.summary = self.summarize(None);
    }

    /// Why `data_dir` itself can be replaced (its parent fails the safe-path rule, as the
    /// sandbox user's home does), if it can: its links are then checked at call time only.
    /// `pin_data_dir` keeps it in place.
    pub fn data_dir_replaceable(&self) -> Option<&str> {
        self.data_dir_replaceable.as_deref()
    }

    /// Against whom each layer in place holds (`Layer::condition`), and what the call could
    /// not protect: lines for a launcher's log.
    pub fn conditions(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .layers
            .in_place()
            .into_iter()
            .map(|l| format!("{}: {}", l.name(), l.condition()))
            .collect();
        if let Some(why) = &self.data_dir_replaceable {
            if !self.layers.data_dir {
                lines.push(format!(
                    "data_dir: can be replaced ({why}); its links were checked at call time \
                     only (pin it with --pin-data-dir)"
                ));
            }
        }
        lines
    }

    /// The report of a call stopped by `error` before any entry was judged.
    pub fn from_error(operation: Operation, dir: &[u8], error: &Error) -> Self {
        let mut report = Report::new(
            operation,
            dir,
            error.status(),
            Layers::default(),
            Vec::new(),
            Vec::new(),
        );
        report.errno = error.errno();
        report.summary = report.summarize(Some(&error.to_string()));
        report
    }

    /// The report of a call that failed with a bug (a caught panic).
    pub fn internal(operation: Operation, dir: &[u8]) -> Self {
        let mut report = Report::new(
            operation,
            dir,
            Status::Internal,
            Layers::default(),
            Vec::new(),
            Vec::new(),
        );
        report.summary = report.summarize(Some("internal error (a bug): the call was abandoned"));
        report
    }

    /// Turns an error into a failed report, so every face can render both alike.
    pub fn from_result(operation: Operation, dir: &[u8], result: Result<Report, Error>) -> Self {
        result.unwrap_or_else(|e| Report::from_error(operation, dir, &e))
    }

    pub fn operation(&self) -> Operation {
        self.operation
    }
    pub fn dir(&self) -> &[u8] {
        &self.dir
    }
    pub fn status(&self) -> Status {
        self.status
    }
    pub fn layers(&self) -> Layers {
        self.layers
    }
    /// What each layer answered, in the order they were tried.
    pub fn attempts(&self) -> &[LayerAttempt] {
        &self.attempts
    }
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
    /// The errno of an NC_IO_ERROR, 0 otherwise.
    pub fn errno(&self) -> i32 {
        self.errno
    }
    /// One line, safe to log: every byte of a name that is not printable ASCII is escaped.
    pub fn summary(&self) -> &str {
        &self.summary
    }

    /// Entries that break the policy.
    pub fn rejected(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| e.is_rejected())
    }

    /// Entries that were meant to be pinned and are not (after a degraded freeze or verify).
    pub fn unpinned(&self) -> impl Iterator<Item = &Entry> {
        self.entries
            .iter()
            .filter(|e| matches!(e.action, Action::Denied | Action::Unsupported))
    }

    pub fn to_json(&self) -> String {
        json::render(self)
    }

    fn summarize(&self, error: Option<&str>) -> String {
        let head = format!(
            "{} \"{}\": {}",
            self.operation.name(),
            escape_bytes(&self.dir),
            self.status.name()
        );
        if let Some(error) = error {
            return format!("{head}: {}", crate::escape::escape_controls(error));
        }
        if let Some(first) = self
            .rejected()
            .next()
            .filter(|_| self.status == Status::Invalid)
        {
            let after = match (&self.fail_closed, self.operation) {
                (Some((state, pins)), _) => format!(
                    "{state}; the locked posture stays (fail-closed: the sandbox user has lost \
                     write access), nothing is pinned by this call{}{pins}; next: fix it and \
                     repeat, --reseal to accept the current bytes, or shields down (unfreeze \
                     --hand-to)",
                    if pins.is_empty() { "" } else { "; " }
                ),
                (None, operation) => match operation {
                    Operation::Verify if self.layers.any() => format!(
                        "verify changes nothing: the directory stays pinned ({})",
                        self.layers.names().join("+")
                    ),
                    Operation::Verify => {
                        "verify changes nothing: the directory is not pinned".into()
                    }
                    _ if self.layers.any() => format!(
                        "nothing this call added is left; pinned from before: {}",
                        self.layers.names().join("+")
                    ),
                    _ => "nothing left changed".into(),
                },
            };
            return format!(
                "{head}: {} of {} records (the directory and its entries) break the policy \
                 (first \"{}\": {}); {after}",
                self.rejected().count(),
                self.entries.len(),
                escape_bytes(&first.name),
                first.reason.describe()
            );
        }
        let mut counts: Vec<(Action, usize)> = Vec::new();
        for entry in &self.entries {
            match counts.iter_mut().find(|(a, _)| *a == entry.action) {
                Some((_, n)) => *n += 1,
                None => counts.push((entry.action, 1)),
            }
        }
        let counts: Vec<String> = counts
            .iter()
            .map(|(a, n)| format!("{n} {}", a.phrase()))
            .collect();
        let layers = self.layers.names();
        let mut line = format!(
            "{head}: {} records, the directory and its entries ({}); layers: {}",
            self.entries.len(),
            counts.join(", "),
            if layers.is_empty() {
                "none".to_string()
            } else {
                layers.join("+")
            }
        );
        if let Some((name, result)) = &self.seal {
            line.push_str(&format!(
                "; seal \"{}\": {}",
                escape_bytes(name),
                result.name()
            ));
        }
        if let Some(note) = &self.note {
            line.push_str("; ");
            line.push_str(note);
        }
        if self.data_dir_replaceable.is_some() && !self.layers.data_dir {
            line.push_str(
                "; data_dir replaceable by whoever controls its parent (--pin-data-dir fixes its names)",
            );
        }
        let failed = |a: &&LayerAttempt| matches!(a.action, Action::Denied | Action::Unsupported);
        for a in self.attempts.iter().filter(failed) {
            line.push_str(&format!("; {}: {}", a.layer.name(), a.action.phrase()));
            if a.errno != 0 {
                line.push_str(&format!(" ({})", errno_text(a.errno)));
            }
            if a.action == Action::Denied {
                line.push_str(&format!(", needs {}", a.layer.capability()));
            }
        }
        line
    }
}
