// Activations as the kernels apply them; the codes are `ops::elementwise::Act::code`:
// 0 linear, 1 relu, 2 sigmoid, 3 tanh, 4 elu (alpha), 5 leaky relu (alpha).
fn activate(v: f32, act: u32, alpha: f32) -> f32 {
    switch act {
        case 1u: { return max(v, 0.0); }
        case 2u: { return 1.0 / (1.0 + exp(-v)); }
        // exp of a non-positive number cannot overflow, unlike the textbook (e^2v - 1)/(e^2v + 1).
        case 3u: {
            let e = exp(-2.0 * abs(v));
            return sign(v) * (1.0 - e) / (1.0 + e);
        }
        case 4u: { return select(alpha * (exp(v) - 1.0), v, v > 0.0); }
        case 5u: { return select(alpha * v, v, v > 0.0); }
        default: { return v; }
    }
}

// The gradient before an activation, from its output y and the gradient g after it.
fn activate_grad(y: f32, g: f32, act: u32, alpha: f32) -> f32 {
    switch act {
        case 1u: { return select(0.0, g, y > 0.0); }
        case 2u: { return g * y * (1.0 - y); }
        case 3u: { return g * (1.0 - y * y); }
        case 4u: { return select(g * (y + alpha), g, y > 0.0); }
        case 5u: { return select(g * alpha, g, y > 0.0); }
        default: { return g; }
    }
}
