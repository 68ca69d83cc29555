//! `nc-harden man OUT_DIR` and `nc-harden completions SHELL`, for `make`: run on the freshly
//! built binary, they give manual pages and completion scripts that describe the command line
//! installed with them. They are parsed apart from the real subcommands, so that the help,
//! the manual pages and the completions know nothing of them.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use clap_complete::Shell;

#[derive(Parser)]
#[command(name = "nc-harden")]
struct Generate {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// Write nc-harden.1 and one page per subcommand into OUT_DIR (an existing directory).
    Man {
        #[arg(value_name = "OUT_DIR")]
        out_dir: PathBuf,
    },
    /// Print the completion script for SHELL on stdout.
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
}

/// When the first argument names a generator, runs it and returns the exit code; otherwise
/// None. `command` builds the real command line, the one that is documented.
pub fn run(command: impl FnOnce() -> clap::Command) -> Option<u8> {
    let first = std::env::args_os().nth(1)?;
    if first != "man" && first != "completions" {
        return None;
    }
    let code = match Generate::try_parse() {
        Ok(Generate {
            what: What::Man { out_dir },
        }) => man(command(), &out_dir),
        Ok(Generate {
            what: What::Completions { shell },
        }) => completions(command(), shell),
        Err(e) => {
            let _ = e.print();
            if e.use_stderr() {
                crate::USAGE_ERROR
            } else {
                0
            }
        }
    };
    Some(code)
}

/// Writes `nc-harden.1` and one page per subcommand (`nc-harden-freeze.1`, ..., which the
/// first page refers to) into `out_dir`.
fn man(cmd: clap::Command, out_dir: &Path) -> u8 {
    // The subcommands' arguments are deferred until built (main.rs); the pages document the
    // subcommands, not clap's `help` subcommand that building would add.
    let mut cmd = without_help_subcommand(cmd);
    cmd.build();
    match clap_mangen::generate_to(cmd, out_dir) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("nc-harden man: writing into {}: {e}", out_dir.display());
            1
        }
    }
}

/// `cmd` and each of its subcommands with clap's `help` subcommand disabled.
fn without_help_subcommand(cmd: clap::Command) -> clap::Command {
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|sub| sub.get_name().to_owned())
        .collect();
    names
        .iter()
        .fold(cmd.disable_help_subcommand(true), |cmd, name| {
            cmd.mut_subcommand(name, without_help_subcommand)
        })
}

/// Prints the completion script for `shell` on stdout.
fn completions(mut cmd: clap::Command, shell: Shell) -> u8 {
    cmd.build();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "nc-harden", &mut script);
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(&script).and_then(|()| stdout.flush()) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("nc-harden completions: {e}");
            1
        }
    }
}
