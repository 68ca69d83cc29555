//! The report as one JSON object: the C ABI's `nc_report_json` and the CLI's `--json`.

use serde_json::{json, Map, Value};

use super::{Entry, Report};
use crate::escape::escape_bytes;

/// A name as JSON: the string itself when it is UTF-8; otherwise its lossy form in `key`
/// and the exact bytes, in hex, in `key_hex`, so that no two names look alike.
pub(crate) fn put_bytes(obj: &mut Map<String, Value>, key: &str, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(s) => {
            obj.insert(key.into(), Value::from(s));
        }
        Err(_) => {
            obj.insert(key.into(), Value::from(String::from_utf8_lossy(bytes)));
            obj.insert(format!("{key}_hex"), Value::from(crate::escape::hex(bytes)));
        }
    }
}

fn entry(e: &Entry) -> Value {
    let mut obj = Map::new();
    put_bytes(&mut obj, "name", &e.name);
    obj.insert("escaped".into(), Value::from(escape_bytes(&e.name)));
    obj.insert("kind".into(), Value::from(e.kind.name()));
    obj.insert("action".into(), Value::from(e.action.name()));
    obj.insert(
        "reason".into(),
        if e.reason == crate::rules::Reason::None {
            Value::Null
        } else {
            Value::from(e.reason.name())
        },
    );
    obj.insert("errno".into(), Value::from(e.errno));
    if e.kind == crate::inode::FileKind::Regular {
        obj.insert("renewed".into(), Value::from(e.renewed));
    }
    if let Some(target) = &e.target {
        put_bytes(&mut obj, "target", target);
    }
    if let Some(expected) = &e.expected {
        put_bytes(&mut obj, "expected_target", expected);
    }
    if let Some(f) = e.found {
        obj.insert("owner_uid".into(), Value::from(f.uid));
        obj.insert("required_owner_uid".into(), Value::from(f.required_uid));
        obj.insert("mode".into(), Value::from(format!("{:04o}", f.mode)));
        obj.insert("links".into(), Value::from(f.links));
    }
    if e.data_entry_missing {
        obj.insert("data_entry_missing".into(), Value::from(true));
    }
    if let Some(digest) = &e.sha256 {
        obj.insert(
            "sha256".into(),
            Value::from(crate::rules::seal::hex(digest)),
        );
    }
    Value::Object(obj)
}

pub(super) fn render(report: &Report) -> String {
    let mut obj = Map::new();
    obj.insert("status".into(), Value::from(report.status.name()));
    obj.insert("code".into(), Value::from(report.status.code()));
    obj.insert("operation".into(), Value::from(report.operation.name()));
    put_bytes(&mut obj, "dir", &report.dir);
    obj.insert("summary".into(), Value::from(report.summary.as_str()));
    obj.insert("layers".into(), json!(report.layers.names()));
    let attempts: Vec<Value> = report
        .attempts
        .iter()
        .map(|a| json!({"layer": a.layer.name(), "action": a.action.name(), "errno": a.errno}))
        .collect();
    obj.insert("attempts".into(), Value::Array(attempts));
    obj.insert("errno".into(), Value::from(report.errno));
    obj.insert("conditions".into(), json!(report.conditions()));
    obj.insert(
        "posture".into(),
        match report.posture_locked {
            Some(true) => Value::from("locked"),
            Some(false) => Value::from("unlocked"),
            None => Value::Null,
        },
    );
    if let Some(note) = &report.note {
        obj.insert("note".into(), Value::from(note.as_str()));
    }
    if let Some(state) = report.state() {
        obj.insert("state".into(), Value::from(state));
    }
    if let Some((name, result)) = &report.seal {
        let mut seal = Map::new();
        put_bytes(&mut seal, "name", name);
        seal.insert("result".into(), Value::from(result.name()));
        obj.insert("seal".into(), Value::Object(seal));
    }
    obj.insert(
        "data_dir_replaceable".into(),
        report
            .data_dir_replaceable
            .as_deref()
            .map_or(Value::Null, Value::from),
    );
    obj.insert(
        "entries".into(),
        Value::Array(report.entries.iter().map(entry).collect()),
    );
    // serde_json leaves DEL, C1, U+2028 and U+2029 raw: escaped, so that the one line
    // stays one line for every reader.
    crate::escape::escape_json_breaks(Value::Object(obj).to_string())
}

#[cfg(test)]
mod properties {
    //! The JSON encoding of names against its model: every name, UTF-8 or not, decodes to its
    //! exact bytes, and the summary stays one line. Run with the other properties
    //! (`scripts/fuzz`).

    use proptest::prelude::*;

    use crate::inode::FileKind;
    use crate::report::{Action, Entry, Layers, Operation, Report};
    use crate::status::Status;

    proptest! {
        #[test]
        fn json_names_round_trip(names in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..24), 0..8)) {
            let entries: Vec<Entry> = names.iter().map(|n| Entry::new(n, FileKind::Symlink, Action::Checked)).collect();
            let report = Report::new(Operation::Verify, b"/d\n\xff", Status::NotFrozen, Layers::default(), vec![], entries);
            let json: serde_json::Value = serde_json::from_str(&report.to_json()).expect("valid JSON");
            prop_assert!(!report.summary().contains('\n'));
            for (entry, name) in json["entries"].as_array().unwrap().iter().zip(&names) {
                let decoded = match entry.get("name_hex") {
                    Some(hex) => (0..hex.as_str().unwrap().len()).step_by(2)
                        .map(|i| u8::from_str_radix(&hex.as_str().unwrap()[i..i + 2], 16).unwrap()).collect(),
                    None => entry["name"].as_str().unwrap().as_bytes().to_vec(),
                };
                prop_assert_eq!(&decoded, name);
            }
        }
    }
}
