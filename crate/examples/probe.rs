fn main() {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    for a in adapters {
        let i = a.get_info();
        println!("{:?} {} {:?} feats={:?}", i.backend, i.name, i.device_type, a.features());
        let l = a.limits();
        println!("  max_storage_binding={} max_buffer={} max_wg_storage={} max_invocations={} subgroup {}..{}", l.max_storage_buffer_binding_size, l.max_buffer_size, l.max_compute_workgroup_storage_size, l.max_compute_invocations_per_workgroup, i.subgroup_min_size, i.subgroup_max_size);
    }
}
