//! Shields profiles: what "shields up" and "shields down" mean for one configuration
//! directory, declared in TOML (docs/profiles.md) and resolved at call time (users and groups
//! by name from /etc/passwd and /etc/group). Pure: no syscall but reading those two files and
//! a profile file the caller names.

#![forbid(unsafe_code)]

use serde::Deserialize;

use crate::error::Error;

pub(crate) mod builtin;

/// The built-in profiles, as shipped under `share/nc-harden/profiles/`.
pub const BUILTIN: [(&str, &str); 2] = [
    (
        "openclaw",
        include_str!("../../share/nc-harden/profiles/openclaw.toml"),
    ),
    (
        "hermes",
        include_str!("../../share/nc-harden/profiles/hermes.toml"),
    ),
];

/// The largest profile file read.
const PROFILE_MAX: u64 = 256 * 1024;

#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct File {
    format: u32,
    name: String,
    dir: String,
    identity: Identity,
    parent: Postures,
    directory: Postures,
    files: Files,
    seal: Option<SealSpec>,
    trees: Trees,
    classes: Classes,
    budgets: Budgets,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
#[serde(deny_unknown_fields)]
struct Identity {
    user: String,
    group: String,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
#[serde(deny_unknown_fields)]
struct Postures {
    locked: PostureSpec,
    mutable: PostureSpec,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
#[serde(deny_unknown_fields)]
struct PostureSpec {
    owner: String,
    group: String,
    mode: String,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileRuleSpec {
    owner: String,
    group: String,
    keep: String,
    add: Option<String>,
    #[serde(default)]
    group_x_follows: bool,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
#[serde(deny_unknown_fields)]
struct Files {
    names: Vec<String>,
    locked: PostureSpec,
    mutable: PostureSpec,
    others: Others,
}

/// What becomes of a regular file of `dir` that the profile does not name.
#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Others {
    /// Locked with the protected files; the seal must name it (`--reseal` adds it).
    Seal,
    /// Left the sandbox user's, and reported.
    Keep,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
#[serde(deny_unknown_fields)]
struct SealSpec {
    file: String,
    form: SealForm,
    names: Vec<String>,
}

/// How the names of a seal are written: `openclaw.json` (NemoClaw's guards, after each lock)
/// or `/sandbox/.openclaw/openclaw.json` (its images, at build time). Both are read.
#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SealForm {
    Relative,
    Absolute,
}

impl SealForm {
    pub fn name(self) -> &'static str {
        match self {
            SealForm::Relative => "relative",
            SealForm::Absolute => "absolute",
        }
    }
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Trees {
    high_risk: Vec<String>,
    confidential: Vec<String>,
    carve_outs: Vec<String>,
    keep: Vec<String>,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Classes {
    high_risk: ClassSpec,
    confidential: ClassSpec,
    unlocked: ClassSpec,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
#[serde(deny_unknown_fields)]
struct ClassSpec {
    dir: PostureSpec,
    file: FileRuleSpec,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
#[serde(deny_unknown_fields)]
struct Budgets {
    depth: u32,
    entries: u64,
    bytes: u64,
}

/// Owner, group and mode, resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Posture {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

impl Posture {
    pub fn describe(&self) -> String {
        format!("{}:{} {:04o}", self.uid, self.gid, self.mode)
    }
}

/// A regular file's posture in a tree: the owner and group, and the mode computed from the
/// file's own: `(mode & keep) | add`, with g+x where anyone had x when `group_x_follows`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileRule {
    pub uid: u32,
    pub gid: u32,
    pub keep: u32,
    pub add: u32,
    pub group_x_follows: bool,
}

impl FileRule {
    pub fn mode_for(&self, old: u32) -> u32 {
        let mut mode = (old & self.keep) | self.add;
        if self.group_x_follows && old & 0o111 != 0 {
            mode |= 0o010;
        }
        mode
    }
}

/// What a tree's directories and files become.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassPosture {
    pub dir: Posture,
    pub file: FileRule,
}

/// The class of a state tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TreeClass {
    /// Readable by the gateway (group sandbox), writable by root alone.
    HighRisk,
    /// Root's alone.
    Confidential,
}

impl TreeClass {
    pub fn name(self) -> &'static str {
        match self {
            TreeClass::HighRisk => "high-risk",
            TreeClass::Confidential => "confidential",
        }
    }
}

/// The seal of a profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seal {
    pub file: Vec<u8>,
    pub form: SealForm,
    pub names: Vec<Vec<u8>>,
}

/// A profile resolved for one call: every name a number, every mode a number.
#[derive(Clone, Debug)]
pub struct Profile {
    pub name: String,
    pub dir: Vec<u8>,
    pub sandbox_uid: u32,
    pub sandbox_gid: u32,
    pub parent_locked: Posture,
    pub parent_mutable: Posture,
    pub dir_locked: Posture,
    pub dir_mutable: Posture,
    pub files: Vec<Vec<u8>>,
    pub file_locked: Posture,
    pub file_mutable: Posture,
    pub others: Others,
    pub seal: Option<Seal>,
    pub high_risk: Vec<Vec<u8>>,
    pub confidential: Vec<Vec<u8>>,
    pub carve_outs: Vec<Vec<Vec<u8>>>,
    pub keep: Vec<Vec<u8>>,
    pub high_risk_posture: ClassPosture,
    pub confidential_posture: ClassPosture,
    pub unlocked_posture: ClassPosture,
    pub max_depth: u32,
    pub max_entries: u64,
    pub max_bytes: u64,
}

/// The user and group databases, read once per call; each name looked up once (a profile
/// names `root` and `sandbox` some twenty times).
pub struct Accounts {
    passwd: Vec<u8>,
    group: Vec<u8>,
    /// (a group?, name, id) of the names looked up so far.
    found: std::cell::RefCell<Vec<(bool, String, u32)>>,
}

impl Accounts {
    /// `/etc/passwd` and `/etc/group` (read, not asked of NSS: the static CLI has no modules).
    pub fn system() -> Result<Accounts, Error> {
        let read =
            |path: &str| std::fs::read(path).map_err(|e| Error::io(format!("reading {path}"), e));
        Ok(Accounts {
            passwd: read("/etc/passwd")?,
            group: read("/etc/group")?,
            found: Default::default(),
        })
    }

