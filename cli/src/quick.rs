//! The launchers' own calls, parsed without clap: `freeze`, `verify` or `unfreeze` with
//! `--dir`, `--data-dir` and `--json` alone, as `scripts/legacy-launcher.sh` and NemoClaw's
//! entrypoint make them at every container start, and `shields up|down|status` with
//! `--profile`, `--dir`, `--json` (and `--reseal` for up), as NemoClaw's shields make them.
//! clap builds the subcommand's whole command line to parse them (some 170,000 instructions
//! and the page faults of its code, about a tenth of such a call; BENCHMARKS.md); this takes
//! the same `Cli` apart by hand.
//!
//! It only ever declines: anything it does not know as clap would take it (another option,
//! an option twice, `--`, an empty value or one that starts with `-`, a profile name that is
//! not UTF-8, `-h`, a flag spelt otherwise) goes to clap, whose answer, help text and usage
//! errors are as ever. The unit tests hold it to clap's own parse of every command line it
//! accepts.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::shields::{PartArg, ShieldsTarget, ShieldsVerb};
use crate::{args, Cli, Command, FreezeTarget, Output, Rules, UnfreezeTarget, VerifyTarget};

/// The options a quick parse knows, each at most once.
#[derive(Default)]
struct Given {
    dir: Option<OsString>,
    data_dir: Option<OsString>,
    profile: Option<String>,
    json: bool,
    reseal: bool,
}

/// Which options a subcommand takes here.
#[derive(Clone, Copy)]
struct Takes {
    data_dir: bool,
    profile: bool,
    reseal: bool,
}

/// The arguments after the program's name, as `Cli::try_parse` would take them, when they are
/// one of the calls above; `None` for anything else.
pub fn parse(argv: &[OsString]) -> Option<Cli> {
    let (first, rest) = argv.split_first()?;
    let symlink_layout = Takes {
        data_dir: true,
        profile: false,
        reseal: false,
    };
    let (verb, rest, takes) = match first.as_bytes() {
        b"shields" => {
            let (verb, rest) = rest.split_first()?;
            let takes = Takes {
                data_dir: false,
                profile: true,
                reseal: verb == "up",
            };
            (verb.as_bytes(), rest, takes)
        }
        other => (other, rest, symlink_layout),
    };
    let given = options(rest, takes)?;
    let command = match (first.as_bytes(), verb) {
        (b"shields", verb) => {
            if given.data_dir.is_some() {
                return None;
            }
            let target = ShieldsTarget {
                profile: given.profile.unwrap_or_else(|| "openclaw".into()),
                dir: given.dir,
                part: PartArg::All,
                json: given.json,
            };
            Command::Shields(match verb {
                b"up" => ShieldsVerb::Up {
                    target,
                    reseal: given.reseal,
                },
                b"down" => ShieldsVerb::Down { target },
                b"status" => ShieldsVerb::Status { target },
                _ => return None,
            })
        }
        (_, verb) => {
            let dir = given.dir?;
            let data_dir = given.data_dir;
            let output = Output { json: given.json };
            match verb {
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
            }
        }
    };
    Some(Cli {
        state_dir: PathBuf::from(nc_harden::STATE_DIR),
        command,
    })
}

