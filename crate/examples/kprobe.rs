// Experiment harness: times a matvec-like WGSL kernel read from a file on the default adapter.
// usage: kprobe FILE ROWS COLS WBYTES ROWS_PER_WG [checked|unchecked] [KEY=VALUE ...]
// Bindings: 0 uniform {rows, cols, side_base, x_offset}, 1 W (WBYTES of bytes whose every byte is in
// 0x20..0x3f so f16/f32 reinterpretations are normal numbers), 2 X (COLS f32), 3 Y (ROWS f32).
// `{{KEY}}` in the source is replaced by VALUE; prints GB/s of W bytes.
use std::time::Instant;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let src0 = std::fs::read_to_string(&a[1]).unwrap();
    let rows: u32 = a[2].parse().unwrap();
    let cols: u32 = a[3].parse().unwrap();
    let wbytes: u64 = a[4].parse().unwrap();
    let rows_per_wg: u32 = a[5].parse().unwrap();
    let checked = a.get(6).map_or(true, |s| s == "checked");
    let mut src = src0.clone();
    let mut side_base = 0u32;
    for kv in a.iter().skip(7) {
        let (k, v) = kv.split_once('=').unwrap();
        if k == "SIDE_BASE" {
            side_base = v.parse().unwrap();
        }
        src = src.replace(&format!("{{{{{k}}}}}"), v);
    }
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default())).unwrap();
    let feats = adapter.features() & wgpu::Features::SUBGROUP;
    let mut limits = wgpu::Limits::default();
    limits.max_storage_buffer_binding_size = 1 << 27;
    limits.max_buffer_size = 1 << 28;
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        required_features: feats,
        required_limits: limits,
        ..Default::default()
    }))
    .unwrap();
    let storage = |size: u64| {
        device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: size.div_ceil(16) * 16,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    };
    let w = storage(wbytes);
    let mut s = 0x9e3779b97f4a7c15u64;
    let data: Vec<u8> = (0..wbytes.div_ceil(16) * 16)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            0x20 | (s as u8 & 0x1f)
        })
        .collect();
    queue.write_buffer(&w, 0, &data);
    let x = storage(cols as u64 * 4 + 64);
    let xs: Vec<f32> = (0..cols + 16).map(|i| (i as f32 * 0.37).sin()).collect();
    queue.write_buffer(&x, 0, bytemuck::cast_slice(&xs));
    let y = storage(rows as u64 * 4 + 64);
    let u = device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: 16,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    queue.write_buffer(&u, 0, bytemuck::cast_slice(&[rows, cols, side_base, 0u32]));
    let desc = wgpu::ShaderModuleDescriptor { label: None, source: wgpu::ShaderSource::Wgsl(src.as_str().into()) };
    let module = if checked {
        device.create_shader_module(desc)
    } else {
        unsafe { device.create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked()) }
    };
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: None,
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache: None,
    });
    let layout = pipeline.get_bind_group_layout(0);
    let mut entries = vec![
        wgpu::BindGroupEntry { binding: 0, resource: u.as_entire_binding() },
        wgpu::BindGroupEntry { binding: 1, resource: w.as_entire_binding() },
        wgpu::BindGroupEntry { binding: 2, resource: x.as_entire_binding() },
        wgpu::BindGroupEntry { binding: 3, resource: y.as_entire_binding() },
    ];
    // binding 4: a second (u32) view of W.
    if src.contains("@binding(4)") {
        entries.push(wgpu::BindGroupEntry { binding: 4, resource: w.as_entire_binding() });
    }
    let bg = device.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout: &layout, entries: &entries });
    let groups = rows.div_ceil(rows_per_wg);
    let (gx, gy) = if groups > 65535 { (65535u32, groups.div_ceil(65535)) } else { (groups, 1) };
    let run = |reps: usize| {
        let mut enc = device.create_command_encoder(&Default::default());
        {
            let mut p = enc.begin_compute_pass(&Default::default());
            p.set_pipeline(&pipeline);
            p.set_bind_group(0, &bg, &[]);
            for _ in 0..reps {
                p.dispatch_workgroups(gx, gy, 1);
            }
        }
        queue.submit([enc.finish()]);
        device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
    };
    run(1);
    let reps = ((1u64 << 29) / wbytes).clamp(3, 100) as usize;
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let t = Instant::now();
        run(reps);
        best = best.min(t.elapsed().as_secs_f64() / reps as f64);
    }
    println!("{:.3} GB/s  {:.1} us", wbytes as f64 / best / 1e9, best * 1e6);
}
