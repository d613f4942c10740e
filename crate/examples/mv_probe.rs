// Experiment: matvec formulations on CPU-emulated GPUs (Q8_0-like data: 32 bytes of int8 per block).
use std::time::Instant;
fn main() {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default())).unwrap();
    println!("{}", adapter.get_info().name);
    let feats = adapter.features() & wgpu::Features::SUBGROUP;
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor { required_features: feats, ..Default::default() })).unwrap();
    let rows: u32 = 8192; let cols: u32 = 2048; // 16 MiB of int8 weights
    let w_bytes = (rows * cols) as u64;
    let mk = |size: u64| device.create_buffer(&wgpu::BufferDescriptor { label: None, size, usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST, mapped_at_creation: false });
    let w = mk(w_bytes); let x = mk(cols as u64 * 4); let y = mk(rows as u64 * 4 * 64);
    let head = "@group(0) @binding(0) var<storage, read> W: array<vec4<u32>>; @group(0) @binding(1) var<storage, read> X: array<vec4<f32>>; @group(0) @binding(2) var<storage, read_write> Y: array<f32>;
      const COLS: u32 = 2048u;
      fn s4(w: u32) -> vec4<f32> { let s = bitcast<i32>(w); return vec4<f32>(vec4<i32>(extractBits(s, 0u, 8u), extractBits(s, 8u, 8u), extractBits(s, 16u, 8u), extractBits(s, 24u, 8u))); }";
    let variants: Vec<(&str, String, u32)> = vec![
        ("row/thread wg64", format!("{head}
         @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {{
            let row = g.x; var acc = 0.0; let base = row * (COLS / 16u);
            for (var k = 0u; k < COLS / 16u; k++) {{ let q = W[base + k]; let xo = k * 4u;
               acc += dot(s4(q.x), X[xo]) + dot(s4(q.y), X[xo + 1u]) + dot(s4(q.z), X[xo + 2u]) + dot(s4(q.w), X[xo + 3u]); }}
            Y[row] = acc; }}"), 64),
        ("row/thread wg8", format!("{head}
         @compute @workgroup_size(8) fn main(@builtin(global_invocation_id) g: vec3<u32>) {{
            let row = g.x; var acc = 0.0; let base = row * (COLS / 16u);
            for (var k = 0u; k < COLS / 16u; k++) {{ let q = W[base + k]; let xo = k * 4u;
               acc += dot(s4(q.x), X[xo]) + dot(s4(q.y), X[xo + 1u]) + dot(s4(q.z), X[xo + 2u]) + dot(s4(q.w), X[xo + 3u]); }}
            Y[row] = acc; }}"), 8),
        ("8 lanes/row subgroupAdd", format!("{head}
         @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(subgroup_invocation_id) l: u32, @builtin(subgroup_size) sgs: u32) {{
            let row = g.x / sgs; var acc = 0.0; let base = row * (COLS / 16u);
            for (var k = l; k < COLS / 16u; k += sgs) {{ let q = W[base + k]; let xo = k * 4u;
               acc += dot(s4(q.x), X[xo]) + dot(s4(q.y), X[xo + 1u]) + dot(s4(q.z), X[xo + 2u]) + dot(s4(q.w), X[xo + 3u]); }}
            acc = subgroupAdd(acc); if (l == 0u) {{ Y[row] = acc; }} }}"), 64),
        ("row/thread x in wg mem", format!("{head}
         var<workgroup> xs: array<vec4<f32>, 512>;
         @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(local_invocation_index) li: u32) {{
            for (var i = li; i < 512u; i += 64u) {{ xs[i] = X[i]; }} workgroupBarrier();
            let row = g.x; var acc = 0.0; let base = row * (COLS / 16u);
            for (var k = 0u; k < COLS / 16u; k++) {{ let q = W[base + k]; let xo = k * 4u;
               acc += dot(s4(q.x), xs[xo]) + dot(s4(q.y), xs[xo + 1u]) + dot(s4(q.z), xs[xo + 2u]) + dot(s4(q.w), xs[xo + 3u]); }}
            Y[row] = acc; }}"), 64),
        ("row/thread, 4 rows", format!("{head}
         @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {{
            var acc = vec4<f32>(); let r0 = g.x * 4u;
            for (var k = 0u; k < COLS / 16u; k++) {{ let xo = k * 4u; let x0 = X[xo]; let x1 = X[xo+1u]; let x2 = X[xo+2u]; let x3 = X[xo+3u];
               for (var r = 0u; r < 4u; r++) {{ let q = W[(r0 + r) * (COLS / 16u) + k];
               acc[r] += dot(s4(q.x), x0) + dot(s4(q.y), x1) + dot(s4(q.z), x2) + dot(s4(q.w), x3); }} }}
            for (var r = 0u; r < 4u; r++) {{ Y[r0 + r] = acc[r]; }} }}"), 256),
        ("4 rows, vector sext", format!("{head}
         fn v4(w: u32) -> vec4<f32> {{ return vec4<f32>((vec4<i32>(bitcast<i32>(w)) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u)); }}
         @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {{
            var acc = vec4<f32>(); let r0 = g.x * 4u;
            for (var k = 0u; k < COLS / 16u; k++) {{ let xo = k * 4u; let x0 = X[xo]; let x1 = X[xo+1u]; let x2 = X[xo+2u]; let x3 = X[xo+3u];
               for (var r = 0u; r < 4u; r++) {{ let q = W[(r0 + r) * (COLS / 16u) + k];
               acc[r] += dot(v4(q.x), x0) + dot(v4(q.y), x1) + dot(v4(q.z), x2) + dot(v4(q.w), x3); }} }}
            for (var r = 0u; r < 4u; r++) {{ Y[r0 + r] = acc[r]; }} }}"), 256),
        ("8 rows, vector sext", format!("{head}
         fn v4(w: u32) -> vec4<f32> {{ return vec4<f32>((vec4<i32>(bitcast<i32>(w)) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u)); }}
         @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {{
            var acc0 = vec4<f32>(); var acc1 = vec4<f32>(); let r0 = g.x * 8u;
            for (var k = 0u; k < COLS / 16u; k++) {{ let xo = k * 4u; let x0 = X[xo]; let x1 = X[xo+1u]; let x2 = X[xo+2u]; let x3 = X[xo+3u];
               for (var r = 0u; r < 4u; r++) {{ let q = W[(r0 + r) * (COLS / 16u) + k];
               acc0[r] += dot(v4(q.x), x0) + dot(v4(q.y), x1) + dot(v4(q.z), x2) + dot(v4(q.w), x3);
               let p = W[(r0 + 4u + r) * (COLS / 16u) + k];
               acc1[r] += dot(v4(p.x), x0) + dot(v4(p.y), x1) + dot(v4(p.z), x2) + dot(v4(p.w), x3); }} }}
            for (var r = 0u; r < 4u; r++) {{ Y[r0 + r] = acc0[r]; Y[r0 + 4u + r] = acc1[r]; }} }}"), 512),
        ("f32 weights 4 rows (upper bound)", format!("{head}
         @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {{
            var acc = vec4<f32>(); let r0 = g.x * 4u;
            for (var k = 0u; k < COLS / 16u; k++) {{ let x0 = X[k];
               for (var r = 0u; r < 4u; r++) {{ let q = W[(r0 + r) * (COLS / 16u) + k];
               acc[r] += dot(bitcast<vec4<f32>>(q), x0); }} }}
            for (var r = 0u; r < 4u; r++) {{ Y[r0 + r] = acc[r]; }} }}"), 256),
        ("4 rows x16 per iter", format!("{head}
         fn v4(w: u32) -> vec4<f32> {{ return vec4<f32>((vec4<i32>(bitcast<i32>(w)) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u)); }}
         @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {{
            var acc = vec4<f32>(); let r0 = g.x * 4u; let stride = COLS / 16u;
            for (var k = 0u; k < COLS / 16u; k += 2u) {{ let xo = k * 4u; let x0 = X[xo]; let x1 = X[xo+1u]; let x2 = X[xo+2u]; let x3 = X[xo+3u];
               let x4 = X[xo+4u]; let x5 = X[xo+5u]; let x6 = X[xo+6u]; let x7 = X[xo+7u];
               let qa = W[r0 * stride + k]; let qb = W[(r0+1u) * stride + k]; let qc = W[(r0+2u) * stride + k]; let qd = W[(r0+3u) * stride + k];
               let pa = W[r0 * stride + k + 1u]; let pb = W[(r0+1u) * stride + k + 1u]; let pc = W[(r0+2u) * stride + k + 1u]; let pd = W[(r0+3u) * stride + k + 1u];
               acc += vec4<f32>(dot(v4(qa.x), x0) + dot(v4(qa.y), x1) + dot(v4(qa.z), x2) + dot(v4(qa.w), x3) + dot(v4(pa.x), x4) + dot(v4(pa.y), x5) + dot(v4(pa.z), x6) + dot(v4(pa.w), x7),
                                dot(v4(qb.x), x0) + dot(v4(qb.y), x1) + dot(v4(qb.z), x2) + dot(v4(qb.w), x3) + dot(v4(pb.x), x4) + dot(v4(pb.y), x5) + dot(v4(pb.z), x6) + dot(v4(pb.w), x7),
                                dot(v4(qc.x), x0) + dot(v4(qc.y), x1) + dot(v4(qc.z), x2) + dot(v4(qc.w), x3) + dot(v4(pc.x), x4) + dot(v4(pc.y), x5) + dot(v4(pc.z), x6) + dot(v4(pc.w), x7),
                                dot(v4(qd.x), x0) + dot(v4(qd.y), x1) + dot(v4(qd.z), x2) + dot(v4(qd.w), x3) + dot(v4(pd.x), x4) + dot(v4(pd.y), x5) + dot(v4(pd.z), x6) + dot(v4(pd.w), x7)); }}
            for (var r = 0u; r < 4u; r++) {{ Y[r0 + r] = acc[r]; }} }}"), 256),
        ("8 rows, u32 loads", format!("{head}
         @group(0) @binding(3) var<storage, read> WU: array<u32>;
         fn v4(w: u32) -> vec4<f32> {{ return vec4<f32>((vec4<i32>(bitcast<i32>(w)) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u)); }}
         @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {{
            var acc0 = vec4<f32>(); var acc1 = vec4<f32>(); let r0 = g.x * 8u; let st = COLS / 4u;
            for (var k = 0u; k < COLS / 16u; k++) {{ let xo = k * 4u; let x0 = X[xo]; let x1 = X[xo+1u]; let x2 = X[xo+2u]; let x3 = X[xo+3u];
               for (var r = 0u; r < 4u; r++) {{ let o = (r0 + r) * st + k * 4u; let o2 = o + 4u * st;
               acc0[r] += dot(v4(WU[o]), x0) + dot(v4(WU[o+1u]), x1) + dot(v4(WU[o+2u]), x2) + dot(v4(WU[o+3u]), x3);
               acc1[r] += dot(v4(WU[o2]), x0) + dot(v4(WU[o2+1u]), x1) + dot(v4(WU[o2+2u]), x2) + dot(v4(WU[o2+3u]), x3); }} }}
            for (var r = 0u; r < 4u; r++) {{ Y[r0 + r] = acc0[r] + f32(W[0].x) * 0.0; Y[r0 + 4u + r] = acc1[r]; }} }}"), 512),
        ("8 rows unorm 4-bit (Q4-like)", format!("{head}
         @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {{
            var acc0 = vec4<f32>(); var acc1 = vec4<f32>(); let r0 = g.x * 8u; let st = COLS / 16u;
            for (var k = 0u; k < COLS / 16u; k++) {{ let xo = k * 8u;
               for (var r = 0u; r < 4u; r++) {{ let q = W[(r0 + r) * st + k]; let p = W[(r0 + 4u + r) * st + k];
               acc0[r] += dot(unpack4x8unorm(q.x & 0x0f0f0f0fu), X[xo]) + dot(unpack4x8unorm((q.x >> 4u) & 0x0f0f0f0fu), X[xo+1u]) + dot(unpack4x8unorm(q.y & 0x0f0f0f0fu), X[xo+2u]) + dot(unpack4x8unorm((q.y >> 4u) & 0x0f0f0f0fu), X[xo+3u])
                        + dot(unpack4x8unorm(q.z & 0x0f0f0f0fu), X[xo+4u]) + dot(unpack4x8unorm((q.z >> 4u) & 0x0f0f0f0fu), X[xo+5u]) + dot(unpack4x8unorm(q.w & 0x0f0f0f0fu), X[xo+6u]) + dot(unpack4x8unorm((q.w >> 4u) & 0x0f0f0f0fu), X[xo+7u]);
               acc1[r] += dot(unpack4x8unorm(p.x & 0x0f0f0f0fu), X[xo]) + dot(unpack4x8unorm((p.x >> 4u) & 0x0f0f0f0fu), X[xo+1u]) + dot(unpack4x8unorm(p.y & 0x0f0f0f0fu), X[xo+2u]) + dot(unpack4x8unorm((p.y >> 4u) & 0x0f0f0f0fu), X[xo+3u])
                        + dot(unpack4x8unorm(p.z & 0x0f0f0f0fu), X[xo+4u]) + dot(unpack4x8unorm((p.z >> 4u) & 0x0f0f0f0fu), X[xo+5u]) + dot(unpack4x8unorm(p.w & 0x0f0f0f0fu), X[xo+6u]) + dot(unpack4x8unorm((p.w >> 4u) & 0x0f0f0f0fu), X[xo+7u]); }} }}
            for (var r = 0u; r < 4u; r++) {{ Y[r0 + r] = acc0[r]; Y[r0 + 4u + r] = acc1[r]; }} }}"), 512),
    ];
    for checked in [false] {
    for (name, src, rows_per_wg) in &variants {
        if name.contains("subgroup") && feats.is_empty() { continue; }
        let desc = wgpu::ShaderModuleDescriptor { label: None, source: wgpu::ShaderSource::Wgsl(src.as_str().into()) };
        let module = if checked { device.create_shader_module(desc) } else { unsafe { device.create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked()) } };
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor { label: None, layout: None, module: &module, entry_point: Some("main"), compilation_options: Default::default(), cache: None });
        let mut entries = vec![
            wgpu::BindGroupEntry { binding: 0, resource: w.as_entire_binding() }, wgpu::BindGroupEntry { binding: 1, resource: x.as_entire_binding() }, wgpu::BindGroupEntry { binding: 2, resource: y.as_entire_binding() }];
        if src.contains("WU") { entries.push(wgpu::BindGroupEntry { binding: 3, resource: w.as_entire_binding() }); }
        let bg = device.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout: &pipeline.get_bind_group_layout(0), entries: &entries });
        let groups = rows / if name.contains("subgroup") { 64 / 8 } else { *rows_per_wg } ;
        let groups = if name.contains("subgroup") { rows * 8 / 64 } else { groups };
        let run = |reps: usize| {
            let mut enc = device.create_command_encoder(&Default::default());
            { let mut p = enc.begin_compute_pass(&Default::default()); p.set_pipeline(&pipeline); p.set_bind_group(0, &bg, &[]);
              for _ in 0..reps { p.dispatch_workgroups(groups, 1, 1); } }
            queue.submit([enc.finish()]); device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
        };
        run(1); let t = Instant::now(); run(10); let s = t.elapsed().as_secs_f64() / 10.0;
        println!("checked={checked} {name:<26} {:.2} GB/s of weights", w_bytes as f64 / s / 1e9);
    }}
    let _ = queue;
}
