//! Typed kernel keys, the pipeline cache, and the recorder that puts a whole step into one compute
//! pass: parameters go into one uniform arena addressed by dynamic offsets, bind groups are cached.

use super::context::GpuContext;
use super::shader::{preprocess, ShaderError};
use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

/// A kernel's uniform parameters: a `#[repr(C)]` Pod struct whose WGSL declaration is generated
/// from the same field list (see [`wgsl_params!`]), so Rust and WGSL cannot disagree.
pub trait WgslParams: bytemuck::Pod {
    const WGSL: &'static str;
}

/// Declares a parameter struct of u32/i32/f32 fields and its WGSL twin `struct Params`.
#[macro_export]
macro_rules! wgsl_params {
    ($(#[$m:meta])* pub struct $name:ident { $(pub $f:ident : $t:ident),* $(,)? }) => {
        $(#[$m])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
        pub struct $name { $(pub $f: $t),* }
        impl $crate::gpu::pipeline::WgslParams for $name {
            const WGSL: &'static str =
                concat!("struct Params {\n", $("    ", stringify!($f), ": ", stringify!($t), ",\n",)* "}\n");
        }
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    Read,
    ReadWrite,
}

/// One compute kernel variant. The key produces the defines, the readable name and the workgroup
/// size; launchers read the workgroup size back from the key.
pub trait Kernel: Clone + Debug + Eq + std::hash::Hash {
    type Params: WgslParams;
    fn shader(&self) -> &'static str;
    fn defines(&self) -> Vec<(String, String)>;
    fn workgroup(&self) -> [u32; 3];
    /// The storage bindings after the uniform (binding 0), in WGSL binding order.
    fn bindings(&self) -> Vec<Access>;
    fn name(&self) -> String {
        format!("{self:?}")
    }
}

/// A pipeline's WGSL and bindings, before it is created.
pub struct PipelineSource {
    pub name: String,
    pub src: String,
    /// Bytes of the uniform parameters (binding 0, dynamic offset).
    pub params_size: u64,
    /// The storage bindings 1.. .
    pub bindings: Vec<Access>,
    pub workgroup: [u32; 3],
}

pub struct Compiled {
    /// Serial number within its [`Kernels`]: the bind-group cache's key.
    pub id: u64,
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
    pub workgroup: [u32; 3],
    pub name: String,
}

/// A slice of a buffer bound to a storage binding.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Bind {
    pub buffer: wgpu::Buffer,
    pub offset: u64,
    pub size: u64,
}

impl Bind {
    pub fn whole(buffer: &wgpu::Buffer) -> Bind {
        Bind { buffer: buffer.clone(), offset: 0, size: buffer.size() }
    }
}

const ARENA_SLOTS: u64 = 8192;

/// A pipeline and the key it was made for.
type CachedPipeline = (Box<dyn Any>, Rc<Compiled>);

pub struct Kernels {
    pub ctx: Rc<GpuContext>,
    /// By the key's type and hash, with the keys themselves to tell collisions apart: looked up on
    /// every dispatch, so hashed, never formatted.
    pipelines: RefCell<HashMap<(TypeId, u64), Vec<CachedPipeline>>>,
    bind_groups: RefCell<HashMap<(u64, Vec<Bind>), wgpu::BindGroup>>,
    arena: wgpu::Buffer,
    slot: u64,
    trusted: bool,
    /// Installed by [`Kernels::profile`]: recorders then time every dispatch.
    profile: RefCell<Option<super::profile::Profile>>,
    /// Pipelines asked for ahead of use, and their creations in flight (browser).
    #[cfg(target_arch = "wasm32")]
    prepared: RefCell<std::collections::HashSet<String>>,
    #[cfg(target_arch = "wasm32")]
    pending: RefCell<HashMap<String, js_sys::Promise>>,
    /// Compilations prepared from now on start once this settles (see [`Kernels::defer_prepared`]).
    #[cfg(target_arch = "wasm32")]
    gate: RefCell<Option<js_sys::Promise>>,
}

impl Kernels {
    /// Kernels whose shader modules keep wgpu's runtime bounds checks (clamped indices).
    pub fn new(ctx: Rc<GpuContext>) -> Kernels {
        Self::build(ctx, false)
    }

    /// Kernels whose shader modules are created without runtime bounds checks natively (in the
    /// browser the WebGPU implementation keeps its own). CPU adapters execute every check per lane,
    /// so this speeds up memory-bound kernels there (about 2x for a copy on SwiftShader).
    ///
    /// # Safety
    /// Every kernel dispatched through these kernels must stay within its bindings for the
    /// parameters it is given; an out-of-bounds access is undefined behaviour.
    pub unsafe fn new_trusted(ctx: Rc<GpuContext>) -> Kernels {
        Self::build(ctx, true)
    }

    pub fn trusted(&self) -> bool {
        self.trusted
    }

    fn build(ctx: Rc<GpuContext>, trusted: bool) -> Kernels {
        let slot = ctx.limits.min_uniform_buffer_offset_alignment as u64;
        let arena = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("params arena"),
            size: slot * ARENA_SLOTS,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Kernels {
            ctx,
            pipelines: Default::default(),
            bind_groups: Default::default(),
            arena,
            slot,
            trusted,
            profile: RefCell::new(None),
            #[cfg(target_arch = "wasm32")]
            prepared: Default::default(),
            #[cfg(target_arch = "wasm32")]
            pending: Default::default(),
            #[cfg(target_arch = "wasm32")]
            gate: Default::default(),
        }
    }

    /// Times every dispatch recorded from now until [`Kernels::take_profile`] (see
    /// [`super::profile::Profile`]); false where the device has no timestamp queries.
    pub fn profile(&self) -> bool {
        *self.profile.borrow_mut() = super::profile::Profile::new(&self.ctx);
        self.profile.borrow().is_some()
    }

    pub fn take_profile(&self) -> Option<super::profile::Profile> {
        self.profile.borrow_mut().take()
    }

    /// How many pipelines have been created.
    pub fn pipeline_count(&self) -> usize {
        self.pipelines.borrow().values().map(Vec::len).sum()
    }

    /// The WGSL source and bindings of `key`'s pipeline.
    fn source<K: Kernel>(&self, key: &K) -> Result<PipelineSource, ShaderError> {
        let wg = key.workgroup();
        let mut defines = key.defines();
        defines.push(("WG_X".into(), wg[0].to_string()));
        defines.push(("WG_Y".into(), wg[1].to_string()));
        defines.push(("WG_Z".into(), wg[2].to_string()));
        defines.push(("WG_SIZE".into(), (wg[0] * wg[1] * wg[2]).to_string()));
        if self.ctx.subgroups {
            defines.push(("HAS_SUBGROUPS".into(), "1".into()));
            defines.push(("SUBGROUP_SIZE".into(), self.ctx.subgroup_size.to_string()));
        }
        let body = preprocess(key.shader(), &defines)?;
        let mut src = String::new();
        // Browsers require the extension enabled; naga (native) rejects the directive.
        if cfg!(target_arch = "wasm32") && body.contains("subgroup") && self.ctx.subgroups {
            src.push_str("enable subgroups;\n");
        }
        if body.contains("f16") && self.ctx.f16 && body.contains("enable_f16_marker") {
            src.push_str("enable f16;\n");
        }
        src.push_str(K::Params::WGSL);
        src.push_str(&body);
        Ok(PipelineSource {
            name: key.name(),
            src,
            params_size: std::mem::size_of::<K::Params>() as u64,
            bindings: key.bindings(),
            workgroup: wg,
        })
    }

    /// Where `key`'s pipeline is cached.
    fn slot<K: Kernel + 'static>(key: &K) -> (TypeId, u64) {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        (TypeId::of::<K>(), h.finish())
    }

    fn cached<K: Kernel + 'static>(&self, key: &K) -> Option<Rc<Compiled>> {
        let map = self.pipelines.borrow();
        let bucket = map.get(&Self::slot(key))?;
        bucket.iter().find(|(k, _)| k.downcast_ref::<K>() == Some(key)).map(|(_, c)| c.clone())
    }

    /// The compiled pipeline of `key`, created on first use.
    pub fn pipeline<K: Kernel + 'static>(&self, key: &K) -> Result<Rc<Compiled>, ShaderError> {
        if let Some(c) = self.cached(key) {
            return Ok(c);
        }
        let name = key.name();
        let s = self.source(key)?;
        let device = &self.ctx.device;
        let desc = wgpu::ShaderModuleDescriptor { label: Some(&name), source: wgpu::ShaderSource::Wgsl(s.src.into()) };
        let module = if self.trusted && cfg!(not(target_arch = "wasm32")) {
            // SAFETY: `new_trusted`'s caller vouches that every kernel stays in bounds.
            unsafe { device.create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked()) }
        } else {
            device.create_shader_module(desc)
        };
        let mut entries = vec![wgpu::BindGroupLayoutEntry {
            binding: 0,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: true,
                min_binding_size: wgpu::BufferSize::new(s.params_size),
            },
            count: None,
        }];
        for (i, a) in s.bindings.into_iter().enumerate() {
            entries.push(wgpu::BindGroupLayoutEntry {
                binding: i as u32 + 1,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage { read_only: a == Access::Read },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            });
        }
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some(&name), entries: &entries });
        let pl = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(&name),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&name),
            layout: Some(&pl),
            module: &module,
            entry_point: Some("main"),
            // Every kernel writes its workgroup memory before reading it. The zero-initialisation
            // WebGPU adds otherwise is written as one store per element, which CPU drivers
            // (SwiftShader, lavapipe) compile slowly: seconds for the sampler's kernels. Browsers
            // keep it whatever we ask (see the note on workgroup memory in sample.rs).
            compilation_options: wgpu::PipelineCompilationOptions { zero_initialize_workgroup_memory: false, ..Default::default() },
            cache: None,
        });
        let id = self.pipeline_count() as u64;
        let c = Rc::new(Compiled { id, pipeline, layout, workgroup: s.workgroup, name });
        self.pipelines.borrow_mut().entry(Self::slot(key)).or_default().push((Box::new(key.clone()), c.clone()));
        Ok(c)
    }

    /// Starts compiling `key`'s pipeline ahead of its first use. In a browser this asks for it
    /// with `createComputePipelineAsync`, which compiles off the GPU process's command thread (so
    /// alongside the weights' upload); the synchronous creation on first use then finds it in the
    /// WebGPU implementation's pipeline cache (call [`Kernels::ready`] first). Natively the
    /// pipeline is created now.
    pub fn prepare<K: Kernel + 'static>(&self, key: &K) -> Result<(), ShaderError> {
        #[cfg(target_arch = "wasm32")]
        {
            let name = key.name();
            if self.cached(key).is_some() || !self.prepared.borrow_mut().insert(name.clone()) {
                return Ok(());
            }
            let s = self.source(key)?;
            if let Some(p) = super::prewarm::compile_async(&self.ctx.device, &s, self.gate.borrow().as_ref()) {
                self.pending.borrow_mut().insert(name, p);
            }
            Ok(())
        }
        #[cfg(not(target_arch = "wasm32"))]
        self.pipeline(key).map(|_| ())
    }

    /// Makes the pipelines prepared from now on start compiling only once those already prepared
    /// are done, so that they do not slow down the ones needed first.
    pub fn defer_prepared(&self) {
        #[cfg(target_arch = "wasm32")]
        {
            let ps: Vec<js_sys::Promise> = self.pending.borrow().values().cloned().collect();
            *self.gate.borrow_mut() = super::prewarm::all_settled(&ps);
        }
    }

    /// Whether pipelines [`Kernels::prepare`] started may still be compiling.
    pub fn has_pending(&self) -> bool {
        #[cfg(target_arch = "wasm32")]
        return !self.pending.borrow().is_empty();
        #[cfg(not(target_arch = "wasm32"))]
        false
    }

    /// Waits for those of the pipelines [`Kernels::prepare`] started that `names` lists (the
    /// ones a step is about to use; failures surface on their creation). Creating a pipeline while
    /// its asynchronous compilation is still running would compile it a second time.
    pub async fn ready(&self, names: &[String]) {
        #[cfg(target_arch = "wasm32")]
        for n in names {
            let p = self.pending.borrow_mut().remove(n);
            if let Some(p) = p {
                let _ = wasm_bindgen_futures::JsFuture::from(p).await;
            }
        }
        #[cfg(not(target_arch = "wasm32"))]
        let _ = names;
    }

    fn bind_group<K: Kernel + 'static>(&self, c: &Compiled, binds: &[Bind]) -> wgpu::BindGroup {
        let key = (c.id, binds.to_vec());
        if let Some(bg) = self.bind_groups.borrow().get(&key) {
            return bg.clone();
        }
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &self.arena,
                offset: 0,
                size: wgpu::BufferSize::new(std::mem::size_of::<K::Params>() as u64),
            }),
        }];
        for (i, b) in binds.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry {
                binding: i as u32 + 1,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &b.buffer,
                    offset: b.offset,
                    size: wgpu::BufferSize::new(b.size),
                }),
            });
        }
        let bg =
            self.ctx.device.create_bind_group(&wgpu::BindGroupDescriptor { label: Some(&c.name), layout: &c.layout, entries: &entries });
        self.bind_groups.borrow_mut().insert(key, bg.clone());
        bg
    }

    pub fn recorder(&self) -> Recorder<'_> {
        let mut encoder = self.ctx.device.create_command_encoder(&Default::default());
        let mut pass = encoder.begin_compute_pass(&Default::default()).forget_lifetime();
        let profiled = self.profile.borrow_mut().as_mut().is_some_and(|p| p.begin(&mut pass));
        Recorder {
            k: self,
            encoder: Some(encoder),
            pass: Some(pass),
            arena: Vec::new(),
            dispatches: 0,
            dry: false,
            names: Vec::new(),
            profiled,
        }
    }

    /// A recorder that records nothing: each dispatch only [`Kernels::prepare`]s its pipeline.
    pub fn dry_recorder(&self) -> Recorder<'_> {
        Recorder { k: self, encoder: None, pass: None, arena: Vec::new(), dispatches: 0, dry: true, names: Vec::new(), profiled: false }
    }
}

