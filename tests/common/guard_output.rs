//! The acceptance rules of NemoClaw's parsers of its guards' output, in our own words:
//! `parseOpenClawConfigGuardOutput` (src/lib/shields/openclaw-config-lock.ts) and the
//! state-dir guard's `parseGuardOutput` (state-dir-lock.ts). Every output of the drop-in
//! that a test sees goes through one of them: a violation is a contract failure, whatever
//! the action answered. Shared by the privileged suite and the CLI's tests (`#[path]`).

use serde_json::Value;

/// What a call printed and how it ended (`None`: killed by a signal).
pub struct Run<'a> {
    pub stdout: &'a [u8],
    pub stderr: &'a [u8],
    pub status: Option<i32>,
}

/// An issue record: `code`, `path`, `detail`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    pub code: String,
    pub path: String,
    pub detail: String,
}

/// What a parser accepted.
#[derive(Debug)]
pub struct Accepted {
    pub issues: Vec<Issue>,
    #[allow(dead_code)] // read by the privileged suite, not by every includer
    pub result: serde_json::Map<String, Value>,
    pub ok: bool,
}

const TOP_ACTIONS: [&str; 10] = [
    "preflight",
    "preflight-restart",
    "lock",
    "unlock",
    "seal-restart",
    "unseal-restart",
    "write-config",
    "recover",
    "revoke-startup-ready",
    "publish-startup-ready",
];

fn issue_of(record: &serde_json::Map<String, Value>) -> Option<Issue> {
    if record.get("type")? != "issue" {
        return None;
    }
    Some(Issue {
        code: record.get("code")?.as_str()?.to_string(),
        path: record.get("path")?.as_str()?.to_string(),
        detail: record.get("detail")?.as_str()?.to_string(),
    })
}

fn optional(record: &serde_json::Map<String, Value>, key: &str, ok: fn(&Value) -> bool) -> bool {
    match record.get(key) {
        None => true,
        Some(value) => ok(value),
    }
}

/// The records of `stdout`, each line JSON, sorted into issues and results by `is_result`.
fn records(
    run: &Run<'_>,
    is_result: impl Fn(&serde_json::Map<String, Value>) -> bool,
    violations: &mut Vec<String>,
) -> (Vec<Issue>, Vec<serde_json::Map<String, Value>>) {
    let (mut issues, mut results) = (Vec::new(), Vec::new());
    let text = String::from_utf8_lossy(run.stdout);
    for line in text.split('\n') {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(&lone_surrogates_replaced(trimmed)) {
            Ok(Value::Object(record)) => {
                if let Some(issue) = issue_of(&record) {
                    issues.push(issue);
                } else if is_result(&record) {
                    results.push(record);
                } else {
                    violations.push(format!("unknown record: {trimmed}"));
                }
            }
            Ok(_) => violations.push(format!("invalid record: {trimmed}")),
            Err(_) => violations.push(format!("non-JSON output: {trimmed}")),
        }
    }
    (issues, results)
}

fn common_end(
    run: &Run<'_>,
    action: &str,
    issues: &[Issue],
    results: &[serde_json::Map<String, Value>],
    violations: &mut Vec<String>,
) -> Option<bool> {
    if results.len() != 1 {
        violations.push(format!("{} result records", results.len()));
    }
    let result = results.first()?;
    if result.get("action").and_then(Value::as_str) != Some(action) {
        violations.push(format!(
            "result action {:?} (expected {action})",
            result.get("action")
        ));
    }
    let ok = result.get("status").and_then(Value::as_str) == Some("ok");
    if ok && (!issues.is_empty() || run.status != Some(0)) {
        violations.push("success with issues or a non-zero exit".into());
    }
    if !ok && run.status == Some(0) {
        violations.push("failure with a zero exit".into());
    }
    match run.status {
        None => violations.push("killed by a signal".into()),
        Some(s) if s != 0 && issues.is_empty() => {
            violations.push(format!("exit {s} without a diagnostic"))
        }
        _ => {}
    }
    if !String::from_utf8_lossy(run.stderr).trim().is_empty() {
        violations.push(format!(
            "unexpected stderr: {}",
            String::from_utf8_lossy(run.stderr)
        ));
    }
    Some(ok)
}

