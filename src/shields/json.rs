//! A shields report as one JSON object (the CLI's `--json`, the C ABI's report). Names are
//! bytes: UTF-8 ones as strings, others lossy with the exact bytes in `<key>_hex`; every
//! name also `escaped`, as the human lines print it.

use serde_json::{json, Map, Value};

use super::{FileState, PostureFound, ShieldsReport};
use crate::escape::escape_bytes;
use crate::report::json::put_bytes;

fn name_value(bytes: &[u8]) -> Value {
    let mut obj = Map::new();
    put_bytes(&mut obj, "name", bytes);
    obj.insert("escaped".into(), Value::from(escape_bytes(bytes)));
    Value::Object(obj)
}

fn posture(p: &Option<PostureFound>) -> Value {
    match p {
        None => Value::Null,
        Some(p) => json!({
            "uid": p.uid,
            "gid": p.gid,
            "mode": format!("{:04o}", p.mode),
            "posture": p.found.name(),
        }),
    }
}

fn file(f: &FileState) -> Value {
    let mut v = name_value(&f.name);
    let obj = v.as_object_mut().expect("object");
    obj.insert("posture".into(), posture(&Some(f.posture)));
    obj.insert(
        "immutable".into(),
        f.immutable.map_or(Value::Null, Value::from),
    );
    obj.insert("renewed".into(), Value::from(f.renewed));
    obj.insert("read_only_mount".into(), Value::from(f.read_only_mount));
    obj.insert(
        "sha256".into(),
        f.sha256
            .map_or(Value::Null, |d| Value::from(crate::rules::seal::hex(&d))),
    );
    v
}

pub(super) fn render(r: &ShieldsReport) -> String {
    let mut obj = Map::new();
    obj.insert("verb".into(), Value::from(r.verb.name()));
    obj.insert("status".into(), Value::from(r.status.name()));
    obj.insert("code".into(), Value::from(r.status.code()));
    obj.insert("state".into(), Value::from(r.state.name()));
    obj.insert(
        "reason".into(),
        r.state.reason().map_or(Value::Null, Value::from),
    );
    obj.insert("profile".into(), Value::from(r.profile.as_str()));
    put_bytes(&mut obj, "dir", &r.dir);
    obj.insert("summary".into(), Value::from(r.summary.as_str()));
    obj.insert("parent".into(), posture(&r.parent));
    obj.insert("directory".into(), posture(&r.directory));
    obj.insert(
        "files".into(),
        Value::Array(r.files.iter().map(file).collect()),
    );
    let trees: Vec<Value> = r
        .trees
        .iter()
        .map(|t| {
            let mut v = name_value(&t.name);
            let o = v.as_object_mut().expect("object");
            o.insert("class".into(), Value::from(t.class.name()));
            o.insert("posture".into(), Value::from(t.posture.name()));
            let c = &t.counts;
            o.insert(
                "counts".into(),
                json!({
                    "directories": c.directories,
                    "files": c.files,
                    "symlinks": c.symlinks,
                    "quarantined": c.quarantined,
                    "refused": c.untouched,
                    "renewed": c.renewed,
                    "changed": c.changed,
                    "carve_outs": c.carve_outs,
                    "bytes": c.bytes,
                }),
            );
            v
        })
        .collect();
    obj.insert("trees".into(), Value::Array(trees));
    obj.insert(
        "seal".into(),
        match &r.seal {
            None => Value::Null,
            Some(s) => {
                let mut v = name_value(&s.file);
                let o = v.as_object_mut().expect("object");
                o.insert("form".into(), Value::from(s.form.name()));
                o.insert("written".into(), Value::from(s.written));
                o.insert("holds".into(), Value::from(s.holds));
                o.insert(
                    "named".into(),
                    Value::Array(
                        s.named
                            .iter()
                            .map(|(n, ok)| {
                                let mut v = name_value(n);
                                v.as_object_mut()
                                    .expect("object")
                                    .insert("matches".into(), Value::from(*ok));
                                v
                            })
                            .collect(),
                    ),
                );
                o.insert(
                    "unsealed".into(),
                    Value::Array(s.unsealed.iter().map(|n| name_value(n)).collect()),
                );
                o.insert(
                    "problem".into(),
                    s.problem.as_deref().map_or(Value::Null, Value::from),
                );
                v
            }
        },
    );
    obj.insert(
        "layers".into(),
        json!({
            "dir_immutable": r.dir_pinned,
            "chattr_applied": r.chattr_applied,
            "files_read_only_mounts": !r.files.is_empty() && r.files.iter().all(|f| f.read_only_mount),
        }),
    );
    obj.insert(
        "renewed".into(),
        Value::Array(r.renewed.iter().map(|n| name_value(n)).collect()),
    );
    obj.insert(
        "quarantined".into(),
        Value::Array(
            r.quarantined
                .iter()
                .map(|(from, to)| {
                    let mut o = Map::new();
                    put_bytes(&mut o, "from", from);
                    put_bytes(&mut o, "to", to);
                    Value::Object(o)
                })
                .collect(),
        ),
    );
    obj.insert(
        "issues".into(),
        Value::Array(
            r.issues
                .iter()
                .map(|i| {
                    let mut o = Map::new();
                    o.insert("code".into(), Value::from(i.code.name()));
                    put_bytes(&mut o, "path", &i.path);
                    o.insert("detail".into(), Value::from(i.detail.as_str()));
                    Value::Object(o)
                })
                .collect(),
        ),
    );
    crate::escape::escape_json_breaks(Value::Object(obj).to_string())
}
