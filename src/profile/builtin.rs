//! The built-in profiles as declarations, so that a call naming one resolves it without a
//! TOML parse (some 350,000 instructions a call: a third of a whole `shields up`'s user
//! space). The files under `share/nc-harden/profiles/` stay what is shipped and documented;
//! `tests::each_builtin_is_its_file` requires these to be what those files parse to.

use super::{
    Budgets, ClassSpec, Classes, File, FileRuleSpec, Files, Identity, Others, PostureSpec,
    Postures, SealForm, SealSpec, Trees,
};

/// NemoClaw's state-dir guard's `HIGH_RISK_STATE_DIRS` (it adds `workspace-*`) and its
/// confidential trees: the built-in profiles' and the guard drop-in's.
pub(crate) const HIGH_RISK: [&str; 18] = [
    "skills",
    "agent",
    "hooks",
    "cron",
    "agents",
    "extensions",
    "plugins",
    "workspace",
    "memory",
    "devices",
    "canvas",
    "telegram",
    "wechat",
    "whatsapp",
    "platforms",
    "weixin",
    "profiles",
    "skins",
];
pub(crate) const CONFIDENTIAL: [&str; 3] = ["credentials", "identity", "pairing"];

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn posture(owner: &str, group: &str, mode: &str) -> PostureSpec {
    PostureSpec {
        owner: owner.into(),
        group: group.into(),
        mode: mode.into(),
    }
}

fn rule(owner: &str, group: &str, keep: &str) -> FileRuleSpec {
    FileRuleSpec {
        owner: owner.into(),
        group: group.into(),
        keep: keep.into(),
        add: None,
        group_x_follows: false,
    }
}

/// What NemoClaw's state-dir guard lists, and the classes the two profiles share.
fn trees(keep: &[&str]) -> (Trees, Classes) {
    let trees = Trees {
        high_risk: HIGH_RISK
            .iter()
            .chain(&["workspace-*"])
            .map(|s| s.to_string())
            .collect(),
        confidential: strings(&CONFIDENTIAL),
        carve_outs: strings(&["agents/*/sessions"]),
        keep: strings(keep),
    };
    let classes = Classes {
        high_risk: ClassSpec {
            dir: posture("root", "sandbox", "0755"),
            file: rule("root", "sandbox", "0755"),
        },
        confidential: ClassSpec {
            dir: posture("root", "root", "0700"),
            file: rule("root", "root", "0700"),
        },
        unlocked: ClassSpec {
            dir: posture("sandbox", "sandbox", "2770"),
            file: FileRuleSpec {
                add: Some("0060".into()),
                group_x_follows: true,
                ..rule("sandbox", "sandbox", "0770")
            },
        },
    };
    (trees, classes)
}

struct Shape<'a> {
    name: &'a str,
    dir: &'a str,
    dir_mutable: &'a str,
    files: &'a [&'a str],
    file_mutable: &'a str,
    form: SealForm,
    sealed: &'a [&'a str],
    keep: &'a [&'a str],
}

fn declare(shape: Shape<'_>) -> File {
    let (trees, classes) = trees(shape.keep);
    File {
        format: 1,
        name: shape.name.into(),
        dir: shape.dir.into(),
        identity: Identity {
            user: "sandbox".into(),
            group: "sandbox".into(),
        },
        parent: Postures {
            locked: posture("root", "sandbox", "1775"),
            mutable: posture("sandbox", "sandbox", "0755"),
        },
        directory: Postures {
            locked: posture("root", "root", "0755"),
            mutable: posture("sandbox", "sandbox", shape.dir_mutable),
        },
        files: Files {
            names: strings(shape.files),
            locked: posture("root", "root", "0444"),
            mutable: posture("sandbox", "sandbox", shape.file_mutable),
            others: Others::Seal,
        },
        seal: Some(SealSpec {
            file: ".config-hash".into(),
            form: shape.form,
            names: strings(shape.sealed),
        }),
        trees,
        classes,
        budgets: Budgets {
            depth: 64,
            entries: 100_000,
            bytes: 16 << 30,
        },
    }
}

/// The declaration of the built-in profile `name`, if there is one.
pub(super) fn spec(name: &str) -> Option<File> {
    Some(declare(match name {
        "openclaw" => Shape {
            name: "openclaw",
            dir: "/sandbox/.openclaw",
            dir_mutable: "2770",
            files: &["openclaw.json", ".config-hash"],
            file_mutable: "0660",
            form: SealForm::Relative,
            sealed: &["openclaw.json"],
            keep: &[
                "update-check.json",
                "exec-approvals.json",
                "logs",
                "flows",
                "sandbox",
                "plugin-runtime-deps",
                "media",
            ],
        },
        "hermes" => Shape {
            name: "hermes",
            dir: "/sandbox/.hermes",
            dir_mutable: "3770",
            files: &["config.yaml", ".env", ".config-hash"],
            file_mutable: "0640",
            form: SealForm::Absolute,
            sealed: &["config.yaml", ".env"],
            keep: &[],
        },
        _ => return None,
    }))
}

#[cfg(test)]
mod tests {
    use super::super::{File, BUILTIN};

    #[test]
    fn each_builtin_is_its_file() {
        for (name, text) in BUILTIN {
            let parsed: File = toml::from_str(text).expect(name);
            assert_eq!(super::spec(name), Some(parsed), "{name}");
        }
        assert_eq!(super::spec("nosuch"), None);
    }
}
