//! A region of a log file mapped into memory, read in place instead of copied out of
//! the page cache (the copy was a tenth of an ingest's CPU, see BENCHMARKS.md), and
//! guarded against the file being truncated while it is read.
//!
//! Reading a mapped page that a truncation removed raises SIGBUS, which would kill the
//! process (logrotate's `copytruncate` does exactly that to a log being read). While a
//! region is mapped it is registered with a SIGBUS handler: a fault inside it replaces
//! the whole region with zero pages (so the read that faulted, and every later one,
//! sees zeros) and marks the region truncated; a fault anywhere else goes on to the
//! handler that was there before (Rust's stack-overflow handler, then the default).
//! Zeros are not JSON, so what was lost reads as malformed lines, which the reader
//! drops once [`Mapped::truncated`] says why.
//!
//! This is the only `unsafe` code in Leaver. What it relies on: the log is only ever
//! appended to or truncated (an audit device does not rewrite bytes in place); the
//! region stays mapped while any slice of it is alive (`bytes` borrows `self`); and the
//! handler only reads atomics and calls `mmap`, a system call safe in a signal handler.
//! Only Linux maps; elsewhere [`Mapped::map`] answers `None` and the log is read.

use std::fs::File;

/// A mapped, guarded region of a file.
pub struct Mapped {
    #[cfg(target_os = "linux")]
    inner: linux::Region,
}

impl Mapped {
    /// Map `len` bytes of `file` from `offset` (which must be within the file).
    /// `None` when the region cannot be mapped and guarded (not Linux, a file system
    /// that does not map files, or as many regions mapped as there are guards): read
    /// the file instead.
    pub fn map(file: &File, offset: u64, len: usize) -> Option<Self> {
        #[cfg(target_os = "linux")]
        {
            linux::Region::map(file, offset, len).map(|inner| Self { inner })
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (file, offset, len);
            None
        }
    }

    /// The region's bytes (zeros from where a truncation took them).
    pub fn bytes(&self) -> &[u8] {
        #[cfg(target_os = "linux")]
        {
            self.inner.bytes()
        }
        #[cfg(not(target_os = "linux"))]
        {
            &[]
        }
    }

