// The gated feed-forward's activation: SiLU, or GELU (tanh approximation) with GELU defined.
fn glu_act(x: f32) -> f32 {
#ifdef GELU
    // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x³))), written with exp so a large |x| cannot
    // overflow tanh on any driver.
    let u = 0.7978846 * x * (1.0 + 0.044715 * x * x);
    let t = 1.0 - 2.0 / (exp(2.0 * clamp(u, -20.0, 20.0)) + 1.0);
    return 0.5 * x * (1.0 + t);
#else
    return x / (1.0 + exp(-x));
#endif
}