    pub fn from_bytes(passwd: &[u8], group: &[u8]) -> Accounts {
        Accounts {
            passwd: passwd.to_vec(),
            group: group.to_vec(),
            found: Default::default(),
        }
    }

    fn lookup(db: &[u8], name: &str) -> Option<u32> {
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
            return name.parse().ok().filter(|&id| id != u32::MAX);
        }
        db.split(|&b| b == b'\n').find_map(|line| {
            let mut fields = line.split(|&b| b == b':');
            if fields.next()? != name.as_bytes() {
                return None;
            }
            let id = fields.nth(1)?;
            std::str::from_utf8(id).ok()?.parse().ok()
        })
    }

    fn cached(&self, group: bool, name: &str) -> Option<u32> {
        let found = |f: &(bool, String, u32)| f.0 == group && f.1 == name;
        if let Some(f) = self.found.borrow().iter().find(|f| found(f)) {
            return Some(f.2);
        }
        let id = Self::lookup(if group { &self.group } else { &self.passwd }, name)?;
        self.found.borrow_mut().push((group, name.to_string(), id));
        Some(id)
    }

    pub fn uid(&self, name: &str) -> Result<u32, Error> {
        self.cached(false, name)
            .ok_or_else(|| Error::bad(format!("profile: no user {name:?} in /etc/passwd")))
    }

    pub fn gid(&self, name: &str) -> Result<u32, Error> {
        self.cached(true, name)
            .ok_or_else(|| Error::bad(format!("profile: no group {name:?} in /etc/group")))
    }
}

fn mode(text: &str, what: &str) -> Result<u32, Error> {
    u32::from_str_radix(text, 8)
        .ok()
        .filter(|&m| m <= 0o7777 && !text.is_empty() && text.len() <= 5)
        .ok_or_else(|| Error::bad(format!("profile: {what}: {text:?} is not an octal mode")))
}

fn posture(spec: &PostureSpec, accounts: &Accounts, what: &str) -> Result<Posture, Error> {
    Ok(Posture {
        uid: accounts.uid(&spec.owner)?,
        gid: accounts.gid(&spec.group)?,
        mode: mode(&spec.mode, what)?,
    })
}

fn class(spec: &ClassSpec, accounts: &Accounts, what: &str) -> Result<ClassPosture, Error> {
    Ok(ClassPosture {
        dir: posture(&spec.dir, accounts, what)?,
        file: FileRule {
            uid: accounts.uid(&spec.file.owner)?,
            gid: accounts.gid(&spec.file.group)?,
            // Set-id and sticky bits never survive: a root-owned set-uid file is not made.
            keep: mode(&spec.file.keep, what)? & 0o777,
            add: match &spec.file.add {
                Some(add) => mode(add, what)? & 0o777,
                None => 0,
            },
            group_x_follows: spec.file.group_x_follows,
        },
    })
}

