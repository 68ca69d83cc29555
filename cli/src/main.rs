//! `nc-harden`: the shell launcher's face of the engine. It parses arguments, calls the
//! library and renders its report; no policy decision is made here.
//!
//! Exit code: the status code of the contract (64 for a usage error of the CLI's own).
//! Human lines go to stderr, prefixed `[SECURITY] `; `--json` prints the report to stdout.
//!
//! The process starts at the C `main` below, not at std's runtime start (`#![no_main]`):
//! that start reads /proc/self/maps and sets up a signal stack for its stack-overflow message,
//! some 15 system calls and a tenth of a millisecond of every call (BENCHMARKS.md). What of
//! it a root tool needs is done here: descriptors 0 to 2 open, SIGPIPE ignored, stdout
//! flushed, a panic ending in 101.

// (The unit tests keep libtest's own main.)
#![cfg_attr(not(test), no_main)]

mod args;
#[cfg(feature = "demo")]
mod demo;
mod generate;
mod guard;
mod quick;
mod render;
mod shields;

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueHint};
use nc_harden::{HandTo, Operation, Policy, PolicyBuilder, Report, Status, Strategy};

/// EX_USAGE: the contract's "the CLI adds 64 for a usage error of its own".
pub const USAGE_ERROR: u8 = 64;

/// "Exit status: 0 NC_OK, 1 NC_PARTIAL, ...", from the library's own list of statuses. Made
/// once a process: clap asks for it for every subcommand as it builds the command line.
fn exit_status_help() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        let statuses: Vec<String> = Status::all()
            .iter()
            .map(|s| format!("{} {}", s.code(), s.name()))
            .collect();
        format!(
            "Exit status: {}, {USAGE_ERROR} usage error.",
            statuses.join(", ")
        )
    })
}

/// `--help` (and the man page): the exit statuses, then the two workflows by example.
fn examples_help() -> String {
    format!(
        "{}

Examples:
  The symlink layout (a launcher, as root, before the agent starts):
    nc-harden freeze --dir /sandbox/.openclaw --data-dir /sandbox/.openclaw-data --require openclaw.json
    nc-harden verify --dir /sandbox/.openclaw --data-dir /sandbox/.openclaw-data
    nc-harden unfreeze --dir /sandbox/.openclaw --data-dir /sandbox/.openclaw-data

  NemoClaw's shields over the built-in profile (variant H, /sandbox/.openclaw):
    nc-harden shields up --reseal        # lock the parent, the state trees, the protected files; seal; pin
    nc-harden shields status             # 0 up, 2 up but not pinned, 4 down, 10 neither
    nc-harden shields down               # hand back exactly what shields up locked

  A flat directory's shields (the config and its seal):
    nc-harden freeze --dir /sandbox/.openclaw --lock-posture --seal .config-hash --reseal
    nc-harden unfreeze --dir /sandbox/.openclaw --hand-to sandbox:sandbox --dir-mode 2770 --file-mode 0660

  Add --json for the report entry by entry; `nc-harden COMMAND --help` for each command.",
        exit_status_help()
    )
}

