//! The engine as `/init` of a minimal Linux VM (the `linux-vm` target: an
//! initramfs that holds nothing but this binary).
//!
//! As PID 1 the engine mounts /proc and /sys, brings every CPU the kernel
//! left offline online (a counted guest boots with `maxcpus=1`: QEMU 7.2's
//! round-robin under icount starves a second vCPU while the first spins in
//! the kernel's SMP bring-up), keeps kernel messages off the console,
//! and forks: the child runs the engine with the arguments the kernel passed
//! after `--` on its command line, the parent waits for it, prints
//! `exit status N` (128 + signal for a child killed by a signal), drains the
//! serial line and ends the VM through QEMU's `isa-debug-exit` port, so that
//! neither an exit nor a crash of the engine can panic the kernel.

use std::io::Write;

/// QEMU's `-device isa-debug-exit,iobase=0xf4,iosize=0x04`.
const DEBUG_EXIT_PORT: u16 = 0xf4;

/// None unless this process is PID 1. As PID 1: the child returns
/// `Some(arguments)` and runs the engine; the parent never returns.
pub fn enter() -> Option<Vec<String>> {
    // SAFETY: getpid has no preconditions.
    if unsafe { libc::getpid() } != 1 {
        return None;
    }
    // Firmware leaves its last line unterminated: start records on a fresh one.
    println!();
    let _ = std::fs::create_dir("/proc");
    let _ = std::fs::create_dir("/sys");
    // SAFETY: constant NUL-terminated strings; klogctl(8, _, 1) sets the
    // console log level to emergencies only, so kernel lines cannot split records.
    unsafe {
        libc::mount(c"proc".as_ptr(), c"/proc".as_ptr(), c"proc".as_ptr(), 0, std::ptr::null());
        libc::mount(c"sysfs".as_ptr(), c"/sys".as_ptr(), c"sysfs".as_ptr(), 0, std::ptr::null());
        libc::klogctl(8, std::ptr::null_mut(), 1);
    }
    bring_cpus_online();
    let args = engine_args(std::env::args().skip(1).collect());
    // SAFETY: this runs first in main, before any other thread exists.
    match unsafe { libc::fork() } {
        0 => Some(args),
        -1 => power_off(1),
        child => power_off(wait_for(child)),
    }
}

/// Writes `1` to the `online` file of every CPU that has one and reads `0`
/// (CPU 0 has none); a CPU that refuses stays offline, and the engine's
/// `hello` shows how many threads it got.
fn bring_cpus_online() {
    let Ok(cpus) = std::fs::read_dir("/sys/devices/system/cpu") else {
        return;
    };
    let mut offline: Vec<_> = cpus
        .flatten()
        .map(|entry| entry.path().join("online"))
        .filter(|online| std::fs::read_to_string(online).is_ok_and(|state| state.trim() == "0"))
        .collect();
    offline.sort();
    for online in offline {
        let _ = std::fs::write(online, "1");
    }
}

/// The kernel hands init its unknown bare words (e.g. `nokaslr`) before the
/// words after `--`: the engine's arguments start at the first one that
/// looks like an engine argument.
fn engine_args(mut args: Vec<String>) -> Vec<String> {
    let start = args.iter().position(|a| a.starts_with(['{', '-']) || a.starts_with(crate::entry::B64_PREFIX));
    args.drain(..start.unwrap_or(args.len()));
    args
}

/// Waits for `child`, reaping anything else, and returns its status as a shell reports it.
fn wait_for(child: libc::pid_t) -> i32 {
    loop {
        let mut status = 0;
        // SAFETY: waitpid on this process's own children.
        let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
        if pid == child {
            if libc::WIFEXITED(status) {
                return libc::WEXITSTATUS(status);
            }
            if libc::WIFSIGNALED(status) {
                return 128 + libc::WTERMSIG(status);
            }
        } else if pid == -1 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return 255;
        }
    }
}

/// Prints `exit status N`, waits until the serial line has sent it, and ends
/// the VM: the debug-exit port when QEMU has one, else an ACPI power-off.
fn power_off(code: i32) -> ! {
    let mut out = std::io::stdout();
    let _ = writeln!(out, "exit status {code}").and_then(|_| out.flush());
    // SAFETY: fd 1 is the console; ioperm and the port write touch only the
    // debug-exit port; reboot ends the machine.
    unsafe {
        libc::tcdrain(1);
        libc::sync();
        #[cfg(target_arch = "x86_64")]
        if libc::ioperm(libc::c_ulong::from(DEBUG_EXIT_PORT), 1, 1) == 0 {
            std::arch::asm!("out dx, al", in("dx") DEBUG_EXIT_PORT, in("al") code as u8,
                options(nomem, nostack, preserves_flags));
        }
        libc::reboot(libc::RB_POWER_OFF);
        loop {
            libc::pause();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::engine_args;

    #[test]
    fn kernel_words_before_the_engine_arguments_are_dropped() {
        let given = ["nokaslr", "quiet", "b64:e30", "--x"].map(String::from).to_vec();
        assert_eq!(engine_args(given), ["b64:e30", "--x"]);
        assert!(engine_args(vec!["nokaslr".into()]).is_empty());
    }
}
