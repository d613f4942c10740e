//! The wgpu instance, adapter and device: Vulkan/Metal/DX12 natively (lavapipe and SwiftShader here),
//! the browser's WebGPU on wasm32. Only the limits a model needs are requested, and optional
//! features (subgroups, f16) are enabled only when the adapter has them.

use super::error::GpuError;
use std::sync::{Arc, Mutex};

/// What the device must be able to do; derived from the model's load plan.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceRequest {
    /// Largest single storage binding the plan uses.
    pub max_binding: u64,
    /// Largest single buffer the plan allocates.
    pub max_buffer: u64,
    pub storage_buffers_per_stage: u32,
    pub workgroup_storage: u32,
    pub invocations_per_workgroup: u32,
    /// Create the device with WebGPU's default limits whatever the adapter offers (tests).
    pub default_limits_only: bool,
    /// Use the subgroup and f16 fast paths when available.
    pub allow_subgroups: bool,
    pub allow_f16: bool,
    /// Enable timestamp queries inside passes where the adapter has them (natively; for
    /// [`super::profile::Profile`]).
    pub allow_timestamps: bool,
}

impl Default for DeviceRequest {
    fn default() -> Self {
        let d = wgpu::Limits::default();
        DeviceRequest {
            max_binding: d.max_storage_buffer_binding_size,
            max_buffer: d.max_buffer_size,
            storage_buffers_per_stage: 8,
            workgroup_storage: d.max_compute_workgroup_storage_size,
            invocations_per_workgroup: 256,
            default_limits_only: false,
            allow_subgroups: true,
            allow_f16: true,
            allow_timestamps: false,
        }
    }
}

/// What the kernels' shapes are tuned for. A CPU adapter (lavapipe, SwiftShader, a browser's
/// fallback adapter) wants few invocations each doing much, since loads dominate there; a GPU
/// wants many threads per row to keep enough loads in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tuning {
    /// WGSL runs on the CPU.
    Cpu,
    Gpu,
}

impl Tuning {
    /// Natively the adapter's device type (lavapipe and SwiftShader report a CPU); in a browser
    /// also `GPUDevice.adapterInfo` (SwiftShader, fallback adapters). Natively
    /// `GGUF_WEB_TUNE=cpu|gpu` overrides.
    fn of(info: &wgpu::AdapterInfo, device: &wgpu::Device) -> Tuning {
        let _ = device;
        #[cfg(not(target_arch = "wasm32"))]
        let forced = std::env::var("GGUF_WEB_TUNE").ok();
        #[cfg(target_arch = "wasm32")]
        let forced = super::prewarm::is_cpu_emulated(device).then(|| "cpu".to_string());
        match forced.as_deref() {
            Some("cpu") => Tuning::Cpu,
            Some("gpu") => Tuning::Gpu,
            _ if info.device_type == wgpu::DeviceType::Cpu => Tuning::Cpu,
            _ => Tuning::Gpu,
        }
    }
}

/// Shared state the device's callbacks report into.
#[derive(Default)]
struct Health {
    lost: Option<String>,
    error: Option<String>,
}

pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub subgroups: bool,
    pub subgroup_size: u32,
    pub f16: bool,
    /// Timestamp queries inside passes are enabled.
    pub timestamps: bool,
    pub tuning: Tuning,
    health: Arc<Mutex<Health>>,
}

/// In a browser, wgpu's WebGPU backend (v30) neither destroys a dropped buffer nor a dropped
/// device: their GPU memory stays until the page's garbage collector finds the JS objects, so a
/// page that unloads and loads models holds several models' worth (the soak test,
/// tests/browser/soak.test.mjs, saw 17 MB more per load). A model owns its device, so destroying
/// the device when the model's last handle goes frees all of it at once. Natively wgpu frees on
/// drop.
#[cfg(target_arch = "wasm32")]
impl Drop for GpuContext {
    fn drop(&mut self) {
        self.device.destroy();
    }
}

