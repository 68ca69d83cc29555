//! `docs/contract.md` travels with the code: its tables of statuses, reasons and actions are
//! checked here against the code, number by number and name by name, both ways.

use nc_harden::rules::Reason;
use nc_harden::{Action, Status};

/// The rows `| code | name ... |` of the table under `heading`.
fn table(doc: &str, heading: &str) -> Vec<(u32, String)> {
    let start = doc
        .find(heading)
        .unwrap_or_else(|| panic!("no section {heading:?}"));
    doc[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            Some((cells.get(1)?.parse().ok()?, cells.get(2)?.to_string()))
        })
        .collect()
}

fn contract() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/contract.md"))
        .expect("docs/contract.md")
}

#[test]
fn statuses_are_the_codes() {
    let rows = table(&contract(), "## Statuses");
    assert_eq!(rows.len(), Status::all().len(), "{rows:?}");
    for (code, name) in &rows {
        let status = Status::from_code(*code).unwrap_or_else(|| panic!("no status {code}"));
        assert_eq!(status.name(), name, "status {code}");
    }
    for code in 0..=255 {
        if let Some(status) = Status::from_code(code) {
            assert!(
                rows.iter().any(|(c, n)| *c == code && n == status.name()),
                "{} is not in docs/contract.md",
                status.name()
            );
        }
    }
}

#[test]
fn reasons_are_the_codes() {
    let rows = table(&contract(), "## Reasons");
    let code: Vec<(u32, String)> = Reason::all()
        .iter()
        .map(|r| (*r as u32, r.name().to_string()))
        .collect();
    assert_eq!(rows, code, "docs/contract.md's reasons and the code's");
}

#[test]
fn actions_are_the_codes() {
    let rows = table(&contract(), "## Actions");
    let code: Vec<(u32, String)> = Action::all()
        .iter()
        .map(|a| (*a as u32, a.name().to_string()))
        .collect();
    assert_eq!(rows, code, "docs/contract.md's actions and the code's");
}

#[test]
fn shields_issue_codes_are_the_codes() {
    let rows = table(&contract(), "### Shields issue codes");
    let code: Vec<(u32, String)> = nc_harden::shields::IssueCode::all()
        .iter()
        .map(|c| (*c as u32, c.name().to_string()))
        .collect();
    assert_eq!(
        rows, code,
        "docs/contract.md's shields issue codes and the code's"
    );
}

#[test]
fn shields_states_are_the_statuses() {
    use nc_harden::shields::{status_of, State};
    let rows = table(&contract(), "### Shields states");
    let reason = || "r".to_string();
    let all = [
        State::Up,
        State::UpNotPinned,
        State::Down,
        State::LockedNotVerified { reason: reason() },
        State::Neither { reason: reason() },
    ];
    let code: Vec<(u32, String)> = all
        .iter()
        .map(|s| (status_of(s).code(), s.name().to_string()))
        .collect();
    assert_eq!(
        rows, code,
        "docs/contract.md's shields states and the code's"
    );
}

#[test]
fn strategies_flags_and_seal_results_are_the_codes() {
    let doc = contract();
    for s in nc_harden::Strategy::all() {
        let row = format!("| {} ({}", s.name().to_uppercase(), s.code());
        assert!(doc.contains(&row), "docs/contract.md has no {row:?}");
    }
    for f in nc_harden::capi::Flag::all() {
        let text = format!("`{}` {}", f.c_ident(), f.code());
        assert!(doc.contains(&text), "docs/contract.md has no {text:?}");
    }
    for r in nc_harden::SealResult::all() {
        let text = format!("{} {}", r.code(), r.name());
        assert!(doc.contains(&text), "docs/contract.md has no {text:?}");
    }
}

#[test]
fn operations_and_postures_are_the_codes() {
    let doc = contract();
    for o in nc_harden::Operation::all() {
        let text = format!("`{}` {}", o.c_ident(), o.code());
        assert!(doc.contains(&text), "docs/contract.md has no {text:?}");
    }
    for v in nc_harden::shields::Verb::all() {
        let text = format!("`{}` {}", v.c_ident(), v.code());
        assert!(doc.contains(&text), "docs/contract.md has no {text:?}");
    }
    for p in nc_harden::capi::Posture::all() {
        let text = format!("{} {}", p.code(), p.name());
        assert!(doc.contains(&text), "docs/contract.md has no {text:?}");
    }
}