#[derive(Parser)]
#[cfg_attr(test, derive(Debug, PartialEq))]
#[command(
    name = "nc-harden",
    version,
    after_long_help = examples_help(),
    about = "Validate an agent's configuration directory and pin it so it cannot change: a directory of symlinks into its data directory (freeze, verify, unfreeze), or NemoClaw's shields (shields up, down, status over a profile; freeze --lock-posture on a flat directory).",
    after_help = exit_status_help()
)]
struct Cli {
    /// Where nc-harden keeps its locks and records (root's, 0700, under a parent of root's
    /// that others may write only when sticky); every call on a directory must name the same
    /// one. Not read by `guard`.
    #[arg(long, global = true, value_name = "DIR", value_hint = ValueHint::DirPath, default_value = nc_harden::STATE_DIR)]
    state_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

// The subcommands' arguments are built only for the subcommand given (`defer`): a freeze
// does not build the command lines of the others. Whatever reads the whole tree (the
// manual pages, the completions) builds it first (`Command::build`).
#[derive(Subcommand)]
#[cfg_attr(test, derive(Debug, PartialEq))]
#[command(defer = true)]
enum Command {
    /// Validate DIR and pin it (pin first, validate what is pinned, read every flag back).
    #[command(after_help = exit_status_help())]
    Freeze {
        #[command(flatten)]
        target: FreezeTarget,
        #[command(flatten)]
        rules: Rules,
        /// Pinning layers.
        #[arg(long, value_parser = strategy_parser(), default_value = "auto")]
        strategy: Strategy,
        /// Shields up: bring DIR (the owner's, 0755) and its regular files (the owner's,
        /// 0444, on fresh inodes) to the locked posture before pinning.
        #[arg(long)]
        lock_posture: bool,
        /// Write the seal (--seal NAME) afresh from the current bytes of the files it names
        /// (every other regular file where there is none yet), then pin and check it.
        #[arg(long, requires = "seal")]
        reseal: bool,
        /// Exit 0 on NC_PARTIAL, NC_NO_CAPABILITY and NC_UNSUPPORTED (the warning is still printed).
        #[arg(long)]
        allow_degraded: bool,
        #[command(flatten)]
        output: Output,
    },
    /// Read-only: exit 0 when DIR is valid and pinned, 4 when valid and not pinned. With
    /// --seal and --json: are the shields up (posture, layers, seal, digests)?
    #[command(after_help = exit_status_help())]
    Verify {
        #[command(flatten)]
        target: VerifyTarget,
        #[command(flatten)]
        rules: Rules,
        #[command(flatten)]
        output: Output,
    },
    /// Remove the pins a freeze added (for maintenance); needs no valid layout. With
    /// --hand-to: shields down, DIR handed back in the mutable posture.
    #[command(after_help = exit_status_help())]
    Unfreeze {
        #[command(flatten)]
        target: UnfreezeTarget,
        /// The owner the path to DIR may belong to (safe-path rule): a uid or a user name.
        #[arg(long, value_name = "USER", value_hint = ValueHint::Username, default_value = "0", value_parser = args::owner)]
        owner: u32,
        /// Also clear the flag that `freeze --pin-data-dir` set on the data directory
        /// (needs --data-dir).
        #[arg(long, requires = "data_dir")]
        pin_data_dir: bool,
        /// After unpinning, hand DIR and its regular files to this user and group (numbers
        /// or names), as NemoClaw's mutable posture has them (sandbox:sandbox).
        #[arg(long, value_name = "UID:GID", value_parser = args::user_group)]
        hand_to: Option<(u32, u32)>,
        /// With --hand-to: DIR's mode, in octal (NemoClaw's mutable posture: 2770).
        #[arg(long, value_name = "MODE", value_parser = args::mode, requires = "hand_to")]
        dir_mode: Option<u32>,
        /// With --hand-to: the regular files' mode, in octal (NemoClaw's: 0660).
        #[arg(long, value_name = "MODE", value_parser = args::mode, requires = "hand_to")]
        file_mode: Option<u32>,
        #[command(flatten)]
        output: Output,
    },
    /// NemoClaw's guards, spoken as `openclaw-config-guard.py` and `state-dir-guard.py` speak:
    /// `guard openclaw-config preflight|lock|unlock [--config-dir DIR]
    /// [--expected-config-sha256 H] [--startup-owner]`, `guard state-dir preflight|lock|unlock
    /// --config-dir DIR`. JSON lines on stdout, nothing on stderr, exit 0 or 1 (2: usage).
    #[command(disable_help_flag = true)]
    Guard {
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "ARGS"
        )]
        args: Vec<OsString>,
    },
    /// NemoClaw's shields over a profile (the layout its images ship now): up, down, status.
    #[command(subcommand, after_help = exit_status_help())]
    Shields(shields::ShieldsVerb),
    /// Build a NemoClaw-shaped layout in a temporary directory, freeze it, show an attack
    /// failing, verify, unfreeze and clean up, saying what happens at each step; then the
    /// same for the flat layout with its shields (lock, seal, unlock). Only in a build with
    /// the demo (the installed binary carries no test code: run scripts/demo).
    #[cfg(feature = "demo")]
    Demo,
}

// Each subcommand says in its own words what `--dir` is to it. One trailing slash of a
// directory is dropped: `args::directory`.

#[derive(Args)]
#[cfg_attr(test, derive(Debug, PartialEq))]
struct FreezeTarget {
    /// The directory to pin (absolute, normalized).
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath, value_parser = args::directory())]
    dir: OsString,
    /// The directory its symlinks must point into (absolute, normalized). Without it, DIR is
    /// a flat directory: regular files only, any symlink is rejected.
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath, value_parser = args::directory())]
    data_dir: Option<OsString>,
}

#[derive(Args)]
#[cfg_attr(test, derive(Debug, PartialEq))]
struct VerifyTarget {
    /// The directory to check (absolute, normalized).
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath, value_parser = args::directory())]
    dir: OsString,
    /// The directory its symlinks must point into (absolute, normalized). Without it, DIR is
    /// a flat directory: regular files only, any symlink is rejected.
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath, value_parser = args::directory())]
    data_dir: Option<OsString>,
}