impl GpuContext {
    /// Picks the adapter (the environment's `WGPU_ADAPTER_NAME`/`WGPU_BACKEND` are honoured natively)
    /// and creates a device for `req`.
    pub async fn new(req: &DeviceRequest) -> Result<GpuContext, GpuError> {
        #[cfg(not(target_arch = "wasm32"))]
        let desc = {
            let mut d = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
            if std::env::var_os("WGPU_BACKEND").is_none() {
                d.backends = wgpu::Backends::PRIMARY;
            }
            d
        };
        #[cfg(target_arch = "wasm32")]
        let desc = wgpu::InstanceDescriptor::new_without_display_handle();
        let instance = wgpu::Instance::new(desc);
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                force_fallback_adapter: false,
                compatible_surface: None,
                apply_limit_buckets: false,
            })
            .await
            .map_err(|e| GpuError::NoAdapter(e.to_string()))?;
        Self::with_adapter(adapter, req).await
    }

    pub async fn with_adapter(adapter: wgpu::Adapter, req: &DeviceRequest) -> Result<GpuContext, GpuError> {
        let info = adapter.get_info();
        let have = adapter.limits();
        let name = format!("{} ({:?})", info.name, info.backend);
        let too_small = |what: &str, needed: u64, available: u64| GpuError::AdapterTooSmall {
            adapter: name.clone(),
            what: what.into(),
            needed,
            available,
        };
        let base = if req.default_limits_only { wgpu::Limits::default() } else { have.clone() };
        let checks = [
            ("a storage buffer binding (maxStorageBufferBindingSize)", req.max_binding, base.max_storage_buffer_binding_size),
            ("a buffer (maxBufferSize)", req.max_buffer, base.max_buffer_size),
            ("storage buffers per shader stage", req.storage_buffers_per_stage as u64, base.max_storage_buffers_per_shader_stage as u64),
            ("workgroup memory (bytes)", req.workgroup_storage as u64, base.max_compute_workgroup_storage_size as u64),
            ("invocations per workgroup", req.invocations_per_workgroup as u64, base.max_compute_invocations_per_workgroup as u64),
        ];
        for (what, needed, available) in checks {
            if needed > available {
                return Err(too_small(what, needed, available));
            }
        }
        // Request what the model needs, never less than WebGPU's defaults.
        let mut limits = wgpu::Limits::default();
        limits.max_storage_buffer_binding_size = limits.max_storage_buffer_binding_size.max(req.max_binding);
        limits.max_buffer_size = limits.max_buffer_size.max(req.max_buffer);
        limits.max_storage_buffers_per_shader_stage = limits.max_storage_buffers_per_shader_stage.max(req.storage_buffers_per_stage);
        limits.max_compute_workgroup_storage_size = limits.max_compute_workgroup_storage_size.max(req.workgroup_storage);
        limits.max_compute_invocations_per_workgroup = limits.max_compute_invocations_per_workgroup.max(req.invocations_per_workgroup);

        let feats = adapter.features();
        // Natively `GGUF_WEB_NO_SUBGROUPS=1` runs the kernels a browser without subgroups runs
        // (Firefox) on the same adapter, to tell their cost from the browser's.
        #[cfg(not(target_arch = "wasm32"))]
        let allow_subgroups = req.allow_subgroups && std::env::var_os("GGUF_WEB_NO_SUBGROUPS").is_none_or(|v| v.is_empty());
        #[cfg(target_arch = "wasm32")]
        let allow_subgroups = req.allow_subgroups;
        let subgroups = allow_subgroups && feats.contains(wgpu::Features::SUBGROUP) && info.subgroup_min_size > 0;
        let f16 = req.allow_f16 && feats.contains(wgpu::Features::SHADER_F16);
        let mut required_features = wgpu::Features::empty();
        if subgroups {
            required_features |= wgpu::Features::SUBGROUP;
        }
        if f16 {
            required_features |= wgpu::Features::SHADER_F16;
        }
        let stamps = wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES;
        let timestamps = req.allow_timestamps && cfg!(not(target_arch = "wasm32")) && feats.contains(stamps);
        if timestamps {
            required_features |= stamps;
        }
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("gguf-web"),
                required_features,
                required_limits: limits.clone(),
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| GpuError::Device(e.to_string()))?;
        let health = Arc::new(Mutex::new(Health::default()));
        // Weak: wgpu's WebGPU backend never frees these two closures (it forgets them), so a
        // strong reference would keep every destroyed device's health, message included, alive.
        let h = Arc::downgrade(&health);
        device.set_device_lost_callback(move |reason, msg| {
            if let Some(h) = h.upgrade() {
                h.lock().unwrap().lost = Some(format!("{reason:?}: {msg}"));
            }
        });
        let h = Arc::downgrade(&health);
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Some(h) = h.upgrade() {
                let mut g = h.lock().unwrap();
                if g.error.is_none() {
                    g.error = Some(e.to_string());
                }
            }
        }));
        let tuning = Tuning::of(&info, &device);
        let (subgroups, subgroup_size) = match web_subgroup_size() {
            Some(n) if allow_subgroups && !subgroups => (true, n),
            _ => (subgroups, if subgroups { info.subgroup_min_size } else { 0 }),
        };
        Ok(GpuContext { tuning, subgroup_size, device, queue, info, limits, subgroups, f16, timestamps, health })
    }

    /// Whether prefill runs the batch through the matvec (every token decoding the weights again)
    /// rather than the tiled matmul. It does on every adapter measured: 3.3× faster prefill on
    /// SwiftShader, 1.5× on lavapipe (the matmul's private-array tiles), and 11–18× on an H200
    /// through Vulkan (4055 against 223 tok/s for SmolLM2; the matvec's grid of rows × tokens
    /// fills the chip where the matmul's tiles leave it idle). Natively, `GGUF_WEB_PREFILL=matmul`
    /// selects the matmul.
    pub fn prefill_by_matvec(&self) -> bool {
        #[cfg(not(target_arch = "wasm32"))]
        if std::env::var("GGUF_WEB_PREFILL").as_deref() == Ok("matmul") {
            return false;
        }
        true
    }

    /// The smallest subgroup size the kernels may rely on, 0 without subgroups.
    pub fn subgroup_size_in_use(&self) -> u32 {
        if self.subgroups {
            self.subgroup_size
        } else {
            0
        }
    }

    /// A short description of the adapter for reports.
    pub fn describe(&self) -> String {
        // The subgroup size picks the CPU adapters' fast paths (x shared per subgroup, attention
        // lanes), so it belongs in what benchmarks report.
        let sg = if self.subgroups { format!(", subgroups of {}", self.subgroup_size) } else { ", no subgroups".into() };
        format!("{} ({:?}, {:?}{sg})", self.info.name, self.info.backend, self.info.device_type)
    }

    /// The first error the device reported since the last check (validation, out of memory, loss).
    pub fn take_error(&self) -> Option<GpuError> {
        let mut h = self.health.lock().unwrap();
        if let Some(l) = &h.lost {
            return Some(GpuError::DeviceLost(l.clone()));
        }
        h.error.take().map(|e| if e.to_lowercase().contains("out of memory") { GpuError::OutOfMemory(e) } else { GpuError::Validation(e) })
    }

    /// The device's loss, once its `lost` callback has run (other errors are left for `take_error`).
    pub fn lost(&self) -> Option<GpuError> {
        self.health.lock().unwrap().lost.clone().map(GpuError::DeviceLost)
    }

    pub fn check(&self) -> Result<(), GpuError> {
        self.take_error().map_or(Ok(()), Err)
    }

    /// Copies `size` bytes of `buffer` at `offset` back to the CPU.
    pub async fn read_back(&self, buffer: &wgpu::Buffer, offset: u64, size: u64) -> Result<Vec<u8>, GpuError> {
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(buffer, offset, &staging, 0, size);
        self.queue.submit([enc.finish()]);
        self.map_read(&staging, None).await
    }

    /// Maps a MAP_READ buffer and returns its bytes. `after`: the submission that last writes it,
    /// where later ones may still be running (natively the wait is for that submission only, not
    /// for work queued behind it; browsers track each buffer's last use themselves).
    pub async fn map_read(&self, staging: &wgpu::Buffer, after: Option<wgpu::SubmissionIndex>) -> Result<Vec<u8>, GpuError> {
        let pending = self.map_start(staging);
        self.map_finish(staging, pending, after, None).await
    }

    /// Asks for `staging` to be mapped once the work writing it is done, without waiting: work
    /// submitted afterwards (not using `staging`) does not delay the request. In Chromium the map
    /// request otherwise reaches the GPU process only after everything submitted before it has
    /// been decoded there. Hand the result to [`Self::map_finish`], which must follow before
    /// `staging` is used again.
    pub fn map_start(&self, staging: &wgpu::Buffer) -> PendingMap {
        let (tx, rx) = futures_channel::oneshot::channel();
        staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        PendingMap(rx)
    }

    /// Waits for a map asked for by [`Self::map_start`] and returns the buffer's bytes (see
    /// [`Self::map_read`] for `after`); the buffer is unmapped again. `not_before`: a time
    /// ([`crate::engine::clock::now_ms`]) before which the work is not expected to be done, until
    /// which a browser's wait does not nudge the queue (see `nudge_until_mapped`).
    pub async fn map_finish(
        &self,
        staging: &wgpu::Buffer,
        pending: PendingMap,
        after: Option<wgpu::SubmissionIndex>,
        not_before: Option<f64>,
    ) -> Result<Vec<u8>, GpuError> {
        let rx = pending.0;
        #[cfg(not(target_arch = "wasm32"))]
        self.device.poll(wgpu::PollType::Wait { submission_index: after, timeout: None }).map_err(|e| GpuError::Readback(e.to_string()))?;
        #[cfg(not(target_arch = "wasm32"))]
        let _ = not_before;
        #[cfg(target_arch = "wasm32")]
        let _ = after;
        #[cfg(target_arch = "wasm32")]
        let rx = self.nudge_until_mapped(rx, not_before);
        let mapped = rx.await.map_err(|_| GpuError::Readback("the map callback was dropped".into()))?;
        if let Err(e) = mapped {
            return Err(self.take_error().unwrap_or(GpuError::Readback(e.to_string())));
        }
        let bytes = staging.slice(..).get_mapped_range().map_err(|e| GpuError::Readback(e.to_string()))?.to_vec();
        staging.unmap();
        self.check()?;
        Ok(bytes)
    }
}

