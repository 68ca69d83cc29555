//! The faces of the engine that the tests drive alike, as libpathrs runs every case through
//! its Rust API and its C API: the Rust API with openat2, the Rust API with the fallback
//! walk forced, and the C ABI (called in-process through its `extern "C"` functions).

#![allow(dead_code)]

pub mod native;

use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::ptr;

use nc_harden::capi::{self, nc_entry, nc_options, nc_report};
use nc_harden::rules::Reason;
use nc_harden::{Action, Layer, MountApi, Policy, Report, Resolution, Status, Strategy};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Face {
    /// openat2 and the new mount API.
    Rust,
    /// Both fallbacks forced: the O_PATH walk and mount(2).
    RustFallbacks,
    C,
}

impl Face {
    pub const ALL: [Face; 3] = [Face::Rust, Face::RustFallbacks, Face::C];

    pub fn name(self) -> &'static str {
        match self {
            Face::Rust => "rust",
            Face::RustFallbacks => "rust_fallbacks",
            Face::C => "c",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Freeze,
    Verify,
    Unfreeze,
}

/// One call's arguments.
#[derive(Clone, Debug)]
pub struct Call {
    pub dir: PathBuf,
    pub data: PathBuf,
    pub owner: u32,
    pub require: Vec<String>,
    pub strategy: Strategy,
    pub pin_data_dir: bool,
    /// A flat layout: `data` is not passed (C: NULL).
    pub flat: bool,
    pub allow_missing: bool,
    pub seal: Option<String>,
    pub reseal: bool,
    pub lock_posture: bool,
    pub hand_to: Option<nc_harden::HandTo>,
    /// The state directory (Rust faces only; `None`: the default, the only one of C).
    pub state_dir: Option<PathBuf>,
}

impl Call {
    pub fn new(dir: &Path, data: &Path, owner: u32) -> Call {
        Call {
            dir: dir.into(),
            data: data.into(),
            owner,
            require: vec![],
            strategy: Strategy::Auto,
            pin_data_dir: false,
            flat: false,
            allow_missing: false,
            seal: None,
            reseal: false,
            lock_posture: false,
            hand_to: None,
            state_dir: None,
        }
    }

    pub fn with_strategy(mut self, strategy: Strategy) -> Call {
        self.strategy = strategy;
        self
    }

    /// The call's locks and records in `state_dir` rather than the machine's.
    pub fn with_state_dir(mut self, state_dir: &Path) -> Call {
        self.state_dir = Some(state_dir.into());
        self
    }
}

/// One record, the same from every face.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub name: Vec<u8>,
    pub action: Action,
    pub reason: Reason,
    pub errno: i32,
}

/// What a call returned, the same from every face.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub status: Status,
    pub immutable_layer: bool,
    pub mount_layer: bool,
    /// What each layer answered: (layer, action, errno).
    pub attempts: Vec<(Layer, Action, i32)>,
    pub records: Vec<Record>,
    pub summary: String,
    /// The report's JSON, parsed (from `nc_report_json` for the C face).
    pub json: serde_json::Value,
}

impl Outcome {
    pub fn record(&self, name: &str) -> &Record {
        self.records
            .iter()
            .find(|r| r.name == name.as_bytes())
            .unwrap_or_else(|| panic!("no record named {name:?} in {:#?}", self.records))
    }

    pub fn attempt(&self, layer: Layer) -> Option<(Action, i32)> {
        self.attempts
            .iter()
            .find(|a| a.0 == layer)
            .map(|a| (a.1, a.2))
    }

    pub fn rejected(&self) -> Vec<&Record> {
        self.records
            .iter()
            .filter(|r| r.action == Action::Rejected)
            .collect()
    }
}

fn from_report(report: &Report) -> Outcome {
    Outcome {
        status: report.status(),
        immutable_layer: report.layers().immutable,
        mount_layer: report.layers().mount,
        attempts: report
            .attempts()
            .iter()
            .map(|a| (a.layer, a.action, a.errno))
            .collect(),
        records: report
            .entries()
            .iter()
            .map(|e| Record {
                name: e.name.clone(),
                action: e.action,
                reason: e.reason,
                errno: e.errno,
            })
            .collect(),
        summary: report.summary().to_string(),
        json: serde_json::from_str(&report.to_json()).expect("the report's JSON parses"),
    }
}

impl Face {
    pub fn call(self, op: Op, call: &Call) -> Outcome {
        match self {
            Face::Rust | Face::RustFallbacks => {
                let mut builder = if call.flat {
                    Policy::flat(&call.dir)
                } else {
                    Policy::builder(&call.dir, &call.data)
                }
                .owner(call.owner)
                .strategy(call.strategy)
                .pin_data_dir(call.pin_data_dir)
                .allow_missing(call.allow_missing)
                .reseal(call.reseal)
                .lock_posture(call.lock_posture);
                if let Some(seal) = &call.seal {
                    builder = builder.seal(seal);
                }
                if let Some(hand_to) = call.hand_to {
                    builder = builder.hand_to(hand_to);
                }
                if let Some(state_dir) = &call.state_dir {
                    builder = builder.state_dir(state_dir);
                }
                if self == Face::RustFallbacks {
                    builder = builder
                        .resolution(Resolution::WalkOnly)
                        .mount_api(MountApi::Legacy);
                }
                for name in &call.require {
                    builder = builder.require(name);
                }
                let policy = builder.build().expect("valid arguments");
                let result = match op {
                    Op::Freeze => policy.validate_and_freeze(),
                    Op::Verify => policy.verify(),
                    Op::Unfreeze => policy.unfreeze(),
                };
                let operation = match op {
                    Op::Freeze => nc_harden::Operation::Freeze,
                    Op::Verify => nc_harden::Operation::Verify,
                    Op::Unfreeze => nc_harden::Operation::Unfreeze,
                };
                from_report(&Report::from_result(operation, policy.dir(), result))
            }
            Face::C => c_call(op, call),
        }
    }
}

