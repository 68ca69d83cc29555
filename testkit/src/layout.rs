//! The NemoClaw layout of `shared/design/workload.md`, built under a root `R` that stands in
//! for `/sandbox`, and the cases a correct check rejects, each applied alone on variant B.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The sandbox user of the image.
pub const SANDBOX_UID: u32 = 998;

/// Directory links of variant A.
pub const DIR_LINKS_A: [&str; 12] = [
    "agents",
    "extensions",
    "workspace",
    "skills",
    "hooks",
    "identity",
    "devices",
    "canvas",
    "cron",
    "memory",
    "telegram",
    "credentials",
];
/// File links of both variants.
pub const FILE_LINKS: [&str; 2] = ["update-check.json", "exec-approvals.json"];
/// Directory links variant B adds.
pub const DIR_LINKS_B: [&str; 5] = ["logs", "sandbox", "flows", "plugin-runtime-deps", "media"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    A,
    B,
    /// Variant B plus this many extra directory links `x0 .. x{K-1}`.
    Scaling(usize),
}

/// A built layout: `root/.openclaw` (the directory nc-harden pins) and `root/.openclaw-data`.
#[derive(Clone, Debug)]
pub struct Layout {
    pub root: PathBuf,
    pub dir: PathBuf,
    pub data: PathBuf,
    /// Owner of `dir` and its regular files: 0 when built as root, else the builder's uid.
    pub owner: u32,
    /// Owner of the data directory: SANDBOX_UID when built as root.
    pub sandbox: u32,
}

fn chown(path: &Path, uid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid))
}

fn write_file(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let mut f = fs::File::create(path)?;
    f.write_all(contents)?;
    f.set_permissions(fs::Permissions::from_mode(mode))
}

fn random_hex(bytes: usize) -> io::Result<String> {
    let mut buf = vec![0u8; bytes];
    fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

impl Layout {
    /// Builds the layout under `root` (an existing, empty directory).
    pub fn build(root: &Path, variant: Variant) -> io::Result<Layout> {
        // SAFETY: geteuid cannot fail.
        let euid = unsafe { libc::geteuid() };
        let (owner, sandbox) = if euid == 0 {
            (0, SANDBOX_UID)
        } else {
            (euid, euid)
        };
        let layout = Layout {
            root: root.to_path_buf(),
            dir: root.join(".openclaw"),
            data: root.join(".openclaw-data"),
            owner,
            sandbox,
        };
        fs::create_dir(&layout.data)?;
        fs::create_dir(&layout.dir)?;
        fs::set_permissions(&layout.dir, fs::Permissions::from_mode(0o755))?;
        fs::set_permissions(&layout.data, fs::Permissions::from_mode(0o755))?;
        let dir_links: Vec<String> = match variant {
            Variant::A => DIR_LINKS_A.iter().map(|s| s.to_string()).collect(),
            Variant::B => DIR_LINKS_A
                .iter()
                .chain(&DIR_LINKS_B)
                .map(|s| s.to_string())
                .collect(),
            Variant::Scaling(k) => DIR_LINKS_A
                .iter()
                .chain(&DIR_LINKS_B)
                .map(|s| s.to_string())
                .chain((0..k).map(|i| format!("x{i}")))
                .collect(),
        };
        for name in &dir_links {
            fs::create_dir(layout.data.join(name))?;
            layout.link(name)?;
        }
        fs::create_dir_all(layout.data.join("agents/main/agent"))?;
        for name in FILE_LINKS {
            write_file(&layout.data.join(name), b"", 0o644)?;
            layout.link(name)?;
        }
        if variant != Variant::A {
            symlink(
                layout.data.join("media"),
                layout.data.join("workspace/media"),
            )?;
        }
        let config = format!(
            "{{\"gateway\":{{\"auth\":{{\"token\":\"{}\"}}}}}}\n",
            random_hex(32)?
        );
        write_file(&layout.dir.join("openclaw.json"), config.as_bytes(), 0o444)?;
        let hash = sha256_line(&layout.dir, "openclaw.json")?;
        write_file(&layout.dir.join(".config-hash"), hash.as_bytes(), 0o444)?;
        if variant != Variant::A {
            write_file(
                &layout.dir.join("openclaw.json.bak"),
                config.as_bytes(),
                0o600,
            )?;
        }
        if euid == 0 {
            chown_tree(&layout.data, sandbox)?;
        }
        Ok(layout)
    }

    /// `dir/name -> data/name`.
    pub fn link(&self, name: &str) -> io::Result<()> {
        symlink(self.data.join(name), self.dir.join(name))
    }

    /// Every entry name of `dir`, as built.
    pub fn entry_names(&self) -> io::Result<Vec<String>> {
        let mut names: Vec<String> = fs::read_dir(&self.dir)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<io::Result<_>>()?;
        names.sort();
        Ok(names)
    }

    /// The regular files of `dir`.
    pub fn regular_files(&self) -> io::Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                files.push(entry.path());
            }
        }
        Ok(files)
    }
}

