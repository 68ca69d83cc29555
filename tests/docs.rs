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
    assert_eq!(rows.len(), 11, "{rows:?}");
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
    let all = [
        Reason::None,
        Reason::LinkTargetMismatch,
        Reason::DataEntryMissing,
        Reason::DataEntryIsSymlink,
        Reason::DataEntryUnreadable,
        Reason::OwnerMismatch,
        Reason::WritableByOthers,
        Reason::HardLinked,
        Reason::UnexpectedDirectory,
        Reason::UnexpectedFifo,
        Reason::UnexpectedSocket,
        Reason::UnexpectedDevice,
        Reason::RequiredMissing,
        Reason::EntryUnreadable,
        Reason::EntryChanged,
        Reason::UnexpectedType,
        Reason::MountPoint,
        Reason::OpenForWriting,
        Reason::SealMissing,
        Reason::SealMalformed,
        Reason::SealMismatch,
        Reason::UnexpectedSymlink,
        Reason::WouldWidenAccess,
        Reason::NotLockedByShields,
    ];
    let code: Vec<(u32, String)> = all
        .iter()
        .map(|r| (*r as u32, r.name().to_string()))
        .collect();
    assert_eq!(rows, code, "docs/contract.md's reasons and the code's");
}

#[test]
fn actions_are_the_codes() {
    let rows = table(&contract(), "## Actions");
    let all = [
        Action::Frozen,
        Action::AlreadyFrozen,
        Action::PinnedByDirectory,
        Action::Unsupported,
        Action::Denied,
        Action::Rejected,
        Action::Checked,
        Action::Unfrozen,
    ];
    let code: Vec<(u32, String)> = all
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