#[cfg(target_arch = "wasm32")]
impl GpuContext {
    /// Waits for the map callback's result while keeping the queue moving. Firefox resolves `mapAsync`
    /// only when its GPU process next looks at the queue, on a timer of about 100 ms unless something is
    /// submitted: one 4-byte read-back per token took 100 ms there. So the wait races the map against
    /// a short sleep (`pkg/src/wasm.js`'s `__ggufWebYield`: a `setTimeout` started from a MessageChannel
    /// message, so that it is not clamped to 4 ms), and each time the sleep wins it submits an empty
    /// command list, which makes Firefox check the buffer, and sleeps twice as long, up to
    /// `MAX_SLEEP_MS`. A browser that resolves the map by itself (Chromium) never gets a submit when the
    /// step is short, and one per sleep while it runs. Sleeping, not spinning: on a software adapter
    /// (SwiftShader, lavapipe) a thread that spins on empty submits takes the CPU the GPU work needs
    /// (a MessageChannel loop that submitted every turn cut Chromium's decode by 2.6x here). Without the
    /// hook (the core used without the package's wrapper) it just waits. Numbers in docs/benchmarks.md.
    ///
    /// Each empty submit wakes the browser's GPU process, which on a software adapter takes a core
    /// from the GPU work: a 170-token prefill of several seconds got thousands of them. So until
    /// `not_before` (the expected end of a batch of decode steps) it sleeps without nudging, and
    /// then nudges every 2 ms at most; without an expected end (a prompt) the sleeps grow to a
    /// twentieth of the time waited so far (at most ~5% late, a hundred submits in 15 s).
    async fn nudge_until_mapped<T>(
        &self,
        mut rx: futures_channel::oneshot::Receiver<T>,
        not_before: Option<f64>,
    ) -> Result<T, futures_channel::oneshot::Canceled> {
        use std::future::Future;
        use std::pin::Pin;
        use std::task::Poll;
        use wasm_bindgen::JsCast;
        const FIRST_SLEEP_MS: f64 = 0.5;
        const MAX_SLEEP_MS: f64 = 2.0;
        const LATE_SHARE: f64 = 0.05;
        let Some(sleep) = web_yield_hook() else { return rx.await };
        let t0 = crate::engine::clock::now_ms();
        let quiet = not_before.map_or(0.0, |t| t - t0);
        let mut quieting = quiet > FIRST_SLEEP_MS;
        let mut ms = if quieting { quiet } else { FIRST_SLEEP_MS };
        loop {
            let timer = sleep.call1(&wasm_bindgen::JsValue::NULL, &ms.into()).ok().and_then(|p| p.dyn_into::<js_sys::Promise>().ok());
            let Some(timer) = timer else { return rx.await };
            let mut timer = wasm_bindgen_futures::JsFuture::from(timer);
            let mapped = std::future::poll_fn(|cx| {
                if let Poll::Ready(r) = Pin::new(&mut rx).poll(cx) {
                    return Poll::Ready(Some(r));
                }
                Pin::new(&mut timer).poll(cx).map(|_| None)
            })
            .await;
            if let Some(r) = mapped {
                return r;
            }
            self.queue.submit([]);
            let cap = match not_before {
                Some(_) => MAX_SLEEP_MS,
                None => MAX_SLEEP_MS.max(LATE_SHARE * (crate::engine::clock::now_ms() - t0)),
            };
            ms = if std::mem::take(&mut quieting) { FIRST_SLEEP_MS } else { (ms * 2.0).min(cap) };
        }
    }
}