/// A name of `dir` itself: one component, not `.` or `..`, no NUL.
fn entry_name(name: &str, what: &str) -> Result<Vec<u8>, Error> {
    match name {
        "" | "." | ".." => Err(Error::bad(format!(
            "profile: {what}: {name:?} is not a name"
        ))),
        n if n.contains('/') || n.contains('\0') || n.len() > 255 => Err(Error::bad(format!(
            "profile: {what}: {name:?} is not one name of the directory"
        ))),
        n => Ok(n.as_bytes().to_vec()),
    }
}

/// Whether `name` matches `pattern`, where `*` stands for any run of bytes (within one name).
pub fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.iter().position(|&b| b == b'*') {
        None => pattern == name,
        Some(star) => {
            let (prefix, rest) = (&pattern[..star], &pattern[star + 1..]);
            if !name.starts_with(prefix) {
                return false;
            }
            let tail = &name[prefix.len()..];
            (0..=tail.len()).any(|i| glob_match(rest, &tail[i..]))
        }
    }
}

impl Profile {
    /// A built-in profile by name, or a profile file by path (anything with a `/`).
    pub fn load(name_or_path: &str, accounts: &Accounts) -> Result<Profile, Error> {
        if let Some(spec) = builtin::spec(name_or_path) {
            return Profile::resolve(spec, accounts);
        }
        if !name_or_path.contains('/') {
            let known: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
            return Err(Error::bad(format!(
                "no built-in profile {name_or_path:?} (built in: {}; or give a file's path)",
                known.join(", ")
            )));
        }
        use std::io::Read;
        use std::os::unix::fs::OpenOptionsExt;
        // The path as a log line can carry it (a newline in it forges no line).
        let shown = crate::escape::escape_bytes(name_or_path.as_bytes());
        // Never blocks: a FIFO (or a device) put where the profile is expected is opened
        // with O_NONBLOCK and refused by its type, not waited on.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(name_or_path)
            .map_err(|e| Error::io(format!("opening the profile {shown}"), e))?;
        let kind = file
            .metadata()
            .map_err(|e| Error::io(format!("examining the profile {shown}"), e))?
            .file_type();
        if kind.is_dir() {
            // As reading it says (and said before the type was looked at).
            return Err(Error::io(
                format!("reading the profile {shown}"),
                std::io::Error::from_raw_os_error(libc::EISDIR),
            ));
        }
        if !kind.is_file() {
            return Err(Error::bad(format!(
                "the profile {shown} is not a regular file"
            )));
        }
        let mut text = String::new();
        file.take(PROFILE_MAX + 1)
            .read_to_string(&mut text)
            .map_err(|e| Error::io(format!("reading the profile {shown}"), e))?;
        if text.len() as u64 > PROFILE_MAX {
            return Err(Error::bad(format!(
                "the profile {shown} is larger than 256 KiB"
            )));
        }
        Profile::parse(&text, accounts)
    }

    /// Parses and resolves a profile's text.
    pub fn parse(text: &str, accounts: &Accounts) -> Result<Profile, Error> {
        let file: File =
            toml::from_str(text).map_err(|e| Error::bad(format!("profile: {}", e.message())))?;
        Profile::resolve(file, accounts)
    }