/// `cd dir && sha256sum name`, as NemoClaw writes its `.config-hash`.
pub fn sha256_line(dir: &Path, name: &str) -> io::Result<String> {
    let out = std::process::Command::new("sha256sum")
        .arg(name)
        .current_dir(dir)
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other("sha256sum failed"));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn chown_tree(path: &Path, uid: u32) -> io::Result<()> {
    chown(path, uid)?;
    if fs::symlink_metadata(path)?.is_dir() {
        for entry in fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid)?;
        }
    }
    Ok(())
}

/// What a correct check must answer for a case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// NC_INVALID, naming this entry (the directory itself is ".") with this reason.
    Rejected {
        entry: Vec<u8>,
        reason: &'static str,
    },
    /// NC_UNSAFE_PATH.
    UnsafePath,
}

/// One rejection case of workload.md, ready to be checked.
#[derive(Clone, Debug)]
pub struct Case {
    pub dir: PathBuf,
    pub data: PathBuf,
    pub require: Vec<&'static str>,
    pub expect: Expect,
}

/// The cases a correct check rejects, each alone, on top of variant B.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tamper {
    RepointedLink,
    RelativeLink,
    TwoHopChain,
    DataEntryIsSymlink,
    DanglingLink,
    ExtraLinkWithoutCounterpart,
    DotfileLinkElsewhere,
    StrayFileOwnedBySandbox,
    StrayFileGroupWritable,
    StrayFileWorldWritable,
    StrayFileHardLinked,
    Subdirectory,
    Fifo,
    Socket,
    DeviceNode,
    DirOwnedBySandbox,
    DirMode0777,
    SymlinkInDirPath,
    SymlinkInDataDirPath,
    RequiredNameMissing,
}

impl Tamper {
    pub const ALL: [Tamper; 20] = [
        Tamper::RepointedLink,
        Tamper::RelativeLink,
        Tamper::TwoHopChain,
        Tamper::DataEntryIsSymlink,
        Tamper::DanglingLink,
        Tamper::ExtraLinkWithoutCounterpart,
        Tamper::DotfileLinkElsewhere,
        Tamper::StrayFileOwnedBySandbox,
        Tamper::StrayFileGroupWritable,
        Tamper::StrayFileWorldWritable,
        Tamper::StrayFileHardLinked,
        Tamper::Subdirectory,
        Tamper::Fifo,
        Tamper::Socket,
        Tamper::DeviceNode,
        Tamper::DirOwnedBySandbox,
        Tamper::DirMode0777,
        Tamper::SymlinkInDirPath,
        Tamper::SymlinkInDataDirPath,
        Tamper::RequiredNameMissing,
    ];

