// 2-D convolution as implicit GEMM (no im2col buffer) in 64x64 output tiles staged through
// workgroup memory: the tiled family (Variant::Tiled), chosen by --kernels tiled or a tuning cache.
// Layouts, the GEMMs and weights_reduce: shaders/prelude/conv2d.wgsl.
//
// Every GEMM runs on the tiled core (shaders/prelude/tile_gemm.wgsl); the loaders here gather its
// operands from the images.

#include "prelude/conv2d.wgsl"
#include "prelude/tile_gemm.wgsl"

// Scalar operands only this family reads (the CPU-adapter family reads them as vec4s).
@group(0) @binding(2) var<storage, read> weights: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;

@compute @workgroup_size(TILE * TILE / 16u)
fn forward(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let M = p.n * p.oh * p.ow;
    let K = p.kh * p.kw * p.cin;
    let N = p.cout;
    let m0 = wid.x * TILE;
    let n0 = wid.y * TILE;
    let nl = loads();
    let s = sa();

    // A loads: this thread fills reduction index ak of rows ar + rs r (r < nl). Consecutive
    // threads take consecutive k, i.e. consecutive input channels: coalesced reads of x.
    let ak = li % BK;
    let ar = li / BK;
    let rs = tile_wg() / BK;
    var img: array<u32, MAX_LOADS>;
    var iy0: array<i32, MAX_LOADS>;
    var ix0: array<i32, MAX_LOADS>;
    var live: array<bool, MAX_LOADS>;
    for (var r = 0u; r < nl; r++) {
        let m = m0 + ar + rs * r;
        live[r] = m < M;
        let ox = m % p.ow;
        let t = m / p.ow;
        let oy = t % p.oh;
        let b = t / p.oh;
        img[r] = b * p.h * p.w * p.cin;
        iy0[r] = i32(oy * p.sh) - i32(p.pad_top);
        ix0[r] = i32(ox * p.sw) - i32(p.pad_left);
    }
    // B loads: column li % TILE of reduction rows bk + ks q: coalesced reads of the weights.
    let bc = li % TILE;
    let bk = li / TILE;
    let ks = tile_wg() / TILE;

    var acc: array<f32, 16>;
    for (var k0 = 0u; k0 < K; k0 += BK) {
        let k = k0 + ak;
        let c = k % p.cin;
        let t = k / p.cin;
        let kj = i32(t % p.kw);
        let ki = i32(t / p.kw);
        for (var r = 0u; r < nl; r++) {
            let iy = iy0[r] + ki;
            let ix = ix0[r] + kj;
            var v = 0.0;
            if k < K && live[r] && iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w) {
                v = x[img[r] + (u32(iy) * p.w + u32(ix)) * p.cin + c];
            }
            As[ak * s + ar + rs * r] = v;
        }
        for (var q = 0u; q < nl; q++) {
            let kk = bk + ks * q;
            let kg = k0 + kk;
            let col = n0 + bc;
            var v = 0.0;
            if kg < K && col < N {
                v = weights[kg * N + col];
            }
            Bs[kk * s + bc] = v;
        }
        workgroupBarrier();
        tile_mma(li, &acc);
        workgroupBarrier();
    }

    for (var i = 0u; i < 4u; i++) {
        let m = m0 + tile_row(li, i);
        if m >= M {
            continue;
        }
        for (var j = 0u; j < 4u; j++) {
            let col = n0 + tile_col(li, j);
            if col < N {
                y[m * N + col] = activate(acc[i * 4u + j] + bias[col], p.act, p.alpha);
            }
        }
    }
}

