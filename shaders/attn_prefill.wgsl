// Causal attention for a block of query tokens, flash style: a workgroup takes QT queries of one
// head and walks the keys in tiles of KT, keeping a running max and sum per query (online softmax)
// and its share of the output in registers (DPT dimensions per invocation).
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> KC: array<f32>;
@group(0) @binding(3) var<storage, read> VC: array<f32>;
@group(0) @binding(4) var<storage, read_write> OUT: array<f32>;

const DPT: u32 = (HEAD_DIM + WG_X - 1u) / WG_X;

var<workgroup> qs: array<f32, QT * HEAD_DIM>;
var<workgroup> s: array<f32, QT * KT>;
var<workgroup> alpha: array<f32, QT>;
var<workgroup> msum: array<vec2<f32>, QT>;   // running (max, sum) per query

@compute @workgroup_size(WG_X, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let t0 = wid.x * QT;
    let h = wid.y;
    let kvh = h / P.group;
    let nq = min(QT, P.n_tokens - t0);
    for (var i = lid.x; i < QT * HEAD_DIM; i += WG_X) {
        let qi = i / HEAD_DIM;
        var v = 0.0;
        if (qi < nq) {
            v = Q[P.q_offset + (t0 + qi) * P.q_stride + h * HEAD_DIM + i % HEAD_DIM];
        }
        qs[i] = v;
    }
    if (lid.x < QT) {
        msum[lid.x] = vec2<f32>(-3.0e38, 0.0);
    }
    var o: array<f32, QT * DPT>;
    // Keys visible to any query of the block: from the first query's window start to the last
    // query's position.
    let last_pos = P.pos0 + t0 + nq - 1u;
    var first = 0u;
    if (P.window > 0u && P.pos0 + t0 + 1u > P.window) {
        first = P.pos0 + t0 + 1u - P.window;
    }
    let kt_first = first / KT;
    let kt_last = last_pos / KT;
    workgroupBarrier();
    for (var kt = kt_first; kt <= kt_last; kt++) {
        // Scores for QT × KT pairs.
        for (var i = lid.x; i < QT * KT; i += WG_X) {
            let qi = i / KT;
            let k = kt * KT + i % KT;
            let qpos = P.pos0 + t0 + qi;
            var sc = -3.0e38;
            let visible = qi < nq && k <= qpos && (P.window == 0u || qpos - k < P.window);
            if (visible) {
                let ko = k * P.kv_stride + kvh * HEAD_DIM;
                var acc = 0.0;
                for (var d = 0u; d < HEAD_DIM; d++) {
                    acc += qs[qi * HEAD_DIM + d] * KC[ko + d];
                }
                sc = acc * P.scale;
                if (P.softcap > 0.0) {
                    sc = P.softcap * tanh(sc / P.softcap);
                }
            }
            s[i] = sc;
        }
        workgroupBarrier();
        // Online softmax update, one invocation per query.
        if (lid.x < QT) {
            let qi = lid.x;
            var mx = msum[qi].x;
            for (var j = 0u; j < KT; j++) {
                mx = max(mx, s[qi * KT + j]);
            }
            let a = exp(msum[qi].x - mx);
            var l = msum[qi].y * a;
            for (var j = 0u; j < KT; j++) {
                let sv = s[qi * KT + j];
                var p = 0.0;
                if (sv > -1.0e38) {
                    p = exp(sv - mx);
                }
                s[qi * KT + j] = p;
                l += p;
            }
            msum[qi] = vec2<f32>(mx, l);
            alpha[qi] = a;
        }
        workgroupBarrier();
        for (var j = 0u; j < DPT; j++) {
            let d = lid.x + j * WG_X;
            if (d < HEAD_DIM) {
                for (var qi = 0u; qi < QT; qi++) {
                    var acc = o[qi * DPT + j] * alpha[qi];
                    for (var kk = 0u; kk < KT; kk++) {
                        let p = s[qi * KT + kk];
                        if (p != 0.0) {
                            acc += p * VC[(kt * KT + kk) * P.kv_stride + kvh * HEAD_DIM + d];
                        }
                    }
                    o[qi * DPT + j] = acc;
                }
            }
        }
        workgroupBarrier();
    }
    for (var j = 0u; j < DPT; j++) {
        let d = lid.x + j * WG_X;
        if (d < HEAD_DIM) {
            for (var qi = 0u; qi < nq; qi++) {
                OUT[P.out_offset + (t0 + qi) * P.out_stride + h * HEAD_DIM + d] = o[qi * DPT + j] / msum[qi].y;
            }
        }
    }
}
