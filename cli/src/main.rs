//! `nc-harden`: the shell launcher's face of the engine. It parses arguments, calls the
//! library and renders its report; no policy decision is made here.
//!
//! Exit code: the status code of the contract (64 for a usage error of the CLI's own).
//! Human lines go to stderr, prefixed `[SECURITY] `; `--json` prints the report to stdout.

mod args;
mod demo;
mod generate;
mod render;

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum, ValueHint};
use nc_harden::{Operation, Policy, Report, Strategy};

/// EX_USAGE: the contract's "the CLI adds 64 for a usage error of its own".
pub const USAGE_ERROR: u8 = 64;

#[derive(Parser)]
#[command(
    name = "nc-harden",
    version,
    about = "Validate a directory of symlinks against its data directory, then pin it so it cannot change.",
    after_help = "Exit status: 0 NC_OK, 1 NC_PARTIAL, 2 NC_NO_CAPABILITY, 3 NC_UNSUPPORTED, 4 NC_NOT_FROZEN, \
                  10 NC_INVALID, 11 NC_UNSAFE_PATH, 12 NC_NOT_FOUND, 20 NC_BAD_ARGUMENT, 21 NC_IO_ERROR, \
                  70 NC_INTERNAL, 64 usage error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate DIR and pin it (pin first, validate what is pinned, read every flag back).
    Freeze {
        #[command(flatten)]
        target: FreezeTarget,
        #[command(flatten)]
        rules: Rules,
        /// Pinning layers.
        #[arg(long, value_enum, default_value_t = StrategyArg::Auto)]
        strategy: StrategyArg,
        /// Exit 0 on NC_PARTIAL, NC_NO_CAPABILITY and NC_UNSUPPORTED (the warning is still printed).
        #[arg(long)]
        allow_degraded: bool,
        #[command(flatten)]
        output: Output,
    },
    /// Read-only: exit 0 when DIR is valid and pinned, 4 when valid and not pinned.
    Verify {
        #[command(flatten)]
        target: VerifyTarget,
        #[command(flatten)]
        rules: Rules,
        #[command(flatten)]
        output: Output,
    },
    /// Remove the pins a freeze added (for maintenance); needs no valid layout.
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
        #[command(flatten)]
        output: Output,
    },
    /// Build a NemoClaw-shaped layout in a temporary directory, freeze it, show an attack
    /// failing, verify, unfreeze and clean up, saying what happens at each step.
    Demo,
}

// Each subcommand says in its own words what `--dir` is to it. One trailing slash of a
// directory is dropped: `args::directory`.

#[derive(Args)]
struct FreezeTarget {
    /// The directory to pin (absolute, normalized).
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath, value_parser = args::directory())]
    dir: OsString,
    /// The directory its symlinks must point into (absolute, normalized).
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath, value_parser = args::directory())]
    data_dir: OsString,
}

#[derive(Args)]
struct VerifyTarget {
    /// The directory to check (absolute, normalized).
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath, value_parser = args::directory())]
    dir: OsString,
    /// The directory its symlinks must point into (absolute, normalized).
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath, value_parser = args::directory())]
    data_dir: OsString,
}

#[derive(Args)]
struct UnfreezeTarget {
    /// The directory to unpin (absolute, normalized).
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath, value_parser = args::directory())]
    dir: OsString,
    /// The data directory: needed only with --pin-data-dir.
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath, value_parser = args::directory())]
    data_dir: Option<OsString>,
}

/// What every operation is given: the two directories.
struct Target<'a> {
    dir: &'a OsStr,
    data_dir: &'a OsStr,
}

impl FreezeTarget {
    fn target(&self) -> Target<'_> {
        Target {
            dir: &self.dir,
            data_dir: &self.data_dir,
        }
    }
}

impl VerifyTarget {
    fn target(&self) -> Target<'_> {
        Target {
            dir: &self.dir,
            data_dir: &self.data_dir,
        }
    }
}

/// A data directory for `unfreeze` when none is given.
///
/// `Policy::builder` still asks for a data directory, but `Policy::unfreeze` never opens it:
/// it takes back the pins of `dir` alone (the report names `dir` only). So any path that
/// passes the builder's argument checks (absolute, normalized, disjoint from `dir`) will do,
/// and one that is not a real directory makes that plain: `/` followed by a name that is not
/// `dir`'s first component. (For `--dir /` there is none: the library answers NC_BAD_ARGUMENT,
/// "data_dir is inside dir", as it would with any data directory.) Once the library takes an
/// optional data directory, this goes.
fn unfreeze_data_dir(dir: &OsStr) -> OsString {
    const PLACEHOLDER: &str = "/nc-harden-unfreeze-needs-no-data-dir";
    let first = dir.as_bytes().split(|&b| b == b'/').find(|c| !c.is_empty());
    if first == Some(&PLACEHOLDER.as_bytes()[1..]) {
        OsString::from(format!("{PLACEHOLDER}-"))
    } else {
        OsString::from(PLACEHOLDER)
    }
}

