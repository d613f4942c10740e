//! The browser's thread pool: Web Workers over the module's shared memory (the threaded build,
//! `+atomics`), started by the JS package (`pkg/src/threads.js`) only on a cross-origin isolated
//! page. Each worker calls [`worker_run`] and never returns; the thread that calls [`run`] (the page's
//! main thread, or the engine's worker) takes tasks too and then spins until the last one is done:
//! a browser's main thread may not block (`memory.atomic.wait32` traps there), which is also why
//! this is not rayon (its joins block on a condition variable).
//!
//! One job at a time: `run` is called by one thread (the one driving the model), never nested (a
//! task that calls `run` runs its inner job inline).

use core::arch::wasm32::{memory_atomic_notify, memory_atomic_wait32};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering::*};

/// The job as `epoch << 40 | n << 20 | next task to hand out` (20 bits each for `n` and `next`, the
/// epoch's low 24): a worker that read an old job can never claim a task of the next one.
static CLAIM: AtomicU64 = AtomicU64::new(0);
/// Bumped for each job; workers sleep on it between jobs.
static EPOCH: AtomicI32 = AtomicI32::new(0);
static DONE: AtomicUsize = AtomicUsize::new(0);
static WORKERS: AtomicU32 = AtomicU32::new(0);
static RUNNING: AtomicBool = AtomicBool::new(false);

struct Job {
    f: *const (dyn Fn(usize) + Sync),
}

struct JobCell(UnsafeCell<Job>);
// Written by `run` only while no task is claimable; read by workers only after claiming a task of
// the current epoch (which keeps `run` waiting, so the job outlives the read).
unsafe impl Sync for JobCell {}

static JOB: JobCell = JobCell(UnsafeCell::new(Job { f: &noop as &(dyn Fn(usize) + Sync) }));
const TASKS_MAX: usize = 1 << 20;

fn noop(_: usize) {}

/// Threads that take tasks: the workers that have started, plus the caller.
pub fn threads() -> usize {
    1 + WORKERS.load(Relaxed) as usize
}

/// Runs `f(0)`, ..., `f(n - 1)` over the pool; returns when all are done.
pub fn run(n: usize, f: &(dyn Fn(usize) + Sync)) {
    if n <= 1 || n >= TASKS_MAX || WORKERS.load(Relaxed) == 0 || RUNNING.swap(true, Acquire) {
        (0..n).for_each(f);
        return;
    }
    // The job outlives every task: `run` returns only once all `n` are done.
    let f: &'static (dyn Fn(usize) + Sync) = unsafe { std::mem::transmute(f) };
    unsafe { *JOB.0.get() = Job { f } };
    DONE.store(0, Relaxed);
    let epoch = EPOCH.load(Relaxed).wrapping_add(1);
    CLAIM.store(tag(epoch) | (n as u64) << 20, Release);
    EPOCH.store(epoch, Release);
    unsafe { memory_atomic_notify(EPOCH.as_ptr(), u32::MAX) };
    work(epoch);
    while DONE.load(Acquire) < n {
        std::hint::spin_loop();
    }
    RUNNING.store(false, Release);
}

fn tag(epoch: i32) -> u64 {
    ((epoch as u32 & 0xff_ffff) as u64) << 40
}

/// Claims and runs tasks of job `epoch` until none is left.
fn work(epoch: i32) {
    const LOW: u64 = (1 << 20) - 1;
    loop {
        let c = CLAIM.load(Acquire);
        let (next, n) = (c & LOW, c >> 20 & LOW);
        if c & !((1 << 40) - 1) != tag(epoch) || next >= n {
            return;
        }
        if CLAIM.compare_exchange_weak(c, c + 1, AcqRel, Relaxed).is_err() {
            continue;
        }
        // Claimed: `run` waits for this task, so its job stays in place while it runs.
        let f = unsafe { (*JOB.0.get()).f };
        unsafe { (*f)(next as usize) };
        DONE.fetch_add(1, Release);
    }
}

/// A worker's life: wait for a job, take its tasks, wait again. Called once by each pool worker
/// (`threads.js`), after the module is instantiated there on the shared memory.
pub fn worker_run() -> ! {
    WORKERS.fetch_add(1, Relaxed);
    let mut seen = EPOCH.load(Acquire);
    loop {
        let now = EPOCH.load(Acquire);
        if now == seen {
            // Workers may block (unlike a page's main thread); a notify or a changed epoch wakes it.
            unsafe { memory_atomic_wait32(EPOCH.as_ptr(), seen, -1) };
            continue;
        }
        seen = now;
        work(now);
    }
}