fn cstring(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).unwrap()
}

fn c_call(op: Op, call: &Call) -> Outcome {
    assert!(
        call.state_dir.is_none(),
        "the C ABI has no state directory option: a call with one is Rust's"
    );
    let (dir, data) = (cstring(&call.dir), cstring(&call.data));
    let names: Vec<CString> = call
        .require
        .iter()
        .map(|n| CString::new(n.as_str()).unwrap())
        .collect();
    let mut required: Vec<*const libc::c_char> = names.iter().map(|n| n.as_ptr()).collect();
    required.push(ptr::null());
    let seal = call
        .seal
        .as_ref()
        .map(|s| CString::new(s.as_str()).unwrap());
    let bit = |on: bool, bit: u32| if on { bit } else { 0 };
    let leave = |v: Option<u32>| v.unwrap_or(capi::NC_LEAVE);
    let hand = call.hand_to.unwrap_or_default();
    let opts = nc_options {
        size: std::mem::size_of::<nc_options>() as u32,
        flags: bit(call.pin_data_dir, capi::NC_FLAG_PIN_DATA_DIR)
            | bit(call.allow_missing, capi::NC_FLAG_ALLOW_MISSING)
            | bit(call.reseal, capi::NC_FLAG_RESEAL)
            | bit(call.lock_posture, capi::NC_FLAG_LOCK_POSTURE)
            | bit(call.hand_to.is_some(), capi::NC_FLAG_HAND_TO),
        owner_uid: call.owner,
        strategy: call.strategy as u32,
        required: if call.require.is_empty() {
            ptr::null()
        } else {
            required.as_ptr()
        },
        seal: seal.as_ref().map_or(ptr::null(), |s| s.as_ptr()),
        hand_to_uid: leave(hand.uid),
        hand_to_gid: leave(hand.gid),
        dir_mode: leave(hand.dir_mode),
        file_mode: leave(hand.file_mode),
    };
    let f = match op {
        Op::Freeze => capi::nc_validate_and_freeze,
        Op::Verify => capi::nc_verify,
        Op::Unfreeze => capi::nc_unfreeze,
    };
    let mut report: *mut nc_report = ptr::null_mut();
    let data_ptr = if call.flat {
        ptr::null()
    } else {
        data.as_ptr()
    };
    // SAFETY: valid strings (or NULL for a flat layout), options and out-pointer.
    let status = unsafe { f(dir.as_ptr(), data_ptr, &opts, &mut report) };
    assert!(
        !report.is_null(),
        "a call with valid arguments always gives a report"
    );
    // SAFETY: `report` is a live report until freed below.
    let outcome = unsafe {
        assert_eq!(capi::nc_report_status(report), status);
        let mut attempts = Vec::new();
        for layer in [Layer::Immutable, Layer::Mount, Layer::DataDir] {
            let (mut action, mut errno) = (Action::Checked, 0);
            if capi::nc_report_layer(report, layer as u32, &mut action, &mut errno) {
                attempts.push((layer, action, errno));
            }
        }
        let len = capi::nc_report_len(report);
        let mut records = Vec::with_capacity(len);
        for i in 0..len {
            let mut e = std::mem::MaybeUninit::<nc_entry>::uninit();
            assert!(capi::nc_report_entry(report, i, e.as_mut_ptr()));
            let e = e.assume_init();
            let name = std::slice::from_raw_parts(e.name.cast::<u8>(), e.name_len).to_vec();
            assert_eq!(
                CStr::from_ptr(e.name).to_bytes(),
                name.as_slice(),
                "names are NUL-terminated"
            );
            records.push(Record {
                name,
                action: e.action,
                reason: e.reason,
                errno: e.error,
            });
        }
        Outcome {
            status: Status::from_code(status as u32).expect("a known status"),
            immutable_layer: capi::nc_report_layers(report) & capi::NC_LAYER_IMMUTABLE != 0,
            mount_layer: capi::nc_report_layers(report) & capi::NC_LAYER_MOUNT != 0,
            attempts,
            records,
            summary: CStr::from_ptr(capi::nc_report_summary(report))
                .to_string_lossy()
                .into_owned(),
            json: {
                let text = capi::nc_report_json(report);
                let value = serde_json::from_str(&CStr::from_ptr(text).to_string_lossy())
                    .expect("the report's JSON parses");
                capi::nc_string_free(text);
                value
            },
        }
    };
    // SAFETY: freed once.
    unsafe { capi::nc_report_free(report) };
    outcome
}
