//! Running code with fewer privileges, in a thread of its own. Credentials are per thread in
//! Linux; the raw syscalls change only the calling thread (glibc's wrappers would change
//! every thread of the process), so the rest of the test process keeps its privileges.

use std::io;

pub const CAP_LINUX_IMMUTABLE: u32 = 9;
pub const CAP_SYS_ADMIN: u32 = 21;

/// Who runs the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Creds {
    /// The test process as it is.
    Full,
    /// Root, without these capabilities (effective, permitted and bounding sets).
    RootWithout(&'static [u32]),
    /// An unprivileged user: this uid and gid, no supplementary groups, no capabilities.
    User(u32),
}

impl Creds {
    pub fn name(self) -> String {
        match self {
            Creds::Full => "root".into(),
            Creds::RootWithout(caps) => {
                let names: Vec<&str> = caps
                    .iter()
                    .map(|c| match *c {
                        CAP_LINUX_IMMUTABLE => "linux_immutable",
                        CAP_SYS_ADMIN => "sys_admin",
                        _ => "cap",
                    })
                    .collect();
                format!("root_without_{}", names.join("_"))
            }
            Creds::User(uid) => format!("uid_{uid}"),
        }
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

fn check(r: libc::c_long) -> io::Result<()> {
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn drop_caps(caps: &[u32]) -> io::Result<()> {
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and a two-element data array, as capget(2) wants for version 3.
    check(unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut CapHeader,
            data.as_mut_ptr(),
        )
    })?;
    for &cap in caps {
        let (word, bit) = ((cap / 32) as usize, 1u32 << (cap % 32));
        data[word].effective &= !bit;
        data[word].permitted &= !bit;
        data[word].inheritable &= !bit;
        // SAFETY: prctl with integer arguments; affects this thread's bounding set.
        check(
            unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) }
                as libc::c_long,
        )?;
    }
    // SAFETY: as capget; pid 0 is the calling thread.
    check(unsafe {
        libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapHeader,
            data.as_ptr(),
        )
    })
}

/// Whether the calling thread has `cap` in its effective set.
pub fn has_capability(cap: u32) -> bool {
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: as in drop_caps.
    let r = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut CapHeader,
            data.as_mut_ptr(),
        )
    };
    r == 0 && data[(cap / 32) as usize].effective & (1 << (cap % 32)) != 0
}

fn become_user(uid: u32) -> io::Result<()> {
    // SAFETY: raw syscalls with integer arguments change only this thread's credentials.
    unsafe {
        check(libc::syscall(
            libc::SYS_setgroups,
            0,
            std::ptr::null::<libc::gid_t>(),
        ))?;
        check(libc::syscall(libc::SYS_setresgid, uid, uid, uid))?;
        check(libc::syscall(libc::SYS_setresuid, uid, uid, uid))?;
    }
    Ok(())
}

/// Runs `f` in a new thread with `creds` and returns its result. Panics if the credentials
/// cannot be taken: a test must not silently run with more privilege than it says.
pub fn run_as<T: Send>(creds: Creds, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            match creds {
                Creds::Full => {}
                Creds::RootWithout(caps) => {
                    drop_caps(caps).expect("dropping capabilities");
                    assert!(
                        caps.iter().all(|&c| !has_capability(c)),
                        "capabilities still effective"
                    );
                }
                Creds::User(uid) => {
                    become_user(uid).expect("changing uid");
                    // SAFETY: plain getter.
                    assert_eq!(unsafe { libc::syscall(libc::SYS_geteuid) } as u32, uid);
                }
            }
            f()
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

/// Makes `cmd` run with `creds`: the change is made in the child between fork and exec
/// (raw syscalls only, which is what may run there).
pub fn command_as(cmd: &mut std::process::Command, creds: Creds) -> &mut std::process::Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure makes raw syscalls only: no allocation, no lock.
    unsafe {
        cmd.pre_exec(move || match creds {
            Creds::Full => Ok(()),
            Creds::RootWithout(caps) => drop_caps(caps),
            Creds::User(uid) => become_user(uid),
        })
    }
}

/// A seccomp filter for the calling thread that makes the listed syscalls fail with the
/// given errno, as a kernel without them (ENOSYS) or a container's profile (EPERM) would.
fn deny_syscalls(denied: &[(libc::c_long, i32)]) -> io::Result<()> {
    #[repr(C)]
    struct SockFilter {
        code: u16,
        jt: u8,
        jf: u8,
        k: u32,
    }
    #[repr(C)]
    struct SockFprog {
        len: u16,
        filter: *const SockFilter,
    }
    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const RET_K: u16 = 0x06;
    #[cfg(target_arch = "x86_64")]
    const ARCH: u32 = 0xC000_003E;
    #[cfg(target_arch = "aarch64")]
    const ARCH: u32 = 0xC000_00B7;
    let op = |code, jt, jf, k| SockFilter { code, jt, jf, k };
    let allow = 3 + 2 * denied.len();
    // seccomp_data: nr at offset 0, arch at offset 4.
    let mut prog = vec![
        op(LD_W_ABS, 0, 0, 4),
        op(JEQ_K, 0, (allow - 2) as u8, ARCH),
        op(LD_W_ABS, 0, 0, 0),
    ];
    for &(nr, errno) in denied {
        prog.push(op(JEQ_K, 0, 1, nr as u32));
        prog.push(op(
            RET_K,
            0,
            0,
            libc::SECCOMP_RET_ERRNO | (errno as u32 & libc::SECCOMP_RET_DATA),
        ));
    }
    prog.push(op(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW));
    let fprog = SockFprog {
        len: prog.len() as u16,
        filter: prog.as_ptr(),
    };
    // SAFETY: prctl with integers; seccomp with a valid program that outlives the call. No
    // TSYNC flag: the filter binds this thread only.
    unsafe {
        check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) as libc::c_long)?;
        check(libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &fprog as *const SockFprog,
        ))?;
    }
    Ok(())
}

/// Runs `f` in a new thread with `creds` whose listed syscalls fail with the given errno.
pub fn run_denying<T: Send>(
    creds: Creds,
    denied: &[(libc::c_long, i32)],
    f: impl FnOnce() -> T + Send,
) -> T {
    run_as(creds, || {
        deny_syscalls(denied).expect("installing the seccomp filter");
        f()
    })
}