    /// A read of the region found a page the file no longer has: the file was
    /// truncated while mapped, and what was read after that is zeros.
    pub fn truncated(&self) -> bool {
        #[cfg(target_os = "linux")]
        {
            self.inner.truncated()
        }
        #[cfg(not(target_os = "linux"))]
        {
            false
        }
    }
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod linux {
    use std::fs::File;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::OnceLock;

    /// Regions mapped at once, at most (one per log being ingested; more are read).
    const GUARDS: usize = 16;

    /// A registered region: page-aligned start (0 when the guard is free) and length.
    struct Guard {
        start: AtomicUsize,
        len: AtomicUsize,
        tripped: AtomicBool,
        taken: AtomicBool,
    }

    #[allow(clippy::declare_interior_mutable_const)]
    const FREE: Guard = Guard {
        start: AtomicUsize::new(0),
        len: AtomicUsize::new(0),
        tripped: AtomicBool::new(false),
        taken: AtomicBool::new(false),
    };
    static GUARDS_IN_USE: [Guard; GUARDS] = [FREE; GUARDS];

    /// The SIGBUS action before ours, called for faults outside every region.
    static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();
    /// Whether our handler is installed (the result of installing it, once).
    static INSTALLED: OnceLock<bool> = OnceLock::new();

    pub struct Region {
        map: memmap2::Mmap,
        guard: usize,
    }

    impl Region {
        pub fn map(file: &File, offset: u64, len: usize) -> Option<Self> {
            if len == 0 || !*INSTALLED.get_or_init(install) {
                return None;
            }
            let guard = take_guard()?;
            // SAFETY: the file is a log only ever appended to or truncated; a
            // truncation while mapped is caught by the guard registered below before
            // any byte is read (see the module's comment).
            let map = match unsafe {
                memmap2::MmapOptions::new()
                    .offset(offset)
                    .len(len)
                    .map(file)
            } {
                Ok(map) => map,
                Err(_) => {
                    release_guard(guard);
                    return None;
                }
            };
            let _ = map.advise(memmap2::Advice::Sequential);
            let page = page_size();
            let start = map.as_ptr() as usize & !(page - 1);
            let end = (map.as_ptr() as usize + map.len()).next_multiple_of(page);
            let slot = &GUARDS_IN_USE[guard];
            slot.tripped.store(false, Ordering::Relaxed);
            slot.len.store(end - start, Ordering::Relaxed);
            slot.start.store(start, Ordering::Release);
            Some(Self { map, guard })
        }

        pub fn bytes(&self) -> &[u8] {
            &self.map
        }

        pub fn truncated(&self) -> bool {
            GUARDS_IN_USE[self.guard].tripped.load(Ordering::Acquire)
        }
    }

    impl Drop for Region {
        /// The guard is released before the map is unmapped (the fields drop after
        /// this): no read of the region is possible by then.
        fn drop(&mut self) {
            release_guard(self.guard);
        }
    }

    fn take_guard() -> Option<usize> {
        GUARDS_IN_USE.iter().position(|guard| {
            guard
                .taken
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })
    }

    fn release_guard(index: usize) {
        let guard = &GUARDS_IN_USE[index];
        guard.start.store(0, Ordering::Release);
        guard.taken.store(false, Ordering::Release);
    }

    fn page_size() -> usize {
        // SAFETY: sysconf has no preconditions.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(size).unwrap_or(4096).max(4096)
    }

    /// Install the SIGBUS handler, keeping the action it replaces; false when the
    /// system refused (regions are then not mapped).
    fn install() -> bool {
        // SAFETY: sigaction with a zeroed struct (a valid "no action") filled in
        // below; the handler only touches atomics and calls mmap.
        unsafe {
            let mut previous: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut previous) != 0 {
                return false;
            }
            if PREVIOUS.set(previous).is_err() {
                return false;
            }
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigbus as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut()) == 0
        }
    }

    extern "C" fn on_sigbus(
        signal: libc::c_int,
        info: *mut libc::siginfo_t,
        context: *mut libc::c_void,
    ) {
        // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
        let address = unsafe { (*info).si_addr() } as usize;
        for guard in &GUARDS_IN_USE {
            let start = guard.start.load(Ordering::Acquire);
            let len = guard.len.load(Ordering::Acquire);
            if start == 0 || address < start || address - start >= len {
                continue;
            }
            // SAFETY: [start, start + len) is a mapping of ours, alive while its
            // guard is registered; zero pages replace it in one call.
            let zeros = unsafe {
                libc::mmap(
                    start as *mut libc::c_void,
                    len,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if zeros as usize == start {
                guard.tripped.store(true, Ordering::Release);
                return;
            }
        }
        chain(signal, info, context);
    }

    /// Hand a fault that is not ours to the action that was there before; with none,
    /// restore the default so that the faulting read, run again, ends the process.
    fn chain(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
        let previous = PREVIOUS.get();
        // SAFETY: `previous` is the action the system gave us; a handler taking
        // siginfo is called with what we were given, a plain one with the signal.
        unsafe {
            match previous {
                Some(p) if p.sa_flags & libc::SA_SIGINFO != 0 && p.sa_sigaction > 1 => {
                    let handler: extern "C" fn(
                        libc::c_int,
                        *mut libc::siginfo_t,
                        *mut libc::c_void,
                    ) = std::mem::transmute(p.sa_sigaction);
                    handler(signal, info, context);
                }
                Some(p) if p.sa_sigaction > 1 => {
                    let handler: extern "C" fn(libc::c_int) = std::mem::transmute(p.sa_sigaction);
                    handler(signal);
                }
                _ => {
                    let mut default: libc::sigaction = std::mem::zeroed();
                    default.sa_sigaction = libc::SIG_DFL;
                    libc::sigaction(signal, &default, std::ptr::null_mut());
                }
            }
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_region_reads_the_file_in_place() {
        let mut file = tempfile::tempfile().unwrap();
        let text: Vec<u8> = (0..20_000u32).map(|n| b'a' + (n % 26) as u8).collect();
        file.write_all(&text).unwrap();
        // An offset that is not page-aligned, a length short of the end.
        let mapped = Mapped::map(&file, 5_000, 12_000).unwrap();
        assert_eq!(mapped.bytes(), &text[5_000..17_000]);
        assert!(!mapped.truncated());
    }

    #[test]
    fn a_truncation_while_mapped_reads_as_zeros_and_is_reported() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&vec![b'x'; 64 * 1024]).unwrap();
        let mapped = Mapped::map(&file, 0, 64 * 1024).unwrap();
        assert_eq!(mapped.bytes()[100], b'x');
        // copytruncate: the file loses its pages while they are mapped. Without the
        // guard, the reads below would kill the test process with SIGBUS.
        file.set_len(0).unwrap();
        let bytes = mapped.bytes();
        let nonzero = bytes.iter().filter(|b| **b != 0).count();
        assert_eq!(nonzero, 0, "every page past the end reads as zeros");
        assert!(mapped.truncated());

        // The guard is free again once the region is dropped, and a new region of
        // the same (now longer) file reads it.
        drop(mapped);
        std::io::Seek::rewind(&mut file).unwrap();
        file.write_all(b"fresh").unwrap();
        let again = Mapped::map(&file, 0, 5).unwrap();
        assert_eq!(again.bytes(), b"fresh");
        assert!(!again.truncated());
    }

    #[test]
    fn regions_beyond_the_guards_are_not_mapped() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&[b'y'; 4096]).unwrap();
        // Other tests may hold a guard or two at the same time: map until refused.
        let mut held = Vec::new();
        while let Some(region) = Mapped::map(&file, 0, 4096) {
            held.push(region);
            assert!(held.len() <= 16, "at most 16 regions are guarded");
        }
        assert!(!held.is_empty());
        drop(held);
        assert!(Mapped::map(&file, 0, 4096).is_some());
    }
}