    pub fn name(self) -> String {
        let debug = format!("{self:?}");
        let mut out = String::new();
        for (i, c) in debug.chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        }
        out
    }

    /// Needs root (chown to another uid, mknod).
    pub fn needs_root(self) -> bool {
        matches!(
            self,
            Tamper::StrayFileOwnedBySandbox | Tamper::DeviceNode | Tamper::DirOwnedBySandbox
        )
    }

    /// Applies the case to a freshly built variant-B layout.
    pub fn apply(self, l: &Layout) -> io::Result<Case> {
        let rejected = |entry: &str, reason: &'static str| Expect::Rejected {
            entry: entry.as_bytes().to_vec(),
            reason,
        };
        let mut case = Case {
            dir: l.dir.clone(),
            data: l.data.clone(),
            require: vec![],
            expect: Expect::UnsafePath,
        };
        let repoint = |name: &str, target: &Path| -> io::Result<()> {
            fs::remove_file(l.dir.join(name))?;
            symlink(target, l.dir.join(name))
        };
        case.expect = match self {
            Tamper::RepointedLink => {
                repoint("hooks", Path::new("/tmp/evil"))?;
                rejected("hooks", "link_target_mismatch")
            }
            Tamper::RelativeLink => {
                repoint("hooks", Path::new("../.openclaw-data/hooks"))?;
                rejected("hooks", "link_target_mismatch")
            }
            Tamper::TwoHopChain => {
                fs::create_dir(l.root.join("elsewhere"))?;
                symlink(l.data.join("hooks"), l.root.join("elsewhere/hop"))?;
                repoint("hooks", &l.root.join("elsewhere/hop"))?;
                rejected("hooks", "link_target_mismatch")
            }
            Tamper::DataEntryIsSymlink => {
                fs::remove_dir(l.data.join("hooks"))?;
                symlink("/etc", l.data.join("hooks"))?;
                rejected("hooks", "data_entry_is_symlink")
            }
            Tamper::DanglingLink => {
                fs::remove_dir(l.data.join("hooks"))?;
                rejected("hooks", "data_entry_missing")
            }
            Tamper::ExtraLinkWithoutCounterpart => {
                l.link("plugins")?;
                rejected("plugins", "data_entry_missing")
            }
            Tamper::DotfileLinkElsewhere => {
                symlink("/etc", l.dir.join(".evil"))?;
                rejected(".evil", "link_target_mismatch")
            }
            Tamper::StrayFileOwnedBySandbox => {
                write_file(&l.dir.join("stray.json"), b"{}", 0o644)?;
                chown(&l.dir.join("stray.json"), SANDBOX_UID)?;
                rejected("stray.json", "owner_mismatch")
            }
            Tamper::StrayFileGroupWritable => {
                write_file(&l.dir.join("stray.json"), b"{}", 0o664)?;
                rejected("stray.json", "writable_by_others")
            }
            Tamper::StrayFileWorldWritable => {
                write_file(&l.dir.join("stray.json"), b"{}", 0o646)?;
                rejected("stray.json", "writable_by_others")
            }
            Tamper::StrayFileHardLinked => {
                write_file(&l.dir.join("stray.json"), b"{}", 0o644)?;
                fs::hard_link(l.dir.join("stray.json"), l.root.join("stray-link"))?;
                rejected("stray.json", "hard_linked")
            }
            Tamper::Subdirectory => {
                fs::create_dir(l.dir.join("sub"))?;
                rejected("sub", "unexpected_directory")
            }
            Tamper::Fifo => {
                mknod(&l.dir.join("pipe"), libc::S_IFIFO | 0o644, 0)?;
                rejected("pipe", "unexpected_fifo")
            }
            Tamper::Socket => {
                let _listener = std::os::unix::net::UnixListener::bind(l.dir.join("sock"))?;
                rejected("sock", "unexpected_socket")
            }
            Tamper::DeviceNode => {
                mknod(
                    &l.dir.join("null"),
                    libc::S_IFCHR | 0o644,
                    libc::makedev(1, 3),
                )?;
                rejected("null", "unexpected_device")
            }
            Tamper::DirOwnedBySandbox => {
                chown(&l.dir, SANDBOX_UID)?;
                rejected(".", "owner_mismatch")
            }
            Tamper::DirMode0777 => {
                fs::set_permissions(&l.dir, fs::Permissions::from_mode(0o777))?;
                rejected(".", "writable_by_others")
            }
            Tamper::SymlinkInDirPath => {
                symlink(&l.root, l.root.join("alias"))?;
                case.dir = l.root.join("alias/.openclaw");
                Expect::UnsafePath
            }
            Tamper::SymlinkInDataDirPath => {
                symlink(&l.root, l.root.join("alias"))?;
                case.data = l.root.join("alias/.openclaw-data");
                Expect::UnsafePath
            }
            Tamper::RequiredNameMissing => {
                case.require = vec!["openclaw.json", "models.json"];
                rejected("models.json", "required_missing")
            }
        };
        Ok(case)
    }
}