/// The options after the subcommand, each known to it and given once; `None` otherwise.
fn options(tokens: &[OsString], takes: Takes) -> Option<Given> {
    let mut given = Given::default();
    let mut tokens = tokens.iter();
    while let Some(token) = tokens.next() {
        let token = token.as_bytes();
        let flag = match token {
            b"--json" => Some(&mut given.json),
            b"--reseal" if takes.reseal => Some(&mut given.reseal),
            _ => None,
        };
        if let Some(flag) = flag {
            if *flag {
                return None;
            }
            *flag = true;
            continue;
        }
        let (name, inline) = option_value(token)?;
        let value = match inline {
            Some(inline) => inline,
            None => tokens.next()?.as_bytes(),
        };
        // clap takes `-x` for an option, and an empty value is its to judge.
        if value.is_empty() || value.starts_with(b"-") {
            return None;
        }
        let path = || {
            Some(args::strip_one_slash(
                OsStr::from_bytes(value).to_os_string(),
            ))
        };
        match name {
            b"--dir" if given.dir.is_none() => given.dir = path(),
            b"--data-dir" if takes.data_dir && given.data_dir.is_none() => given.data_dir = path(),
            b"--profile" if takes.profile && given.profile.is_none() => {
                given.profile = Some(std::str::from_utf8(value).ok()?.to_owned())
            }
            _ => return None,
        }
    }
    Some(given)
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

    /// Every sequence of up to `len` of `words`.
    fn lines<'w>(words: &[&'w [u8]], len: usize) -> Vec<Vec<&'w [u8]>> {
        let mut lines: Vec<Vec<&[u8]>> = vec![Vec::new()];
        let mut last = lines.clone();
        for _ in 0..len {
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
        lines
    }

    /// How many of `prefix` + each line the quick parse takes; each it takes, clap parses
    /// to the same `Cli`.
    fn agreed(prefixes: &[&[&[u8]]], lines: &[Vec<&[u8]>]) -> usize {
        let mut accepted = 0;
        for prefix in prefixes {
            for line in lines {
                let mut argv = prefix.to_vec();
                argv.extend(line.iter().copied());
                let argv = os(&argv);
                if let Some(quick) = parse(&argv) {
                    accepted += 1;
                    assert_eq!(Some(quick), by_clap(&argv), "{argv:?}");
                }
            }
        }
        accepted
    }

    /// Every command line of the words below up to four tokens long: whatever the quick
    /// parse accepts, clap parses to the same `Cli`; and it accepts the launchers' calls.
    #[test]
    fn it_agrees_with_clap_wherever_it_answers() {
        let common: [&[u8]; 11] = [
            b"--dir",
            b"--json",
            b"/sandbox/.openclaw",
            b"/sandbox/.openclaw/",
            b"/sandbox//",
            b"relative",
            b"",
            b"-x",
            b"--dir=/a",
            b"--dir=",
            b"--",
        ];
        let symlink_layout = [
            &b"--data-dir"[..],
            b"--data-dir=/b/",
            b"--owner",
            b"/caf\xe9",
        ];
        let shields = [
            &b"--profile"[..],
            b"--reseal",
            b"--part",
            b"hermes",
            b"caf\xe9",
        ];
        let words = |more: &[&'static [u8]]| [&common[..], more, &[b"--help"]].concat();
        let taken = agreed(
            &[
                &[b"freeze"],
                &[b"verify"],
                &[b"unfreeze"],
                &[b"guard"],
                &[b"shields"],
            ],
            &lines(&words(&symlink_layout), 4),
        );
        assert!(taken > 400, "only {taken} command lines taken");
        let taken = agreed(
            &[
                &[b"shields", b"up"],
                &[b"shields", b"down"],
                &[b"shields", b"status"],
                &[b"shields", b"on"],
            ],
            &lines(&words(&shields), 4),
        );
        assert!(taken > 400, "only {taken} shields command lines taken");
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
            &[b"shields", b"up", b"--reseal"],
            &[b"shields", b"down"],
            &[b"shields", b"status", b"--profile", b"hermes", b"--json"],
            &[
                b"shields",
                b"up",
                b"--dir=/s/.openclaw",
                b"--profile=/p.toml",
            ],
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
            &[b"shields", b"up", b"--part", b"top-config"],
            &[b"shields", b"down", b"--reseal"],
            &[b"shields", b"up", b"--profile", b"caf\xe9"],
            &[b"shields", b"status", b"--data-dir", b"/d"],
            &[b"shields"],
            &[b"--version"],
        ] {
            assert!(parse(&os(line)).is_none(), "{line:?}");
        }
    }
}
