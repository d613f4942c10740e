//! Activation buffers: plain f32 storage buffers, created, filled and read back.

use super::context::GpuContext;
use super::error::GpuError;

pub fn storage(ctx: &GpuContext, label: &str, bytes: u64) -> wgpu::Buffer {
    ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes.max(16).div_ceil(16) * 16,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    })
}

pub fn storage_f32(ctx: &GpuContext, label: &str, data: &[f32]) -> wgpu::Buffer {
    let b = storage(ctx, label, (data.len() * 4) as u64);
    ctx.queue.write_buffer(&b, 0, bytemuck::cast_slice(data));
    b
}

pub fn storage_u32(ctx: &GpuContext, label: &str, data: &[u32]) -> wgpu::Buffer {
    let b = storage(ctx, label, (data.len() * 4) as u64);
    ctx.queue.write_buffer(&b, 0, bytemuck::cast_slice(data));
    b
}

pub async fn read_f32(ctx: &GpuContext, b: &wgpu::Buffer, offset: usize, n: usize) -> Result<Vec<f32>, GpuError> {
    let bytes = ctx.read_back(b, (offset * 4) as u64, (n * 4) as u64).await?;
    Ok(bytemuck::cast_slice(&bytes).to_vec())
}

pub async fn read_u32(ctx: &GpuContext, b: &wgpu::Buffer, offset: usize, n: usize) -> Result<Vec<u32>, GpuError> {
    let bytes = ctx.read_back(b, (offset * 4) as u64, (n * 4) as u64).await?;
    Ok(bytemuck::cast_slice(&bytes).to_vec())
}

/// Normalized mean squared error: Σ(a-b)² / Σb². The conformance tests compare by it.
pub fn nmse(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len());
    let (mut err, mut norm) = (0f64, 0f64);
    for (&g, &w) in got.iter().zip(want) {
        err += ((g - w) as f64).powi(2);
        norm += (w as f64).powi(2);
    }
    if !err.is_finite() {
        return f64::INFINITY;
    }
    err / norm.max(1e-30)
}