fn mknod(path: &Path, mode: u32, dev: libc::dev_t) -> io::Result<()> {
    let p = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())?;
    // SAFETY: `p` is NUL-terminated.
    if unsafe { libc::mknod(p.as_ptr(), mode, dev) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Owner uid of a path, not following links.
pub fn owner_of(path: &Path) -> io::Result<u32> {
    Ok(fs::symlink_metadata(path)?.uid())
}

/// The policy, checked from outside with std::fs alone (never through nc-harden): every
/// entry of `dir` as the contract wants it, and `required` present. Not the data directory,
/// which is the sandbox user's and is checked by nc-harden at call time only.
pub fn check_from_outside(l: &Layout, required: &[&str]) -> Result<(), String> {
    use std::os::unix::ffi::OsStrExt;
    let meta = fs::symlink_metadata(&l.dir).map_err(|e| e.to_string())?;
    if !meta.is_dir() || meta.uid() != l.owner || meta.mode() & 0o022 != 0 {
        return Err(format!("the directory itself: {meta:?}"));
    }
    let mut names = Vec::new();
    for entry in fs::read_dir(&l.dir).map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        let (name, path) = (entry.file_name(), entry.path());
        let m = fs::symlink_metadata(&path).map_err(|e| e.to_string())?;
        if m.file_type().is_symlink() {
            let target = fs::read_link(&path).map_err(|e| e.to_string())?;
            let expected = [l.data.as_os_str().as_bytes(), b"/", name.as_bytes()].concat();
            if target.as_os_str().as_bytes() != expected.as_slice() {
                return Err(format!("{name:?} -> {target:?}"));
            }
        } else if !(m.is_file() && m.uid() == l.owner && m.mode() & 0o022 == 0 && m.nlink() == 1) {
            return Err(format!("{name:?}: {m:?}"));
        }
        names.push(name);
    }
    match required
        .iter()
        .find(|r| !names.iter().any(|n| n == std::ffi::OsStr::new(r)))
    {
        Some(missing) => Err(format!("{missing} is missing")),
        None => Ok(()),
    }
}

/// Variant F of the workload: NemoClaw's flat configuration directory (no data directory),
/// `root/.openclaw` with `openclaw.json` and its `.config-hash`, in the mutable default
/// posture: sandbox:sandbox, 2770, both files 0660 (built as a plain user: that user's).
#[derive(Clone, Debug)]
pub struct Flat {
    pub root: PathBuf,
    pub dir: PathBuf,
    /// The sandbox user: owner of the mutable posture.
    pub sandbox: u32,
}

impl Flat {
    pub fn build(root: &Path) -> io::Result<Flat> {
        // SAFETY: geteuid cannot fail.
        let euid = unsafe { libc::geteuid() };
        let sandbox = if euid == 0 { SANDBOX_UID } else { euid };
        let flat = Flat {
            root: root.to_path_buf(),
            dir: root.join(".openclaw"),
            sandbox,
        };
        fs::create_dir(&flat.dir)?;
        let config = format!(
            "{{\"gateway\":{{\"auth\":{{\"token\":\"{}\"}}}}}}\n",
            random_hex(32)?
        );
        write_file(&flat.dir.join("openclaw.json"), config.as_bytes(), 0o660)?;
        let hash = sha256_line(&flat.dir, "openclaw.json")?;
        write_file(&flat.dir.join(".config-hash"), hash.as_bytes(), 0o660)?;
        if euid == 0 {
            chown_tree(&flat.dir, sandbox)?;
        }
        fs::set_permissions(&flat.dir, fs::Permissions::from_mode(0o2770))?;
        Ok(flat)
    }
}
