//! The launcher's own calls, parsed without clap: `freeze`, `verify` or `unfreeze` with
//! `--dir`, `--data-dir` and `--json` alone, as `scripts/legacy-launcher.sh` and NemoClaw's
//! entrypoint make them at every container start. clap builds the subcommand's whole
//! command line to parse them (some 170,000 instructions and the page faults of its code,
//! about a tenth of such a call; BENCHMARKS.md); this takes the same `Cli` apart by hand.
//!
//! It only ever declines: anything it does not know as clap would take it (another option,
//! an option twice, `--`, an empty value or one that starts with `-`, `-h`, a flag spelt
//! otherwise) goes to clap, whose answer, help text and usage errors are as ever. The unit
//! tests hold it to clap's own parse of every command line it accepts.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::{args, Cli, Command, FreezeTarget, Output, Rules, UnfreezeTarget, VerifyTarget};

/// The arguments after the program's name, as `Cli::try_parse` would take them, when they are
/// a plain `freeze`, `verify` or `unfreeze`; `None` for anything else.
pub fn parse(argv: &[OsString]) -> Option<Cli> {
    let (subcommand, rest) = argv.split_first()?;
    let mut dir = None;
    let mut data_dir = None;
    let mut json = false;
    let mut tokens = rest.iter();
    while let Some(token) = tokens.next() {
        let token = token.as_bytes();
        if token == b"--json" {
            if json {
                return None;
            }
            json = true;
            continue;
        }
        let (slot, value) = match option_value(token) {
            Some((b"--dir", inline)) => (&mut dir, inline),
            Some((b"--data-dir", inline)) => (&mut data_dir, inline),
            _ => return None,
        };
        let value = match value {
            Some(inline) => inline,
            None => tokens.next()?.as_bytes(),
        };
        // clap takes `-x` for an option, and an empty value is its to judge.
        if slot.is_some() || value.is_empty() || value.starts_with(b"-") {
            return None;
        }
        *slot = Some(args::strip_one_slash(
            OsStr::from_bytes(value).to_os_string(),
        ));
    }
    let dir = dir?;
    let output = Output { json };
    let command = match subcommand.as_bytes() {
        b"freeze" => Command::Freeze {
            target: FreezeTarget { dir, data_dir },
            rules: default_rules(),
            strategy: nc_harden::Strategy::Auto,
            lock_posture: false,
            reseal: false,
            allow_degraded: false,
            output,
        },
        b"verify" => Command::Verify {
            target: VerifyTarget { dir, data_dir },
            rules: default_rules(),
            output,
        },
        b"unfreeze" => Command::Unfreeze {
            target: UnfreezeTarget { dir, data_dir },
            owner: 0,
            pin_data_dir: false,
            hand_to: None,
            dir_mode: None,
            file_mode: None,
            output,
        },
        _ => return None,
    };
    Some(Cli {
        state_dir: PathBuf::from(nc_harden::STATE_DIR),
        command,
    })
}

/// `--name=value` as (`--name`, Some(value)), `--name` as (`--name`, None).
fn option_value(token: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    if !token.starts_with(b"--") {
        return None;
    }
    match token.iter().position(|&b| b == b'=') {
        Some(at) => Some((&token[..at], Some(&token[at + 1..]))),
        None => Some((token, None)),
    }
}

/// What clap's defaults give `Rules` when none of its options is given.
fn default_rules() -> Rules {
    Rules {
        required: Vec::new(),
        owner: 0,
        pin_data_dir: false,
        allow_missing: false,
        seal: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn os(words: &[&[u8]]) -> Vec<OsString> {
        words
            .iter()
            .map(|w| OsStr::from_bytes(w).to_os_string())
            .collect()
    }

    /// clap's parse of the same words, `None` where clap refuses them (or prints help).
    fn by_clap(argv: &[OsString]) -> Option<Cli> {
        let full = std::iter::once(OsString::from("nc-harden")).chain(argv.iter().cloned());
        Cli::try_parse_from(full).ok()
    }

    /// Every command line of the words below up to four tokens long: whatever the quick
    /// parse accepts, clap parses to the same `Cli`; and it accepts the launcher's calls.
    #[test]
    fn it_agrees_with_clap_wherever_it_answers() {
        let subcommands: [&[u8]; 5] = [b"freeze", b"verify", b"unfreeze", b"shields", b"guard"];
        let words: [&[u8]; 16] = [
            b"--dir",
            b"--data-dir",
            b"--json",
            b"/sandbox/.openclaw",
            b"/sandbox/.openclaw/",
            b"/sandbox//",
            b"relative",
            b"",
            b"-x",
            b"--dir=/a",
            b"--data-dir=/b/",
            b"--dir=",
            b"--",
            b"--owner",
            b"--help",
            b"/caf\xe9",
        ];
        let mut accepted = 0;
        // Every sequence of up to four words.
        let mut lines: Vec<Vec<&[u8]>> = vec![Vec::new()];
        let mut last = lines.clone();
        for _ in 0..4 {
            last = last
                .iter()
                .flat_map(|line| {
                    words.iter().map(move |w| {
                        let mut longer = line.clone();
                        longer.push(*w);
                        longer
                    })
                })
                .collect();
            lines.extend(last.iter().cloned());
        }
        for sub in subcommands {
            for line in &lines {
                let mut argv = vec![sub];
                argv.extend(line.iter().copied());
                let argv = os(&argv);
                if let Some(quick) = parse(&argv) {
                    accepted += 1;
                    assert_eq!(Some(quick), by_clap(&argv), "{argv:?}");
                }
            }
        }
        assert!(accepted > 400, "only {accepted} command lines taken");
        for line in [
            &[
                &b"freeze"[..],
                b"--dir",
                b"/s/.openclaw",
                b"--data-dir",
                b"/s/.openclaw-data",
            ][..],
            &[b"verify", b"--data-dir=/s/d", b"--dir=/s/c/", b"--json"],
            &[b"unfreeze", b"--dir", b"/s/.openclaw"],
        ] {
            let argv = os(line);
            assert!(parse(&argv).is_some(), "{argv:?} not taken");
            assert_eq!(parse(&argv), by_clap(&argv));
        }
    }

    /// What the launcher never writes goes to clap, for clap's own answer.
    #[test]
    fn the_rest_is_clap_s() {
        for line in [
            &[&b"freeze"[..]][..],
            &[b"freeze", b"--dir", b"/a", b"--dir", b"/b"],
            &[b"freeze", b"--dir", b"/a", b"--json", b"--json"],
            &[b"freeze", b"--dir", b"--data-dir", b"/b"],
            &[b"freeze", b"--dir"],
            &[b"freeze", b"--dir", b"/a", b"--state-dir", b"/s"],
            &[b"freeze", b"--dir", b"/a", b"--require", b"x"],
            &[b"freeze", b"--dir", b"/a", b"--", b"x"],
            &[b"freeze", b"--dir=", b"--data-dir", b"/b"],
            &[b"freeze", b"-h"],
            &[b"shields", b"up"],
            &[b"--version"],
        ] {
            assert!(parse(&os(line)).is_none(), "{line:?}");
        }
    }
}
