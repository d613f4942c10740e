//! The browser's thread pool: Web Workers over the module's shared memory (the threaded build,
//! `+atomics`), started by the JS package (`pkg/src/threads.js`) only on a cross-origin isolated
//! page. Each worker calls [`worker_run`] and never returns; the thread that calls [`run`] (the page's
//! main thread, or the engine's worker) takes tasks too and then waits for the last one: by spinning
//! on a page's main thread, which may not block (`memory.atomic.wait32` traps there, which is also
//! why this is not rayon: its joins block on a condition variable), and in a worker by spinning a
//! little, then sleeping. Workers spin a little between jobs before they sleep: a token is hundreds
//! of jobs, and waking a sleeping worker costs more than a small job.
//!
//! One job at a time: `run` is called by one thread (the one driving the model), never nested (a
//! task that calls `run` runs its inner job inline).

use core::arch::wasm32::{memory_atomic_notify, memory_atomic_wait32};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering::*};

/// The job as `epoch << 40 | n << 20 | next task to hand out` (20 bits each for `n` and `next`, the
/// epoch's low 24): a worker that read an old job can never claim a task of the next one.
static CLAIM: AtomicU64 = AtomicU64::new(0);
/// Bumped for each job; workers sleep on it between jobs.
static EPOCH: AtomicI32 = AtomicI32::new(0);
/// Tasks of the current job done; the caller sleeps on it where it may.
static DONE: AtomicI32 = AtomicI32::new(0);
static WORKERS: AtomicU32 = AtomicU32::new(0);
static RUNNING: AtomicBool = AtomicBool::new(false);
/// Whether the thread that calls `run` may block (a worker's may, a page's main thread may not).
static CALLER_MAY_WAIT: AtomicBool = AtomicBool::new(false);
/// Checks of the epoch (or of the tasks done) before a thread sleeps: some tens of microseconds.
const SPINS: u32 = 1 << 14;

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

/// Says whether the thread that will call [`run`] may block (`threads.js`: not a page's main thread).
pub fn set_caller_may_wait(may: bool) {
    CALLER_MAY_WAIT.store(may, Relaxed);
}

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
    let may_wait = CALLER_MAY_WAIT.load(Relaxed);
    let mut spins = 0u32;
    loop {
        let done = DONE.load(Acquire);
        if done as usize >= n {
            break;
        }
        if may_wait && spins >= SPINS {
            // Woken by the worker that finishes the last task; the timeout only bounds a lost race.
            unsafe { memory_atomic_wait32(DONE.as_ptr(), done, 1_000_000) };
        } else {
            spins += 1;
            std::hint::spin_loop();
        }
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
        if DONE.fetch_add(1, Release) + 1 == n as i32 {
            unsafe { memory_atomic_notify(DONE.as_ptr(), 1) };
        }
    }
}

/// A worker's life: wait for a job, take its tasks, wait again. Called once by each pool worker
/// (`threads.js`), after the module is instantiated there on the shared memory.
pub fn worker_run() -> ! {
    WORKERS.fetch_add(1, Relaxed);
    let mut seen = EPOCH.load(Acquire);
    let mut spins = 0u32;
    loop {
        let now = EPOCH.load(Acquire);
        if now == seen {
            if spins < SPINS {
                spins += 1;
                std::hint::spin_loop();
            } else {
                // Workers may block (unlike a page's main thread); a notify or a changed epoch wakes it.
                unsafe { memory_atomic_wait32(EPOCH.as_ptr(), seen, -1) };
            }
            continue;
        }
        seen = now;
        spins = 0;
        work(now);
    }
}
