//! `nc-harden shields up|down|status`: NemoClaw's shields over a profile (variant H). Parses,
//! calls the library, renders; the exit code is the report's status.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use clap::{Args, Subcommand, ValueEnum, ValueHint};
use nc_harden::profile::{Accounts, Profile};
use nc_harden::shields::{self, Part, Reseal, ShieldsReport, Verb};
use nc_harden::StateDir;

#[derive(Subcommand)]
#[cfg_attr(test, derive(Debug, PartialEq))]
#[command(defer = true)]
pub enum ShieldsVerb {
    /// Lock the parent, the state trees, the protected files and the seal; then pin.
    Up {
        #[command(flatten)]
        target: ShieldsTarget,
        /// Accept the current bytes: write the seal afresh from them, naming every file the
        /// profile protects.
        #[arg(long)]
        reseal: bool,
    },
    /// Unpin and hand back exactly what shields up locked; the parent last.
    Down {
        #[command(flatten)]
        target: ShieldsTarget,
    },
    /// Read-only: 0 up (pinned), 2 up but not pinned, 4 down, 10 neither.
    Status {
        #[command(flatten)]
        target: ShieldsTarget,
    },
}

#[derive(Args)]
#[cfg_attr(test, derive(Debug, PartialEq))]
pub struct ShieldsTarget {
    /// A built-in profile (openclaw, hermes) or the path of a profile file.
    #[arg(long, value_name = "NAME|FILE", default_value = "openclaw", value_hint = ValueHint::FilePath)]
    pub(crate) profile: String,
    /// The directory, instead of the profile's.
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath, value_parser = crate::args::directory())]
    pub(crate) dir: Option<OsString>,
    /// Which half: both, the top configuration lock alone, or the state trees alone (as
    /// NemoClaw's two guards split them).
    #[arg(long, value_enum, default_value = "all")]
    pub(crate) part: PartArg,
    /// Print the report as one JSON object on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
#[cfg_attr(test, derive(Debug, PartialEq))]
pub(crate) enum PartArg {
    All,
    TopConfig,
    StateTrees,
}

fn load(target: &ShieldsTarget) -> Result<Profile, nc_harden::Error> {
    let accounts = Accounts::system()?;
    let profile = Profile::load(&target.profile, &accounts)?;
    match &target.dir {
        Some(dir) => profile.with_dir(dir.as_bytes()),
        None => Ok(profile),
    }
}

pub fn run(verb: &ShieldsVerb, state_dir: &Path) -> u8 {
    let (v, target, reseal) = match verb {
        ShieldsVerb::Up { target, reseal } => (Verb::Up, target, *reseal),
        ShieldsVerb::Down { target } => (Verb::Down, target, false),
        ShieldsVerb::Status { target } => (Verb::Status, target, false),
    };
    let part = match target.part {
        PartArg::All => Part::All,
        PartArg::TopConfig => Part::TopConfig,
        PartArg::StateTrees => Part::StateTrees,
    };
    let mut dir: Vec<u8> = target
        .dir
        .as_ref()
        .map(|d| d.as_bytes().to_vec())
        .unwrap_or_default();
    let options = |part| -> Result<shields::Options, nc_harden::Error> {
        Ok(shields::Options {
            part,
            reseal: if reseal {
                Reseal::Rewrite
            } else {
                Reseal::Check
            },
            state_dir: StateDir::new(state_dir)?,
        })
    };
    let result = load(target).and_then(|profile| {
        dir.clone_from(&profile.dir);
        let options = options(part)?;
        match v {
            Verb::Up => shields::up_with(&profile, &options),
            Verb::Down => shields::down_with(&profile, &options),
            Verb::Status => shields::status_with(&profile, &options),
        }
    });
    let report = match result {
        Ok(r) => r,
        Err(e) => ShieldsReport::from_error(v, &target.profile, &dir, &e),
    };
    // The lines in one write (stderr is unbuffered: a write a piece otherwise).
    let mut lines = format!("[SECURITY] {}\n", report.summary);
    for issue in &report.issues {
        lines.push_str(&format!(
            "[SECURITY]   {} {}: {}\n",
            issue.code.name(),
            nc_harden::escape_bytes(&issue.path),
            issue.detail.replace(['\n', '\r'], " ")
        ));
    }
    eprint!("{lines}");
    if target.json {
        println!("{}", report.to_json());
    }
    report.status.code() as u8
}
