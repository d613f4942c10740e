//! GPU time per kernel from timestamp queries (`bench --profile`): the recorder writes a timestamp
//! after every dispatch of the submissions made while a [`Profile`] is installed, and each interval
//! is charged to the kernel dispatched in it. Natively only, on adapters with timestamp queries
//! inside passes; wall-clock benchmarks cannot tell a slow kernel from many cheap ones.

use super::context::GpuContext;
use super::error::GpuError;

/// Timestamps one query set can hold (wgpu's limit per set).
const CAPACITY: u32 = 4096;

pub struct Profile {
    set: wgpu::QuerySet,
    resolved: wgpu::Buffer,
    /// For each submission: the first query index and the kernel of each later query.
    spans: Vec<(u32, Vec<String>)>,
    next: u32,
}

impl Profile {
    /// `None` where the device was created without timestamp queries inside passes.
    pub fn new(ctx: &GpuContext) -> Option<Profile> {
        if !ctx.timestamps {
            return None;
        }
        let set = ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("profile"),
            ty: wgpu::QueryType::Timestamp,
            count: CAPACITY,
        });
        let resolved = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("profile"),
            size: CAPACITY as u64 * 8,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        Some(Profile { set, resolved, spans: Vec::new(), next: 0 })
    }

    /// Starts a submission's timestamps in `pass`; false when the set is full (nothing recorded).
    pub(super) fn begin(&mut self, pass: &mut wgpu::ComputePass<'static>) -> bool {
        // A submission needs room for its first timestamp and at least one dispatch.
        if self.next + 2 > CAPACITY {
            return false;
        }
        pass.write_timestamp(&self.set, self.next);
        self.spans.push((self.next, Vec::new()));
        self.next += 1;
        true
    }

    /// Marks the end of a dispatch of `kernel`; false when the set is full.
    pub(super) fn after(&mut self, pass: &mut wgpu::ComputePass<'static>, kernel: &str) -> bool {
        if self.next >= CAPACITY {
            return false;
        }
        pass.write_timestamp(&self.set, self.next);
        self.spans.last_mut().unwrap().1.push(kernel.to_string());
        self.next += 1;
        true
    }

    /// Copies the timestamps out (recorded at the submission's end). All of them, earlier
    /// submissions' too: a resolve must start at a 256-byte aligned offset.
    pub(super) fn resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        if self.next > 0 {
            encoder.resolve_query_set(&self.set, 0..self.next, &self.resolved, 0);
        }
    }

    /// Nanoseconds per kernel name, summed over every dispatch profiled, with the dispatch counts;
    /// in order of first appearance.
    pub async fn read(&self, ctx: &GpuContext) -> Result<Vec<(String, f64, u32)>, GpuError> {
        if self.next == 0 {
            return Ok(Vec::new());
        }
        let bytes = ctx.read_back(&self.resolved, 0, self.next as u64 * 8).await?;
        let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&bytes);
        let period = ctx.queue.get_timestamp_period() as f64;
        let mut out: Vec<(String, f64, u32)> = Vec::new();
        for (first, names) in &self.spans {
            for (i, name) in names.iter().enumerate() {
                let q = *first as usize + i;
                let ns = ticks[q + 1].saturating_sub(ticks[q]) as f64 * period;
                match out.iter_mut().find(|(n, _, _)| n == name) {
                    Some(e) => {
                        e.1 += ns;
                        e.2 += 1;
                    }
                    None => out.push((name.clone(), ns, 1)),
                }
            }
        }
        Ok(out)
    }
}
