// Included by every shader with 1-D kernels: their workgroup size, a pipeline constant that the
// host sets per adapter (src/runtime/config.rs) and reads back to size grids, so it is written
// once. Every kernel sized by WG is correct for any power of two; 256 is the default.
// Convention for every 1-D kernel: i = gid.x + gid.y * nwg.x * WG (grids fold into y past 65,535).
override WG: u32 = 256u;

// The flat index of a 1-D kernel's invocation, by that convention.
fn index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}