#[derive(Args)]
struct Rules {
    /// An entry name that must be present (repeatable).
    #[arg(long = "require", value_name = "NAME", value_hint = ValueHint::Other)]
    required: Vec<PathBuf>,
    /// Required owner of DIR and its regular files: a uid, or a user name of /etc/passwd.
    #[arg(long, value_name = "USER", value_hint = ValueHint::Username, default_value = "0", value_parser = args::owner)]
    owner: u32,
    /// Also pin the data directory's own inode (immutable flag): its set of names is fixed
    /// and it cannot be replaced, its entries' contents stay writable. NC_PARTIAL where the
    /// flag cannot be set.
    #[arg(long)]
    pin_data_dir: bool,
}

#[derive(Args)]
struct Output {
    /// Print the report as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum StrategyArg {
    Auto,
    Immutable,
    Mount,
    Both,
}

impl From<StrategyArg> for Strategy {
    fn from(s: StrategyArg) -> Self {
        match s {
            StrategyArg::Auto => Strategy::Auto,
            StrategyArg::Immutable => Strategy::Immutable,
            StrategyArg::Mount => Strategy::Mount,
            StrategyArg::Both => Strategy::Both,
        }
    }
}

/// What the rules of a call are made of, from whichever subcommand.
struct Given<'a> {
    owner: u32,
    required: &'a [PathBuf],
    pin_data_dir: bool,
}

impl Rules {
    fn given(&self) -> Given<'_> {
        Given {
            owner: self.owner,
            required: &self.required,
            pin_data_dir: self.pin_data_dir,
        }
    }
}

fn policy(
    target: &Target<'_>,
    given: &Given<'_>,
    strategy: Strategy,
) -> Result<Policy, nc_harden::Error> {
    let mut builder = Policy::builder(target.dir, target.data_dir)
        .strategy(strategy)
        .owner(given.owner)
        .pin_data_dir(given.pin_data_dir);
    for name in given.required {
        builder = builder.require(name.as_os_str().as_encoded_bytes());
    }
    builder.build()
}

/// Runs one operation and renders its report; returns the exit code.
fn run(
    operation: Operation,
    target: &Target<'_>,
    given: &Given<'_>,
    strategy: Strategy,
    output: &Output,
    allow_degraded: bool,
) -> u8 {
    let dir = target.dir.as_bytes();
    let result = policy(target, given, strategy).and_then(|p| match operation {
        Operation::Freeze => p.validate_and_freeze(),
        Operation::Verify => p.verify(),
        Operation::Unfreeze => p.unfreeze(),
    });
    let report = Report::from_result(operation, dir, result);
    render::human(&report, &mut std::io::stderr().lock());
    if output.json {
        println!("{}", report.to_json());
    }
    let status = report.status();
    if allow_degraded && status.is_degraded() {
        0
    } else {
        status.code() as u8
    }
}

fn main() -> ExitCode {
    if let Some(code) = generate::run(Cli::command) {
        return ExitCode::from(code);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // clap's own rendering, blank lines and all, without the `[SECURITY] ` prefix (that is
        // for findings): help and version to stdout (exit 0), a usage error to stderr (64).
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { USAGE_ERROR } else { 0 });
        }
    };
    let code = match &cli.command {
        Command::Freeze {
            target,
            rules,
            strategy,
            allow_degraded,
            output,
        } => run(
            Operation::Freeze,
            &target.target(),
            &rules.given(),
            (*strategy).into(),
            output,
            *allow_degraded,
        ),
        Command::Verify {
            target,
            rules,
            output,
        } => run(
            Operation::Verify,
            &target.target(),
            &rules.given(),
            Strategy::Auto,
            output,
            false,
        ),
        Command::Unfreeze {
            target,
            owner,
            pin_data_dir,
            output,
        } => {
            let placeholder;
            let data_dir = match &target.data_dir {
                Some(d) => d.as_os_str(),
                None => {
                    placeholder = unfreeze_data_dir(&target.dir);
                    &placeholder
                }
            };
            let target = Target {
                dir: &target.dir,
                data_dir,
            };
            let given = Given {
                owner: *owner,
                required: &[],
                pin_data_dir: *pin_data_dir,
            };
            run(
                Operation::Unfreeze,
                &target,
                &given,
                Strategy::Auto,
                output,
                false,
            )
        }
        Command::Demo => demo::run(),
    };
    ExitCode::from(code)
}