#[derive(Args)]
#[cfg_attr(test, derive(Debug, PartialEq))]
struct UnfreezeTarget {
    /// The directory to unpin (absolute, normalized).
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath, value_parser = args::directory())]
    dir: OsString,
    /// The data directory: needed only with --pin-data-dir.
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath, value_parser = args::directory())]
    data_dir: Option<OsString>,
}

/// What every operation is given: the directory, and the data directory if there is one.
struct Target<'a> {
    dir: &'a OsStr,
    data_dir: Option<&'a OsStr>,
}

impl FreezeTarget {
    fn target(&self) -> Target<'_> {
        Target {
            dir: &self.dir,
            data_dir: self.data_dir.as_deref(),
        }
    }
}

impl VerifyTarget {
    fn target(&self) -> Target<'_> {
        Target {
            dir: &self.dir,
            data_dir: self.data_dir.as_deref(),
        }
    }
}

#[derive(Args)]
#[cfg_attr(test, derive(Debug, PartialEq))]
struct Rules {
    /// An entry name that must be present (repeatable).
    #[arg(long = "require", value_name = "NAME", value_hint = ValueHint::Other)]
    required: Vec<PathBuf>,
    /// Required owner of DIR and its regular files: a uid, or a user name of /etc/passwd.
    #[arg(long, value_name = "USER", value_hint = ValueHint::Username, default_value = "0", value_parser = args::owner)]
    owner: u32,
    /// Freeze: also pin the data directory's own inode (immutable flag): its set of names is
    /// fixed and it cannot be replaced, its entries' contents stay writable; NC_PARTIAL where
    /// the flag cannot be set. Verify: also check that flag (NC_PARTIAL where it is not set).
    #[arg(long, requires = "data_dir")]
    pin_data_dir: bool,
    /// Accept a link that reads exactly DATA_DIR/<name> whose DATA_DIR/<name> does not
    /// exist yet (an entrypoint creates it later); it is reported.
    #[arg(long, requires = "data_dir")]
    allow_missing: bool,
    /// A regular file of DIR in sha256sum format (e.g. .config-hash): the files it names
    /// must have those digests, checked on the pinned bytes.
    #[arg(long, value_name = "NAME", value_hint = ValueHint::Other)]
    seal: Option<PathBuf>,
}

#[derive(Args)]
#[cfg_attr(test, derive(Debug, PartialEq))]
struct Output {
    /// Print the report as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

/// `--strategy`: the names are the library's own (`Strategy::name`).
fn strategy_parser() -> impl TypedValueParser<Value = Strategy> {
    PossibleValuesParser::new(Strategy::all().map(Strategy::name))
        .map(|name| Strategy::from_name(&name).unwrap_or_default())
}

/// The policy of one call, from whichever subcommand's arguments.
fn policy(
    state_dir: &Path,
    target: &Target<'_>,
    rules: Option<&Rules>,
    build: impl FnOnce(PolicyBuilder) -> PolicyBuilder,
) -> Result<Policy, nc_harden::Error> {
    let mut builder = match target.data_dir {
        Some(data_dir) => Policy::builder(target.dir, data_dir),
        None => Policy::flat(target.dir),
    };
    if let Some(rules) = rules {
        builder = builder
            .owner(rules.owner)
            .pin_data_dir(rules.pin_data_dir)
            .allow_missing(rules.allow_missing);
        for name in &rules.required {
            builder = builder.require(name.as_os_str().as_encoded_bytes());
        }
        if let Some(seal) = &rules.seal {
            builder = builder.seal(seal.as_os_str().as_encoded_bytes());
        }
    }
    build(builder.state_dir(state_dir)).build()
}

/// Runs one operation and renders its report; returns the exit code.
fn run(
    operation: Operation,
    target: &Target<'_>,
    policy: Result<Policy, nc_harden::Error>,
    output: &Output,
    allow_degraded: bool,
) -> u8 {
    let dir = target.dir.as_bytes();
    let result = policy.and_then(|p| match operation {
        Operation::Freeze => p.validate_and_freeze(),
        Operation::Verify => p.verify(),
        Operation::Unfreeze => p.unfreeze(),
    });
    let report = Report::from_result(operation, dir, result);
    // The lines in one write (stderr is unbuffered: a write a piece otherwise).
    let mut lines = Vec::new();
    render::human(&report, &mut lines);
    let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), &lines);
    if output.json {
        println!("{}", report.to_json());
    }
    let status = report.status();
    // The process ends with this call: its memory goes back with it. Freeing the records one
    // by one first cost about a sixth of the user-space instructions per entry (callgrind).
    std::mem::forget(report);
    if allow_degraded && status.is_degraded() {
        0
    } else {
        status.code() as u8
    }
}

