//! `workers = N` (N ≥ 2) as Swift runs it: one parent process binds the
//! socket and forks N worker processes that all accept on it. The parent
//! replaces a worker that dies; on SIGTERM or SIGINT it asks every worker to
//! stop (each finishes the requests it has in flight) and exits once the
//! last one has. A worker whose parent dies is sent SIGTERM by the kernel.

use std::net::TcpListener;
use std::time::{Duration, Instant};

/// A worker that dies sooner than this after starting is replaced only
/// after this long, so a worker failing at startup does not spin.
const RESPAWN_PAUSE: Duration = Duration::from_secs(1);

/// Runs `serve_one` in `count` forked worker processes sharing `listener`,
/// supervising them until SIGTERM / SIGINT. Must be called before the
/// process starts any thread (forking copies only the calling thread).
pub fn run(
    count: usize,
    listener: TcpListener,
    serve_one: impl Fn(TcpListener) -> Result<(), String>,
) -> Result<(), String> {
    if thread_count() > 1 {
        return Err("cannot fork workers: the process already runs threads".into());
    }
    let signals = Signals::block()?;
    let mut slots: Vec<Option<(libc::pid_t, Instant)>> = vec![None; count];
    let spawn = |slots: &mut Vec<Option<(libc::pid_t, Instant)>>, slot: usize| match fork_worker(
        &listener, &signals, &serve_one,
    ) {
        Ok(pid) => slots[slot] = Some((pid, Instant::now())),
        Err(e) => tracing::error!("cannot start worker {slot}: {e}"),
    };
    for slot in 0..count {
        spawn(&mut slots, slot);
    }
    tracing::info!("started {count} workers");
    let mut stopping = false;
    loop {
        for (slot, (pid, started), status) in reap(&mut slots) {
            if stopping {
                continue;
            }
            tracing::warn!("worker {pid} exited ({status}); starting another");
            if started.elapsed() < RESPAWN_PAUSE {
                std::thread::sleep(RESPAWN_PAUSE);
            }
            spawn(&mut slots, slot);
        }
        if stopping && slots.iter().all(Option::is_none) {
            tracing::info!("all workers stopped");
            return Ok(());
        }
        if !stopping && slots.iter().all(Option::is_none) {
            return Err("no worker could be started".into());
        }
        match signals.wait() {
            libc::SIGTERM | libc::SIGINT if !stopping => {
                tracing::info!("stopping {} workers", slots.iter().flatten().count());
                stopping = true;
                for (pid, _) in slots.iter().flatten() {
                    // SAFETY: kill only sends a signal to our own child.
                    unsafe { libc::kill(*pid, libc::SIGTERM) };
                }
            }
            _ => {}
        }
    }
}

/// Threads of this process (from /proc; 1 if unknown).
fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(1, Iterator::count)
}

/// Reaps every exited worker: (slot, (pid, start), how it ended).
fn reap(
    slots: &mut [Option<(libc::pid_t, Instant)>],
) -> Vec<(usize, (libc::pid_t, Instant), String)> {
    let mut done = Vec::new();
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes only the status we pass.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return done;
        }
        let how = if libc::WIFEXITED(status) {
            format!("status {}", libc::WEXITSTATUS(status))
        } else {
            format!("signal {}", libc::WTERMSIG(status))
        };
        if let Some(slot) = slots.iter().position(|s| s.is_some_and(|(p, _)| p == pid)) {
            if let Some(entry) = slots[slot].take() {
                done.push((slot, entry, how));
            }
        }
    }
}

/// SIGTERM, SIGINT and SIGCHLD, blocked in the parent and taken with sigwait.
struct Signals {
    set: libc::sigset_t,
    old: libc::sigset_t,
}

impl Signals {
    fn block() -> Result<Signals, String> {
        // SAFETY: the sigset functions only write the sets we pass.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGCHLD] {
                libc::sigaddset(&mut set, sig);
            }
            if libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) != 0 {
                return Err("cannot block signals".into());
            }
            Ok(Signals { set, old })
        }
    }

    /// The next of the blocked signals.
    fn wait(&self) -> libc::c_int {
        let mut sig = 0;
        // SAFETY: sigwait reads our set and writes the signal number.
        unsafe { libc::sigwait(&self.set, &mut sig) };
        sig
    }
}

/// Forks one worker; the child serves and exits, the parent gets its pid.
fn fork_worker(
    listener: &TcpListener,
    signals: &Signals,
    serve_one: &impl Fn(TcpListener) -> Result<(), String>,
) -> Result<libc::pid_t, String> {
    let parent = std::process::id() as libc::pid_t;
    let socket = listener
        .try_clone()
        .map_err(|e| format!("cannot share the socket: {e}"))?;
    // SAFETY: the process is single-threaded here (checked in `run`), so the
    // child is a complete copy of it.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error().to_string());
    }
    if pid > 0 {
        return Ok(pid);
    }
    // The worker: default signal mask, SIGTERM when the parent goes away.
    // SAFETY: plain syscalls on values we own.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, &signals.old, std::ptr::null_mut());
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
        if libc::getppid() != parent {
            libc::_exit(0);
        }
    }
    let code = match serve_one(socket) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("worker {}: {e}", std::process::id());
            1
        }
    };
    std::process::exit(code);
}
