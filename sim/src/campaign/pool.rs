//! Many independent runs on worker threads: each run on a thread of its own (turmoil's world is
//! thread-local and a run's state is `Rc`-based, so a run never leaves its thread), results
//! handed back to the calling thread as they finish. Only orchestration is parallel; every run
//! stays single-threaded and deterministic.

use std::sync::mpsc;

/// A run needs more stack than a spawned thread's 2 MiB default gives on some scenarios; this is
/// address space, touched only as deep as a run goes.
pub const RUN_STACK_BYTES: usize = 64 << 20;

/// Runs `work` on every item, up to `jobs` at once; `on_done(index, result)` is called on the
/// calling thread as each finishes, in finishing order. When no thread can be had, the item runs
/// on the calling thread instead.
#[allow(clippy::disallowed_methods)] // orchestration only: each simulated run is single-threaded
pub fn run_parallel<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    work: impl Fn(&T) -> R + Sync,
    mut on_done: impl FnMut(usize, R),
) {
    let jobs = jobs.max(1);
    let (sender, receiver) = mpsc::channel::<(usize, R)>();
    let work = &work;
    std::thread::scope(|scope| {
        let mut pending = items.iter().enumerate();
        let mut running = 0usize;
        loop {
            while running < jobs {
                let Some((index, item)) = pending.next() else {
                    break;
                };
                let sender = sender.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("run-{index}"))
                    .stack_size(RUN_STACK_BYTES)
                    .spawn_scoped(scope, move || {
                        // The receiver outlives every worker; a send cannot fail.
                        let _ = sender.send((index, work(item)));
                    });
                match spawned {
                    Ok(_) => running += 1,
                    Err(_) => on_done(index, work(item)),
                }
            }
            if running == 0 {
                break;
            }
            match receiver.recv() {
                Ok((index, result)) => {
                    running -= 1;
                    on_done(index, result);
                }
                Err(_) => break,
            }
        }
    });
}

/// The message a caught panic carried, for a result line that reports it.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}