@compute @workgroup_size(TILE * TILE / 16u)
fn backward_input(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let M = p.n * p.h * p.w;
    let K = p.kh * p.kw * p.cout;
    let N = p.cin;
    let m0 = wid.x * TILE;
    let n0 = wid.y * TILE;
    let nl = loads();
    let s = sa();

    // Row m = input pixel (b, iy, ix); reduction index k = (ki, kj, co). The pixel was touched by
    // output (oy, ox) through tap (ki, kj) when iy + pad_top = oy * sh + ki (and likewise in x).
    // A loads as in forward: reduction index ak of rows ar + rs r.
    let ak = li % BK;
    let ar = li / BK;
    let rs = tile_wg() / BK;
    var img: array<u32, MAX_LOADS>;
    var py: array<i32, MAX_LOADS>;
    var px: array<i32, MAX_LOADS>;
    var live: array<bool, MAX_LOADS>;
    for (var r = 0u; r < nl; r++) {
        let m = m0 + ar + rs * r;
        live[r] = m < M;
        let ix = m % p.w;
        let t = m / p.w;
        let iy = t % p.h;
        let b = t / p.h;
        img[r] = b * p.oh * p.ow * p.cout;
        py[r] = i32(iy + p.pad_top);
        px[r] = i32(ix + p.pad_left);
    }
    let sh = i32(p.sh);
    let sw = i32(p.sw);

    var acc: array<f32, 16>;
    for (var k0 = 0u; k0 < K; k0 += BK) {
        // The same k serves the A and B loads of this thread (both take reduction index ak).
        let k = k0 + ak;
        let co = k % p.cout;
        let t = k / p.cout;
        let kj = t % p.kw;
        let ki = t / p.kw;
        for (var r = 0u; r < nl; r++) {
            let ty_ = py[r] - i32(ki);
            let tx_ = px[r] - i32(kj);
            var v = 0.0;
            if k < K && live[r] && ty_ >= 0 && tx_ >= 0 && ty_ % sh == 0 && tx_ % sw == 0 {
                let oy = u32(ty_ / sh);
                let ox = u32(tx_ / sw);
                if oy < p.oh && ox < p.ow {
                    v = dy[img[r] + (oy * p.ow + ox) * p.cout + co];
                }
            }
            As[ak * s + ar + rs * r] = v;
        }
        // B[k, ci] = weights[ki, kj, ci, co], columns ar + rs q; consecutive threads take
        // consecutive co (coalesced).
        for (var q = 0u; q < nl; q++) {
            let col = ar + rs * q;
            let ci = n0 + col;
            var v = 0.0;
            if k < K && ci < N {
                v = weights[((ki * p.kw + kj) * p.cin + ci) * p.cout + co];
            }
            Bs[ak * s + col] = v;
        }
        workgroupBarrier();
        tile_mma(li, &acc);
        workgroupBarrier();
    }

    for (var i = 0u; i < 4u; i++) {
        let m = m0 + tile_row(li, i);
        if m >= M {
            continue;
        }
        for (var j = 0u; j < 4u; j++) {
            let col = n0 + tile_col(li, j);
            if col < N {
                dx[m * N + col] = acc[i * 4u + j];
            }
        }
    }
}

@compute @workgroup_size(TILE * TILE / 16u)
fn backward_weights(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let M = p.n * p.oh * p.ow;
    let K = p.kh * p.kw * p.cin;
    let R = K + 1u;
    let N = p.cout;
    let r0 = wid.x * TILE;
    let n0 = wid.y * TILE;
    let split = wid.z;
    let mb = split * p.chunk;
    let nl = loads();
    let s = sa();
    let me = min(mb + p.chunk, M);

    // A'[row, m] = im2col(x)[m, row] for row < K, 1 for row == K. This thread always loads row
    // li % TILE (consecutive threads: consecutive channels), at reduction offsets ak + ks q.
    let arow = li % TILE;
    let ak = li / TILE;
    let ks = tile_wg() / TILE;
    let kr = r0 + arow;
    let c = kr % p.cin;
    let t = kr / p.cin;
    let kj = i32(t % p.kw);
    let ki = i32(t / p.kw);
    let is_one = kr == K;
    let is_tap = kr < K;
    // B[m, col] = dy[m, col]: column li % TILE, the same reduction offsets.
    let bc = li % TILE;

    var acc: array<f32, 16>;
    for (var mt = mb; mt < me; mt += BK) {
        for (var q = 0u; q < nl; q++) {
            let kk = ak + ks * q;
            let m = mt + kk;
            var a = 0.0;
            var b = 0.0;
            if m < me {
                if is_one {
                    a = 1.0;
                } else if is_tap {
                    let ox = m % p.ow;
                    let t2 = m / p.ow;
                    let oy = t2 % p.oh;
                    let bi = t2 / p.oh;
                    let iy = i32(oy * p.sh) - i32(p.pad_top) + ki;
                    let ix = i32(ox * p.sw) - i32(p.pad_left) + kj;
                    if iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w) {
                        a = x[((bi * p.h + u32(iy)) * p.w + u32(ix)) * p.cin + c];
                    }
                }
                if n0 + bc < N {
                    b = dy[m * N + n0 + bc];
                }
            }
            As[kk * s + arow] = a;
            Bs[kk * s + bc] = b;
        }
        workgroupBarrier();
        tile_mma(li, &acc);
        workgroupBarrier();
    }

    for (var i = 0u; i < 4u; i++) {
        let row = r0 + tile_row(li, i);
        if row >= R {
            continue;
        }
        for (var j = 0u; j < 4u; j++) {
            let col = n0 + tile_col(li, j);
            if col < N {
                partial[(split * R + row) * N + col] = acc[i * 4u + j];
            }
        }
    }
}
