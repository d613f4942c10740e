//! Disjoint writes from parallel tasks: the one place the fast engine shares an output buffer
//! between threads (through `cpu::parallel::for_each_task`, which owns every thread).

use crate::cpu::parallel::{for_each_task, threads};

/// A buffer that parallel tasks write to, each at indices no other task writes.
pub struct Shared<'a, T = f32> {
    ptr: *mut T,
    len: usize,
    _borrow: std::marker::PhantomData<&'a mut [T]>,
}

// SAFETY: tasks only write through `set`, at indices they alone own (see each caller), and the
// buffer outlives them: `for_each_task` returns once every task is done.
unsafe impl<T: Send> Send for Shared<'_, T> {}
unsafe impl<T: Send> Sync for Shared<'_, T> {}

impl<'a, T> Shared<'a, T> {
    pub fn new(out: &'a mut [T]) -> Shared<'a, T> {
        Shared { ptr: out.as_mut_ptr(), len: out.len(), _borrow: std::marker::PhantomData }
    }
    /// Writes `v` at `i`; the caller's task must be the only one to write index `i`.
    #[inline(always)]
    pub fn set(&self, i: usize, v: T) {
        assert!(i < self.len, "index {i} outside {}", self.len);
        // SAFETY: in bounds (checked), and no other task touches index `i` (caller's contract).
        unsafe { *self.ptr.add(i) = v }
    }
    /// The `len` values from `start` as a slice; the caller's task must be the only one to touch
    /// them while it holds the slice.
    #[allow(clippy::mut_from_ref)]
    pub fn slice(&self, start: usize, len: usize) -> &mut [T] {
        assert!(start + len <= self.len, "{start}+{len} outside {}", self.len);
        // SAFETY: in bounds (checked); exclusive to this task (caller's contract).
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), len) }
    }
}

/// How many tasks to cut `units` of work into: a few per thread so that uneven tasks even out,
/// none smaller than `min_units`.
pub fn task_count(units: usize, min_units: usize) -> usize {
    let t = threads();
    if t <= 1 {
        return 1;
    }
    (units / min_units.max(1)).clamp(1, 4 * t)
}

/// Runs `f(i)` for `i` in `0..n` over the threads.
pub fn run_tasks(n: usize, f: impl Fn(usize) + Sync) {
    if n <= 1 {
        (0..n).for_each(f);
    } else {
        for_each_task(n, f);
    }
}
