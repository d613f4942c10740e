// Experiment: what makes lavapipe fast? Times copy-kernel variants.
use std::time::Instant;
fn main() {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default())).unwrap();
    println!("{}", adapter.get_info().name);
    let mut limits = wgpu::Limits::default();
    limits.max_storage_buffer_binding_size = 1 << 27;
    limits.max_buffer_size = 1 << 28;
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor { required_limits: limits, ..Default::default() })).unwrap();
    let n_bytes: u64 = 64 << 20;
    let mk = |usage| device.create_buffer(&wgpu::BufferDescriptor { label: None, size: n_bytes, usage, mapped_at_creation: false });
    let a = mk(wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST);
    let b = mk(wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC);
    let variants = [
        ("vec4 x1", "@group(0) @binding(0) var<storage, read> A: array<vec4<u32>>; @group(0) @binding(1) var<storage, read_write> B: array<vec4<u32>>;
         @compute @workgroup_size(256) fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>) { let i = g.y * n.x * 256u + g.x; B[i] = A[i]; }", 1u32),
        ("vec4 x16 strided", "@group(0) @binding(0) var<storage, read> A: array<vec4<u32>>; @group(0) @binding(1) var<storage, read_write> B: array<vec4<u32>>;
         @compute @workgroup_size(256) fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>) { let total = n.x * 256u; for (var k = 0u; k < 16u; k++) { let i = k * total + g.x; B[i] = A[i]; } }", 16),
        ("vec4 x16 contiguous", "@group(0) @binding(0) var<storage, read> A: array<vec4<u32>>; @group(0) @binding(1) var<storage, read_write> B: array<vec4<u32>>;
         @compute @workgroup_size(256) fn main(@builtin(global_invocation_id) g: vec3<u32>) { for (var k = 0u; k < 16u; k++) { let i = g.x * 16u + k; B[i] = A[i]; } }", 16),
        ("read x16 contiguous", "@group(0) @binding(0) var<storage, read> A: array<vec4<u32>>; @group(0) @binding(1) var<storage, read_write> B: array<vec4<u32>>;
         @compute @workgroup_size(256) fn main(@builtin(global_invocation_id) g: vec3<u32>) { var s = vec4<u32>(); for (var k = 0u; k < 16u; k++) { s += A[g.x * 16u + k]; } B[g.x] = s; }", 16),
        ("read x16 strided", "@group(0) @binding(0) var<storage, read> A: array<vec4<u32>>; @group(0) @binding(1) var<storage, read_write> B: array<vec4<u32>>;
         @compute @workgroup_size(256) fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>) { let total = n.x * 256u; var s = vec4<u32>(); for (var k = 0u; k < 16u; k++) { s += A[k * total + g.x]; } B[g.x] = s; }", 16),
        ("read x64 strided", "@group(0) @binding(0) var<storage, read> A: array<vec4<u32>>; @group(0) @binding(1) var<storage, read_write> B: array<vec4<u32>>;
         @compute @workgroup_size(256) fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>) { let total = n.x * 256u; var s = vec4<u32>(); for (var k = 0u; k < 64u; k++) { s += A[k * total + g.x]; } B[g.x] = s; }", 64),
        ("read x64 wg64 strided", "@group(0) @binding(0) var<storage, read> A: array<vec4<u32>>; @group(0) @binding(1) var<storage, read_write> B: array<vec4<u32>>;
         @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>) { let total = n.x * 64u; var s = vec4<u32>(); for (var k = 0u; k < 64u; k++) { s += A[k * total + g.x]; } B[g.x] = s; }", 256),
        ("u32 x1", "@group(0) @binding(0) var<storage, read> A: array<u32>; @group(0) @binding(1) var<storage, read_write> B: array<u32>;
         @compute @workgroup_size(256) fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>) { let i = g.y * n.x * 256u + g.x; B[i] = A[i]; }", 0),
    ];
    for checked in [true, false] {
        for (name, src, per) in variants.iter() {
            let desc = wgpu::ShaderModuleDescriptor { label: None, source: wgpu::ShaderSource::Wgsl((*src).into()) };
            let module = if checked { device.create_shader_module(desc) } else { unsafe { device.create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked()) } };
            let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor { label: None, layout: None, module: &module, entry_point: Some("main"), compilation_options: Default::default(), cache: None });
            let bg = device.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout: &pipeline.get_bind_group_layout(0), entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: a.as_entire_binding() }, wgpu::BindGroupEntry { binding: 1, resource: b.as_entire_binding() }] });
            let items = if *per == 0 { n_bytes / 4 } else { n_bytes / 16 / *per as u64 };
            let groups = (items / 256) as u32;
            let (gx, gy) = if groups > 65535 { (65535u32.min(groups), groups.div_ceil(65535)) } else { (groups, 1) };
            let run = |reps: usize| {
                let mut enc = device.create_command_encoder(&Default::default());
                { let mut p = enc.begin_compute_pass(&Default::default()); p.set_pipeline(&pipeline); p.set_bind_group(0, &bg, &[]);
                  for _ in 0..reps { p.dispatch_workgroups(gx, gy, 1); } }
                queue.submit([enc.finish()]);
                device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
            };
            run(1);
            let t = Instant::now(); run(10); let s = t.elapsed().as_secs_f64() / 10.0;
            let f = if name.starts_with("read") { 1.0 } else { 2.0 };
            println!("checked={checked} {name:<22} {:.2} GB/s ({})", f * n_bytes as f64 / s / 1e9, if f == 1.0 { "read" } else { "read+write" });
        }
    }
}
