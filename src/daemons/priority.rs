//! The CPU and I/O priority a daemon asks for in its config, as Swift's
//! `nice_priority`, `ionice_class` and `ionice_priority` options: applied
//! once at start-up, before any thread is spawned, so every thread
//! inherits it. A value that cannot be applied is a warning, never fatal.

use super::conf::DaemonConf;

/// `ioprio_set`'s "who" for one process (or thread).
const IOPRIO_WHO_PROCESS: libc::c_long = 1;
/// Bits of an I/O priority value that hold the class.
const IOPRIO_CLASS_SHIFT: u32 = 13;

/// The I/O scheduling class named by `ionice_class`, as the kernel numbers it.
fn io_class(name: &str) -> Option<u32> {
    match name {
        "IOPRIO_CLASS_RT" => Some(1),
        "IOPRIO_CLASS_BE" => Some(2),
        "IOPRIO_CLASS_IDLE" => Some(3),
        _ => None,
    }
}

/// The kernel's I/O priority value for `class` and `level`.
fn ioprio_value(class: u32, level: u32) -> libc::c_long {
    ((class << IOPRIO_CLASS_SHIFT) | level) as libc::c_long
}

/// What `conf` asks for: the nice value, and the I/O class and level.
#[derive(Debug, PartialEq, Eq)]
pub struct Priority {
    pub nice: Option<Result<i32, String>>,
    pub io: Option<Result<(u32, u32), String>>,
}

/// Reads the three options as Swift does: `ionice_priority` counts only
/// with `ionice_class`, and defaults to 0.
pub fn requested(conf: &DaemonConf) -> Priority {
    let nice = conf.get("nice_priority").map(|v| {
        v.trim()
            .parse::<i32>()
            .map_err(|_| format!("nice_priority {v:?} is not an integer"))
    });
    let io = conf.get("ionice_class").map(|class| {
        let level = conf.get("ionice_priority").unwrap_or("0");
        let class_id =
            io_class(class.trim()).ok_or_else(|| format!("ionice_class {class:?} is unknown"))?;
        let level = level
            .trim()
            .parse::<u32>()
            .map_err(|_| format!("ionice_priority {level:?} is not a whole number"))?;
        Ok((class_id, level))
    });
    Priority { nice, io }
}

/// Applies what `conf` asks for to this process, warning (on stdout, as
/// Swift's daemons do, and in the log) about what could not be applied.
pub fn apply(conf: &DaemonConf) {
    let wanted = requested(conf);
    if let Some(nice) = wanted.nice {
        let outcome = nice.and_then(|n| {
            // SAFETY: setpriority(2) on this process; no memory is involved.
            let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, n) };
            if rc == -1 {
                Err(std::io::Error::last_os_error().to_string())
            } else {
                Ok(n)
            }
        });
        match outcome {
            Ok(n) => tracing::debug!("set nice priority to {n}"),
            Err(why) => {
                println!("WARNING: Unable to modify scheduling priority of process. Keeping unchanged! ({why})");
                tracing::warn!("unable to modify nice priority: {why}");
            }
        }
    }
    if let Some(io) = wanted.io {
        let outcome = io.and_then(|(class, level)| {
            // SAFETY: ioprio_set(2) on this process; no memory is involved.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_ioprio_set,
                    IOPRIO_WHO_PROCESS,
                    0 as libc::c_long,
                    ioprio_value(class, level),
                )
            };
            if rc == -1 {
                Err(std::io::Error::last_os_error().to_string())
            } else {
                Ok((class, level))
            }
        });
        match outcome {
            Ok((class, level)) => tracing::debug!("set ionice class {class} priority {level}"),
            Err(why) => {
                println!("WARNING: Unable to modify I/O scheduling class and priority of process. Keeping unchanged! ({why})");
                tracing::warn!("unable to modify ionice priority: {why}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn conf(body: &str) -> DaemonConf {
        let text = format!("[DEFAULT]\n[object-replicator]\n{body}");
        DaemonConf::from_text(&text, Path::new("t.conf"), "object-replicator").unwrap()
    }

    #[test]
    fn options_read_as_swift_reads_them() {
        assert_eq!(
            requested(&conf("")),
            Priority {
                nice: None,
                io: None
            }
        );
        let p = requested(&conf(
            "nice_priority = 10\nionice_class = IOPRIO_CLASS_IDLE\n",
        ));
        assert_eq!(p.nice, Some(Ok(10)));
        assert_eq!(p.io, Some(Ok((3, 0))));
        let p = requested(&conf("ionice_priority = 4\n"));
        assert_eq!(p.io, None, "a level without a class is ignored");
        let p = requested(&conf(
            "ionice_class = IOPRIO_CLASS_BE\nionice_priority = 7\n",
        ));
        assert_eq!(p.io, Some(Ok((2, 7))));
        assert!(matches!(
            requested(&conf("nice_priority = low\n")).nice,
            Some(Err(_))
        ));
        assert!(matches!(
            requested(&conf("ionice_class = IDLE\n")).io,
            Some(Err(_))
        ));
    }

    #[test]
    fn applied_priority_reaches_the_process() {
        // On Linux the nice value belongs to the calling thread, which here
        // is this test's own: raising it is always allowed, and the kernel
        // then reports the new value.
        // SAFETY: getpriority(2) on this thread; no memory is involved.
        let before = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let want = (before + 1).min(19);
        apply(&conf(&format!("nice_priority = {want}\n")));
        // SAFETY: getpriority(2) on this thread; no memory is involved.
        let after = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        assert_eq!(after, want);
        assert_eq!(ioprio_value(2, 7), (2 << 13) | 7);
    }
}