/// The process's entry point, called by the C runtime with the arguments that std has
/// already taken (`std::env::args_os` works as ever).
#[cfg(not(test))]
#[no_mangle]
pub extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    standard_fds_open();
    // SAFETY: setting a signal's disposition; no handler runs.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    // The default hook has printed the panic's message by the time it is caught.
    let code = std::panic::catch_unwind(cli_main).unwrap_or(101);
    let _ = std::io::Write::flush(&mut std::io::stdout());
    libc::c_int::from(code)
}

/// As std's runtime start does: a descriptor of 0, 1 or 2 that is closed is opened on
/// /dev/null, so that no file this process opens takes its number and gets its output.
#[cfg(not(test))]
fn standard_fds_open() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: `fds` is writable for its three entries; a zero timeout never blocks.
    let polled = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) };
    for pfd in fds {
        let closed = if polled < 0 {
            // SAFETY: F_GETFD only asks.
            let flags = unsafe { libc::fcntl(pfd.fd, libc::F_GETFD) };
            flags == -1
        } else {
            pfd.revents & libc::POLLNVAL != 0
        };
        // SAFETY: opening /dev/null takes the lowest free number, the closed one.
        if closed && unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) } == -1 {
            // Nowhere safe to write: std's start aborts here too.
            std::process::abort();
        }
    }
}

#[cfg_attr(test, allow(dead_code))]
fn cli_main() -> u8 {
    // The guards' protocol owns its whole command line: no clap message may reach stderr.
    let argv: Vec<OsString> = std::env::args_os().skip(1).collect();
    if argv.first().is_some_and(|a| a == "guard") {
        return guard::main(argv[1..].to_vec());
    }
    if let Some(code) = generate::run(Cli::command) {
        return code;
    }
    // A launcher's plain freeze, verify or unfreeze is taken apart without clap (`quick`);
    // everything else, help and usage errors included, is clap's.
    let parsed = match quick::parse(&argv) {
        Some(cli) => Ok(cli),
        None => Cli::try_parse(),
    };
    let cli = match parsed {
        Ok(cli) => cli,
        // clap's own rendering, blank lines and all, without the `[SECURITY] ` prefix (that is
        // for findings): help and version to stdout (exit 0), a usage error to stderr (64).
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { USAGE_ERROR } else { 0 };
        }
    };
    let code = match &cli.command {
        Command::Freeze {
            target,
            rules,
            strategy,
            lock_posture,
            reseal,
            allow_degraded,
            output,
        } => {
            let target = target.target();
            let policy = policy(&cli.state_dir, &target, Some(rules), |b| {
                b.strategy(*strategy)
                    .lock_posture(*lock_posture)
                    .reseal(*reseal)
            });
            run(Operation::Freeze, &target, policy, output, *allow_degraded)
        }
        Command::Verify {
            target,
            rules,
            output,
        } => {
            let target = target.target();
            let policy = policy(&cli.state_dir, &target, Some(rules), |b| b);
            run(Operation::Verify, &target, policy, output, false)
        }
        Command::Unfreeze {
            target,
            owner,
            pin_data_dir,
            hand_to,
            dir_mode,
            file_mode,
            output,
        } => {
            let target = Target {
                dir: &target.dir,
                data_dir: target.data_dir.as_deref(),
            };
            let hand = HandTo {
                uid: hand_to.map(|(u, _)| u),
                gid: hand_to.map(|(_, g)| g),
                dir_mode: *dir_mode,
                file_mode: *file_mode,
            };
            let policy = policy(&cli.state_dir, &target, None, |b| {
                b.owner(*owner).pin_data_dir(*pin_data_dir).hand_to(hand)
            });
            run(Operation::Unfreeze, &target, policy, output, false)
        }
        Command::Guard { args } => guard::main(args.clone()),
        Command::Shields(verb) => shields::run(verb, &cli.state_dir),
        #[cfg(feature = "demo")]
        Command::Demo => demo::run(),
    };
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    /// clap's own consistency checks, over the whole tree: the subcommands are deferred, so
    /// a mistake in one would otherwise show only when that subcommand is given.
    #[test]
    fn the_whole_command_line_is_consistent() {
        Cli::command().debug_assert();
        let mut cmd = Cli::command();
        cmd.build();
        let freeze = cmd.find_subcommand("freeze").expect("freeze");
        assert!(freeze.get_arguments().any(|a| a.get_id() == "dir"));
        let up = cmd
            .find_subcommand("shields")
            .and_then(|s| s.find_subcommand("up"))
            .expect("shields up");
        assert!(up.get_arguments().any(|a| a.get_id() == "reseal"));
    }
}
