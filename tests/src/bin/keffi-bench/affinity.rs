//! Pinning processes to CPUs, so a benchmark's client and the server it measures do not queue
//! behind each other on the same cores (`--ledger-cpus`, `--bench-cpus`).

/// Pins every thread `pid` has now to `cpus`; threads it starts later inherit the mask from
/// the thread that starts them.
pub fn pin_process(pid: u32, cpus: &[usize]) -> anyhow::Result<()> {
    // SAFETY: cpu_set_t is plain bits; zeroed is the empty set, which CPU_SET fills.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        anyhow::ensure!(
            cpu < libc::CPU_SETSIZE as usize,
            "CPU {cpu} is past the largest CPU number this system call takes"
        );
        // SAFETY: cpu is below CPU_SETSIZE (checked above), so the bit lies inside `set`.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    let mut pinned = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let Some(tid) = task?
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        // SAFETY: the kernel reads `size_of::<cpu_set_t>()` bytes from `&set`, which is that size.
        let rc =
            unsafe { libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set) };
        // A thread that ended since the directory was read is not an error.
        if rc != 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH) {
            anyhow::bail!(
                "pinning thread {tid} of process {pid} to CPUs {cpus:?}: {}",
                std::io::Error::last_os_error()
            );
        }
        pinned += usize::from(rc == 0);
    }
    anyhow::ensure!(pinned > 0, "process {pid} has no thread left to pin");
    Ok(())
}