/// In a browser: `globalThis.__ggufWebYield(ms)`, a function returning a promise that resolves after
/// `ms` milliseconds, unclamped (set by `pkg/src/wasm.js`).
#[cfg(target_arch = "wasm32")]
fn web_yield_hook() -> Option<js_sys::Function> {
    use wasm_bindgen::JsCast;
    js_sys::Reflect::get(&js_sys::global(), &"__ggufWebYield".into()).ok()?.dyn_into::<js_sys::Function>().ok()
}

/// Blocks on a future natively (the browser awaits instead).
#[cfg(not(target_arch = "wasm32"))]
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    pollster::block_on(f)
}

/// In a browser: the subgroup size of the device just created, where the package's JS wrapper had
/// the `subgroups` feature requested for it (`pkg/src/wasm.js`): wgpu's WebGPU backend neither
/// requests nor reports that feature, and without it the subgroup fast paths (x shared per
/// subgroup, the CPU adapters' attention lanes) would be native-only. `None` natively, without
/// the wrapper, or where the adapter lacks subgroups.
fn web_subgroup_size() -> Option<u32> {
    #[cfg(target_arch = "wasm32")]
    {
        let v = js_sys::Reflect::get(&js_sys::global(), &"__ggufWebSubgroupSize".into()).ok()?.as_f64()?;
        (v >= 1.0 && v <= 128.0).then_some(v as u32)
    }
    #[cfg(not(target_arch = "wasm32"))]
    None
}

/// A map asked for by [`GpuContext::map_start`]: its callback's result.
pub struct PendingMap(futures_channel::oneshot::Receiver<Result<(), wgpu::BufferAsyncError>>);
