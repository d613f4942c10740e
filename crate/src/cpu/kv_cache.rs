//! The KV cache of both CPU engines (the f32 reference and the fast engine): keys and values of
//! every processed position, per layer (`[position][kv_dim]`), grown as positions arrive up to
//! `capacity`.

use crate::model::ModelConfig;

pub struct KvCache {
    pub(crate) k: Vec<Vec<f32>>,
    pub(crate) v: Vec<Vec<f32>>,
    pub(crate) len: usize,
    pub(crate) capacity: usize,
}

impl KvCache {
    pub(crate) fn new(n_layer: usize, capacity: usize) -> KvCache {
        KvCache { k: vec![Vec::new(); n_layer], v: vec![Vec::new(); n_layer], len: 0, capacity }
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn capacity(&self) -> usize {
        self.capacity
    }
    /// Forgets positions from `len` on (e.g. to reuse a shared prompt prefix).
    pub fn truncate(&mut self, len: usize, cfg: &ModelConfig) {
        self.len = self.len.min(len);
        for (k, v) in self.k.iter_mut().zip(&mut self.v) {
            k.truncate(self.len * cfg.kv_dim());
            v.truncate(self.len * cfg.v_dim());
        }
    }
}
