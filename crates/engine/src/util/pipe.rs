//! Lets a closed stdout end the process quietly (`wgnn data list | head`), as it does other Unix
//! tools. Rust ignores SIGPIPE, so without this `println!` panics on the broken pipe.

/// Restores SIGPIPE's default action. Call once from `main`, not for a server: one that
/// writes to sockets must keep the signal ignored (std's sockets ask for no signal, but a
/// dependency's might not).
pub fn exit_on_broken_pipe() {
    #[cfg(unix)]
    {
        // 13 on Linux, macOS and the BSDs.
        const SIGPIPE: i32 = 13;
        const SIG_DFL: usize = 0;
        extern "C" {
            fn signal(sig: i32, handler: usize) -> usize;
        }
        // SAFETY: installing the default disposition for one signal has no memory effects.
        unsafe {
            signal(SIGPIPE, SIG_DFL);
        }
    }
}