/// Records dispatches into one compute pass; [`Recorder::submit`] uploads the parameters and
/// submits once.
pub struct Recorder<'a> {
    k: &'a Kernels,
    encoder: Option<wgpu::CommandEncoder>,
    pass: Option<wgpu::ComputePass<'static>>,
    arena: Vec<u8>,
    pub dispatches: u32,
    dry: bool,
    /// A dry recorder's pipelines, in order of first use.
    pub names: Vec<String>,
    /// Dispatches are timed into the kernels' profile.
    profiled: bool,
}

impl Recorder<'_> {
    /// What the launchers should pick kernel shapes for (see [`super::context::Tuning`]).
    pub fn tuning(&self) -> super::context::Tuning {
        self.k.ctx.tuning
    }

    /// The adapter's smallest subgroup size, 0 without subgroups.
    pub fn subgroup_size(&self) -> u32 {
        self.k.ctx.subgroup_size_in_use()
    }

    /// Dispatches `key` over `groups` workgroups; more than the device allows in a dimension is an
    /// error (launchers spread large counts over a 2-D grid themselves, see `matvec::grid`).
    pub fn dispatch<K: Kernel + 'static>(
        &mut self,
        key: &K,
        params: &K::Params,
        binds: &[Bind],
        groups: [u32; 3],
    ) -> Result<(), ShaderError> {
        if self.dry {
            let name = key.name();
            if !self.names.contains(&name) {
                self.names.push(name);
            }
            return self.k.prepare(key);
        }
        let c = self.k.pipeline(key)?;
        if groups.contains(&0) {
            return Ok(());
        }
        let max = self.k.ctx.limits.max_compute_workgroups_per_dimension;
        if groups[0] > max || groups[1] > max || groups[2] > max {
            return Err(ShaderError(format!("{}: {groups:?} workgroups exceed the limit {max}", c.name)));
        }
        let offset = self.arena.len() as u64;
        if offset / self.k.slot >= ARENA_SLOTS {
            return Err(ShaderError(format!("more than {ARENA_SLOTS} dispatches in one submit")));
        }
        self.arena.extend_from_slice(bytemuck::bytes_of(params));
        self.arena.resize((offset + self.k.slot) as usize, 0);
        let bg = self.k.bind_group::<K>(&c, binds);
        let pass = self.pass.as_mut().unwrap();
        pass.set_pipeline(&c.pipeline);
        pass.set_bind_group(0, &bg, &[offset as u32]);
        pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        if self.profiled {
            self.profiled = self.k.profile.borrow_mut().as_mut().is_some_and(|p| p.after(pass, &c.name));
        }
        self.dispatches += 1;
        Ok(())
    }

    /// Ends the pass for a copy (e.g. into a read-back buffer) and starts a new one after it.
    pub fn copy(&mut self, src: &wgpu::Buffer, src_off: u64, dst: &wgpu::Buffer, dst_off: u64, size: u64) {
        if self.dry {
            return;
        }
        drop(self.pass.take());
        let enc = self.encoder.as_mut().unwrap();
        enc.copy_buffer_to_buffer(src, src_off, dst, dst_off, size);
        self.pass = Some(enc.begin_compute_pass(&Default::default()).forget_lifetime());
    }

    /// Ends the recording without submitting it (for timing the host's side of recording).
    pub fn finish(mut self) -> Option<wgpu::CommandBuffer> {
        drop(self.pass.take());
        self.encoder.take().map(|e| e.finish())
    }

    /// Writes the parameters and submits everything recorded, once.
    pub fn submit(mut self) -> wgpu::SubmissionIndex {
        drop(self.pass.take());
        let ctx = &self.k.ctx;
        let Some(encoder) = self.encoder.take() else {
            return ctx.queue.submit([]); // a dry recorder
        };
        if !self.arena.is_empty() {
            ctx.queue.write_buffer(&self.k.arena, 0, &self.arena);
        }
        let mut encoder = encoder;
        if let Some(p) = self.k.profile.borrow().as_ref() {
            p.resolve(&mut encoder);
        }
        ctx.queue.submit([encoder.finish()])
    }
}

/// Number of workgroups of size `wg` covering `n` items.
pub fn groups_for(n: u32, wg: u32) -> u32 {
    n.div_ceil(wg)
}