    /// Checks and resolves a profile's declaration.
    fn resolve(file: File, accounts: &Accounts) -> Result<Profile, Error> {
        if file.format != 1 {
            return Err(Error::bad(format!(
                "profile: format {} (this nc-harden reads format 1)",
                file.format
            )));
        }
        let names = |list: &[String], what: &str| -> Result<Vec<Vec<u8>>, Error> {
            list.iter().map(|n| entry_name(n, what)).collect()
        };
        let files = names(&file.files.names, "files.names")?;
        let seal = match &file.seal {
            None => None,
            Some(s) => {
                let seal_file = entry_name(&s.file, "seal.file")?;
                let sealed = names(&s.names, "seal.names")?;
                if sealed.contains(&seal_file) {
                    return Err(Error::bad("profile: the seal cannot name itself"));
                }
                if !files.contains(&seal_file) || sealed.iter().any(|n| !files.contains(n)) {
                    return Err(Error::bad(
                        "profile: the seal and the files it names must be protected files",
                    ));
                }
                Some(Seal {
                    file: seal_file,
                    form: s.form,
                    names: sealed,
                })
            }
        };
        let carve_outs = file
            .trees
            .carve_outs
            .iter()
            .map(|c| {
                let parts: Vec<Vec<u8>> = c.split('/').map(|p| p.as_bytes().to_vec()).collect();
                if parts.len() < 2
                    || parts
                        .iter()
                        .any(|p| p.is_empty() || p == b"." || p == b"..")
                {
                    return Err(Error::bad(format!(
                        "profile: carve-out {c:?} is not a relative path inside a tree"
                    )));
                }
                Ok(parts)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let dir = file.dir.as_bytes().to_vec();
        if !dir.starts_with(b"/")
            || dir.len() < 2
            || dir.ends_with(b"/")
            || dir
                .split(|&b| b == b'/')
                .skip(1)
                .any(|c| c.is_empty() || c == b"." || c == b"..")
        {
            return Err(Error::bad(format!(
                "profile: dir {:?} is not an absolute, normalized path below /",
                file.dir
            )));
        }
        Ok(Profile {
            name: file.name,
            dir,
            sandbox_uid: accounts.uid(&file.identity.user)?,
            sandbox_gid: accounts.gid(&file.identity.group)?,
            parent_locked: posture(&file.parent.locked, accounts, "parent.locked")?,
            parent_mutable: posture(&file.parent.mutable, accounts, "parent.mutable")?,
            dir_locked: posture(&file.directory.locked, accounts, "directory.locked")?,
            dir_mutable: posture(&file.directory.mutable, accounts, "directory.mutable")?,
            files,
            file_locked: posture(&file.files.locked, accounts, "files.locked")?,
            file_mutable: posture(&file.files.mutable, accounts, "files.mutable")?,
            others: file.files.others,
            seal,
            high_risk: names(&file.trees.high_risk, "trees.high-risk")?,
            confidential: names(&file.trees.confidential, "trees.confidential")?,
            carve_outs,
            keep: names(&file.trees.keep, "trees.keep")?,
            high_risk_posture: class(&file.classes.high_risk, accounts, "classes.high-risk")?,
            confidential_posture: class(
                &file.classes.confidential,
                accounts,
                "classes.confidential",
            )?,
            unlocked_posture: class(&file.classes.unlocked, accounts, "classes.unlocked")?,
            max_depth: file.budgets.depth,
            max_entries: file.budgets.entries,
            max_bytes: file.budgets.bytes,
        })
    }

    /// The same profile for another directory (`--dir`).
    pub fn with_dir(mut self, dir: &[u8]) -> Result<Profile, Error> {
        if !dir.starts_with(b"/")
            || dir.len() < 2
            || dir.ends_with(b"/")
            || dir
                .split(|&b| b == b'/')
                .skip(1)
                .any(|c| c.is_empty() || c == b"." || c == b"..")
        {
            return Err(Error::bad(
                "dir must be an absolute, normalized path below /",
            ));
        }
        self.dir = dir.to_vec();
        Ok(self)
    }

    /// The class of a root name of `dir`, if it is a state tree.
    pub fn tree_class(&self, name: &[u8]) -> Option<TreeClass> {
        if self.confidential.iter().any(|p| glob_match(p, name)) {
            Some(TreeClass::Confidential)
        } else if self.high_risk.iter().any(|p| glob_match(p, name)) {
            Some(TreeClass::HighRisk)
        } else {
            None
        }
    }

    pub fn class_posture(&self, class: TreeClass) -> &ClassPosture {
        match class {
            TreeClass::HighRisk => &self.high_risk_posture,
            TreeClass::Confidential => &self.confidential_posture,
        }
    }

    /// Whether the path (components relative to `dir`) is a carve-out or lies inside one.
    pub fn in_carve_out(&self, components: &[&[u8]]) -> bool {
        self.carve_outs.iter().any(|c| {
            components.len() >= c.len() && c.iter().zip(components).all(|(p, n)| glob_match(p, n))
        })
    }

    /// Whether a carve-out lies strictly beneath the path (components relative to `dir`): a
    /// symlink to it would reach the carve-out's writable entries through a protected tree.
    pub fn holds_carve_out(&self, components: &[&[u8]]) -> bool {
        self.carve_outs.iter().any(|c| {
            components.len() < c.len() && c.iter().zip(components).all(|(p, n)| glob_match(p, n))
        })
    }

    /// The parent directory of `dir` and `dir`'s own name.
    pub fn split_dir(&self) -> (&[u8], &[u8]) {
        let slash = self.dir.iter().rposition(|&b| b == b'/').expect("absolute");
        let parent = if slash == 0 {
            &b"/"[..]
        } else {
            &self.dir[..slash]
        };
        (parent, &self.dir[slash + 1..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accounts() -> Accounts {
        Accounts::from_bytes(
            b"root:x:0:0::/root:/bin/sh\nsandbox:x:998:998::/sandbox:/bin/sh\n",
            b"root:x:0:\nsandbox:x:998:gateway\n",
        )
    }

    #[test]
    fn a_profile_path_is_escaped_and_only_a_regular_file_read() {
        let refused = |path: &str| match Profile::load(path, &accounts()) {
            Ok(_) => panic!("{path:?} loaded"),
            Err(e) => e,
        };
        let text = refused("/nonexistent/\n[SECURITY] forged\x1b[2K").to_string();
        assert!(!text.contains('\n') && !text.contains('\x1b'), "{text}");
        assert!(text.contains("\\n[SECURITY] forged\\x1b"), "{text}");
        let e = refused("/dev/null");
        assert_eq!(e.status(), crate::Status::BadArgument, "{e}");
        assert!(e.to_string().contains("is not a regular file"), "{e}");
        let e = refused("/");
        assert_eq!(e.status(), crate::Status::IoError, "{e}");
        assert_eq!(e.errno(), libc::EISDIR, "{e}");
    }

    #[test]
    fn a_carve_out_s_ancestors_hold_it() {
        let p = Profile::load("openclaw", &accounts()).expect("built in");
        let parts = |s: &'static str| s.split('/').map(str::as_bytes).collect::<Vec<_>>();
        assert!(p.holds_carve_out(&parts("agents")));
        assert!(p.holds_carve_out(&parts("agents/main")));
        assert!(!p.holds_carve_out(&parts("agents/main/sessions")));
        assert!(p.in_carve_out(&parts("agents/main/sessions")));
        assert!(!p.holds_carve_out(&parts("agents/main/agent")));
        assert!(!p.holds_carve_out(&parts("skills")));
    }

    #[test]
    fn the_builtin_profiles_resolve() {
        for (name, _) in BUILTIN {
            let p = Profile::load(name, &accounts()).expect(name);
            assert_eq!(
                p.parent_locked,
                Posture {
                    uid: 0,
                    gid: 998,
                    mode: 0o1775
                }
            );
            assert_eq!(
                p.dir_locked,
                Posture {
                    uid: 0,
                    gid: 0,
                    mode: 0o755
                }
            );
            assert_eq!(p.tree_class(b"workspace-x"), Some(TreeClass::HighRisk));
            assert_eq!(p.tree_class(b"credentials"), Some(TreeClass::Confidential));
            assert!(p.in_carve_out(&[b"agents", b"main", b"sessions", b"x"]));
            assert!(!p.in_carve_out(&[b"agents", b"main", b"agent"]));
        }
        let h = Profile::load("hermes", &accounts()).unwrap();
        assert_eq!(h.dir, b"/sandbox/.hermes");
        assert_eq!(h.dir_mutable.mode, 0o3770);
        assert_eq!(h.file_mutable.mode, 0o640);
        assert_eq!(h.seal.as_ref().unwrap().form, SealForm::Absolute);
    }

    #[test]
    fn unknown_fields_and_bad_modes_are_refused() {
        let text = BUILTIN[0].1;
        let extra = text.replace("format = 1", "format = 1\nsurprise = true");
        assert!(Profile::parse(&extra, &accounts()).is_err());
        let bad = text.replace("mode = \"1775\"", "mode = \"1795\"");
        assert!(Profile::parse(&bad, &accounts()).is_err());
        let nouser = text.replace("user = \"sandbox\"", "user = \"nobody-here\"");
        assert!(Profile::parse(&nouser, &accounts()).is_err());
        assert!(Profile::load("nosuch", &accounts()).is_err());
    }

    #[test]
    fn file_rules_never_keep_set_id_bits() {
        let p = Profile::load("openclaw", &accounts()).unwrap();
        assert_eq!(p.high_risk_posture.file.mode_for(0o4775), 0o755);
        assert_eq!(p.high_risk_posture.file.mode_for(0o660), 0o640);
        assert_eq!(p.confidential_posture.file.mode_for(0o664), 0o600);
        assert_eq!(p.unlocked_posture.file.mode_for(0o644), 0o660);
        assert_eq!(p.unlocked_posture.file.mode_for(0o755), 0o770);
    }

    #[test]
    fn globs() {
        assert!(glob_match(b"workspace-*", b"workspace-"));
        assert!(glob_match(b"*", b"main"));
        assert!(!glob_match(b"workspace-*", b"workspace"));
        assert!(glob_match(b"a*b*c", b"aXXbYc"));
    }
}