/// `parseOpenClawConfigGuardOutput`'s rules; `Err` lists every violation.
pub fn openclaw_config(action: &str, run: &Run<'_>) -> Result<Accepted, Vec<String>> {
    let mut violations = Vec::new();
    let is_result = |r: &serde_json::Map<String, Value>| {
        r.get("type").is_some_and(|t| t == "result")
            && r.get("action")
                .and_then(Value::as_str)
                .is_some_and(|a| TOP_ACTIONS.contains(&a))
            && r.get("status")
                .and_then(Value::as_str)
                .is_some_and(|s| s == "ok" || s == "failed")
            && optional(r, "configDir", Value::is_string)
            && optional(r, "files", |v| {
                v.as_array().is_some_and(|a| a.iter().all(Value::is_string))
            })
            && optional(r, "chattrApplied", Value::is_boolean)
            && optional(r, "configSha256", Value::is_string)
            && optional(r, "recovery", Value::is_string)
            && optional(r, "originalLocked", Value::is_boolean)
    };
    let (issues, results) = records(run, is_result, &mut violations);
    let ok = common_end(run, action, &issues, &results, &mut violations);
    if ok == Some(true) {
        let result = &results[0];
        if result.get("configDir").and_then(Value::as_str) != Some("/sandbox/.openclaw") {
            violations.push(format!("configDir {:?}", result.get("configDir")));
        }
        let startup = action == "revoke-startup-ready" || action == "publish-startup-ready";
        let files = result.get("files").and_then(Value::as_array);
        let exact = files
            .is_some_and(|f| f.len() == 2 && f[0] == "openclaw.json" && f[1] == ".config-hash");
        if !startup && !exact {
            violations.push("unexpected protected-file set".into());
        }
        if let Some(sha) = result.get("configSha256").and_then(Value::as_str) {
            if sha.len() != 64
                || !sha
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                violations.push("invalid configSha256".into());
            }
        }
    }
    if violations.is_empty() {
        Ok(Accepted {
            issues,
            result: results.into_iter().next().unwrap_or_default(),
            ok: ok == Some(true),
        })
    } else {
        Err(violations)
    }
}

/// The state-dir parser's rules (also `issueCount` equal to the issues seen).
pub fn state_dir(action: &str, run: &Run<'_>) -> Result<Accepted, Vec<String>> {
    let mut violations = Vec::new();
    let is_result = |r: &serde_json::Map<String, Value>| {
        r.get("type").is_some_and(|t| t == "result")
            && r.get("action")
                .and_then(Value::as_str)
                .is_some_and(|a| ["preflight", "lock", "unlock"].contains(&a))
            && r.get("status")
                .and_then(Value::as_str)
                .is_some_and(|s| s == "ok" || s == "failed")
            && r.get("issueCount")
                .is_some_and(|n| n.is_u64() || n.is_i64())
    };
    let (issues, results) = records(run, is_result, &mut violations);
    if let Some(count) = results
        .first()
        .and_then(|r| r.get("issueCount"))
        .and_then(Value::as_u64)
    {
        if count != issues.len() as u64 {
            violations.push(format!("issueCount {count} (observed {})", issues.len()));
        }
    }
    let ok = common_end(run, action, &issues, &results, &mut violations);
    if violations.is_empty() {
        Ok(Accepted {
            issues,
            result: results.into_iter().next().unwrap_or_default(),
            ok: ok == Some(true),
        })
    } else {
        Err(violations)
    }
}

/// JavaScript's `JSON.parse` takes a lone surrogate escape (`\udcff`, which Python writes
/// for a byte that is not UTF-8); serde_json refuses it. Such escapes become U+FFFD here, so
/// that the parser accepts what NemoClaw's accepts (the values compared are ASCII).
fn lone_surrogates_replaced(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let unit = |at: usize| -> Option<u32> {
        if chars.get(at) == Some(&'\\') && chars.get(at + 1) == Some(&'u') {
            let hex: String = chars.get(at + 2..at + 6)?.iter().collect();
            u32::from_str_radix(&hex, 16).ok()
        } else {
            None
        }
    };
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '\\' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        match unit(i) {
            Some(0xd800..=0xdbff)
                if unit(i + 6).is_some_and(|low| (0xdc00..=0xdfff).contains(&low)) =>
            {
                out.extend(&chars[i..i + 12]);
                i += 12;
            }
            Some(0xd800..=0xdfff) => {
                out.push_str("\\ufffd");
                i += 6;
            }
            _ => {
                out.extend(chars.get(i..i + 2).unwrap_or(&chars[i..]));
                i += 2;
            }
        }
    }
    out
}
