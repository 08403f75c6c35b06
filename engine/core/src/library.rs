//! What the allocator library says of itself: its version and build
//! options, read through its own introspection API (jemalloc's `mallctl`,
//! `mi_version`, gperftools' `tc_version`, glibc's version call).
//!
//! A crate allocator's binary passes the function that asks its statically
//! linked library; the system binary asks whatever library `malloc`
//! resolves to, found with `dlsym`, so an `LD_PRELOAD` allocator describes
//! itself. Facts a library only prints (mimalloc's secure level, oneTBB's
//! banner) are left to the harness, which starts `--library` with the
//! environment that asks for them.

use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, c_void, CStr, CString};

use serde::{Deserialize, Serialize};

/// A library's own account of itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Library {
    /// The library's name (`jemalloc`, `mimalloc`, `glibc`, ...).
    pub name: String,
    /// Its version as the library reports it.
    pub version: String,
    /// Build options and settings it reports, by its own names.
    pub config: BTreeMap<String, String>,
}

/// How a binary finds its allocator library's description.
pub type Describe = fn() -> Option<Library>;

/// No library to ask (a Rust allocator: its crate version says it all).
pub fn none() -> Option<Library> {
    None
}

/// jemalloc's `mallctl`.
pub type Mallctl = unsafe extern "C" fn(*const c_char, *mut c_void, *mut usize, *mut c_void, usize) -> c_int;

#[derive(Clone, Copy)]
enum Kind {
    Text,
    Flag,
    Unsigned,
    Signed,
    Size,
}

/// The `mallctl` names reported, with their C types: the build's
/// configuration, then the options that decide when memory goes back to
/// the OS and how threads share arenas.
const JEMALLOC_KEYS: [(&str, Kind); 16] = [
    ("config.debug", Kind::Flag),
    ("config.fill", Kind::Flag),
    ("config.prof", Kind::Flag),
    ("config.stats", Kind::Flag),
    ("config.malloc_conf", Kind::Text),
    ("opt.narenas", Kind::Unsigned),
    ("opt.percpu_arena", Kind::Text),
    ("opt.tcache", Kind::Flag),
    ("opt.background_thread", Kind::Flag),
    ("opt.dirty_decay_ms", Kind::Signed),
    ("opt.muzzy_decay_ms", Kind::Signed),
    ("opt.retain", Kind::Flag),
    ("opt.thp", Kind::Text),
    ("opt.zero", Kind::Flag),
    ("opt.junk", Kind::Text),
    ("arenas.page", Kind::Size),
];

/// jemalloc, asked through `mallctl` (the crate's prefixed one, or a
/// preloaded library's).
pub fn jemalloc(mallctl: Mallctl) -> Library {
    // SAFETY (both closures): each name is read with the C type jemalloc
    // declares for it, into a buffer of that type's size; a name the build
    // lacks fails with an error code and is skipped.
    let read = |name: &str, size: usize, out: *mut c_void| {
        let name = CString::new(name).expect("static names have no NUL");
        let mut len = size;
        unsafe { mallctl(name.as_ptr(), out, &mut len, std::ptr::null_mut(), 0) == 0 && len == size }
    };
    let text = |name: &str| {
        let mut p: *const c_char = std::ptr::null();
        let ok = read(name, std::mem::size_of::<*const c_char>(), (&mut p as *mut *const c_char).cast());
        (ok && !p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    };
    let mut config = BTreeMap::new();
    for (name, kind) in JEMALLOC_KEYS {
        let value = match kind {
            Kind::Text => text(name),
            Kind::Flag => {
                // a C bool is one byte; read as a byte so that no value is ever an invalid Rust bool
                let mut v: u8 = 0;
                read(name, 1, (&mut v as *mut u8).cast()).then(|| (v != 0).to_string())
            }
            Kind::Unsigned => {
                let mut v: std::ffi::c_uint = 0;
                read(name, std::mem::size_of::<std::ffi::c_uint>(), (&mut v as *mut std::ffi::c_uint).cast())
                    .then(|| v.to_string())
            }
            Kind::Signed => {
                let mut v: isize = 0;
                read(name, std::mem::size_of::<isize>(), (&mut v as *mut isize).cast()).then(|| v.to_string())
            }
            Kind::Size => {
                let mut v: usize = 0;
                read(name, std::mem::size_of::<usize>(), (&mut v as *mut usize).cast()).then(|| v.to_string())
            }
        };
        if let Some(value) = value {
            config.insert(name.to_string(), value);
        }
    }
    let version = text("version").unwrap_or_else(|| "unknown".into());
    Library { name: "jemalloc".into(), version, config }
}

/// mimalloc's `mi_version`: major * 10000 + minor * 100 + patch in recent
/// releases (3.3.2 is 30302, 2.3.2 is 20302), major * 100 + minor * 10 +
/// patch in older ones (2.0.9 is 209).
pub fn mimalloc(mi_version: unsafe extern "C" fn() -> c_int) -> Library {
    // SAFETY: mi_version takes nothing and returns a constant.
    let v = unsafe { mi_version() };
    let version = if v >= 10_000 {
        format!("{}.{}.{}", v / 10_000, v / 100 % 100, v % 100)
    } else {
        format!("{}.{}.{}", v / 100, v / 10 % 10, v % 10)
    };
    Library { name: "mimalloc".into(), version, config: BTreeMap::new() }
}

#[cfg(target_os = "linux")]
mod loaded {
    use super::*;

    /// gperftools' `tc_version`.
    type TcVersion = unsafe extern "C" fn(*mut c_int, *mut c_int, *mut *const c_char) -> *const c_char;
    /// gperftools' `MallocExtension_GetNumericProperty`.
    type NumericProperty = unsafe extern "C" fn(*const c_char, *mut usize) -> c_int;

    /// gperftools' properties reported: the thread caches' total bound and
    /// whether freed spans go back to the OS at once.
    const TCMALLOC_PROPERTIES: [&str; 2] =
        ["tcmalloc.max_total_thread_cache_bytes", "tcmalloc.aggressive_memory_decommit"];

    /// `name` in the object `malloc` resolves to and the objects it depends
    /// on (a proxy's library), or among all loaded objects when that object
    /// cannot be named (a static engine).
    fn symbol(name: &str) -> Option<*mut c_void> {
        let name = CString::new(name).expect("static names have no NUL");
        let object = malloc_from().and_then(|file| CString::new(file).ok());
        // SAFETY: RTLD_NOLOAD only returns a handle to an object already
        // loaded (it loads nothing); dlsym only looks the name up; the
        // handle's reference is given back with dlclose.
        unsafe {
            let handle = object
                .map_or(std::ptr::null_mut(), |file| libc::dlopen(file.as_ptr(), libc::RTLD_LAZY | libc::RTLD_NOLOAD));
            let p = libc::dlsym(if handle.is_null() { libc::RTLD_DEFAULT } else { handle }, name.as_ptr());
            if !handle.is_null() {
                libc::dlclose(handle);
            }
            (!p.is_null()).then_some(p)
        }
    }

    fn tcmalloc(tc_version: TcVersion) -> Library {
        let (mut major, mut minor, mut patch) = (0, 0, std::ptr::null());
        // SAFETY: tc_version fills the three outputs and returns a static string.
        let text = unsafe { tc_version(&mut major, &mut minor, &mut patch) };
        let version = if text.is_null() {
            format!("{major}.{minor}")
        } else {
            // SAFETY: NUL-terminated, owned by the library.
            unsafe { CStr::from_ptr(text) }.to_string_lossy().into_owned()
        };
        let mut config = BTreeMap::new();
        if let Some(p) = symbol("MallocExtension_GetNumericProperty") {
            // SAFETY: the symbol is gperftools' C entry point of this type.
            let get: NumericProperty = unsafe { std::mem::transmute(p) };
            for name in TCMALLOC_PROPERTIES {
                let (key, mut value) = (CString::new(name).expect("no NUL"), 0usize);
                // SAFETY: reads one numeric property into `value`.
                if unsafe { get(key.as_ptr(), &mut value) } != 0 {
                    config.insert(name.to_string(), value.to_string());
                }
            }
        }
        Library { name: "tcmalloc".into(), version, config }
    }

    /// glibc's version and the tunables this process was given.
    pub fn glibc() -> Library {
        #[cfg(target_env = "gnu")]
        // SAFETY: returns a static NUL-terminated string.
        let version = unsafe { CStr::from_ptr(libc::gnu_get_libc_version()) }.to_string_lossy().into_owned();
        #[cfg(not(target_env = "gnu"))]
        let version = String::from("unknown");
        let mut config = BTreeMap::new();
        if let Ok(tunables) = std::env::var("GLIBC_TUNABLES") {
            config.insert("GLIBC_TUNABLES".into(), tunables);
        }
        Library { name: "glibc".into(), version, config }
    }

    /// The library `malloc` resolves to, asked through the first
    /// introspection entry point found among the loaded objects.
    pub fn loaded() -> Option<Library> {
        if let Some(p) = symbol("mallctl") {
            // SAFETY: jemalloc's unprefixed mallctl has this type.
            return Some(jemalloc(unsafe { std::mem::transmute::<*mut c_void, Mallctl>(p) }));
        }
        if let Some(p) = symbol("mi_version") {
            // SAFETY: mimalloc's mi_version takes nothing and returns an int.
            return Some(mimalloc(unsafe { std::mem::transmute::<*mut c_void, unsafe extern "C" fn() -> c_int>(p) }));
        }
        if let Some(p) = symbol("tc_version") {
            // SAFETY: gperftools' tc_version has this type.
            return Some(tcmalloc(unsafe { std::mem::transmute::<*mut c_void, TcVersion>(p) }));
        }
        if symbol("scalable_malloc").is_some() {
            return Some(Library { name: "tbbmalloc".into(), version: "unknown".into(), config: BTreeMap::new() });
        }
        match malloc_from() {
            Some(file) if !file.contains("libc.so") => Some(Library {
                name: file.rsplit('/').next().unwrap_or(&file).to_string(),
                version: "unknown".into(),
                config: BTreeMap::new(),
            }),
            _ => Some(glibc()),
        }
    }

    /// The file of the shared object that `malloc` resolves to.
    pub fn malloc_from() -> Option<String> {
        let mut info = std::mem::MaybeUninit::<libc::Dl_info>::zeroed();
        // SAFETY: dladdr only reads the address and fills `info`.
        let found = unsafe { libc::dladdr(libc::malloc as *const c_void, info.as_mut_ptr()) };
        // SAFETY: initialised (zeroed, then filled on success).
        let info = unsafe { info.assume_init() };
        if found == 0 || info.dli_fname.is_null() {
            return None;
        }
        // SAFETY: dladdr's file name is a NUL-terminated string owned by the loader.
        Some(unsafe { CStr::from_ptr(info.dli_fname) }.to_string_lossy().into_owned())
    }
}

#[cfg(target_os = "linux")]
pub use loaded::{glibc, loaded, malloc_from};

/// Elsewhere (Hermit) the system allocator is the kernel's heap, which has
/// no introspection.
#[cfg(not(target_os = "linux"))]
pub fn loaded() -> Option<Library> {
    None
}

/// The file of the shared object `malloc` resolves to: unknown here.
#[cfg(not(target_os = "linux"))]
pub fn malloc_from() -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe extern "C" fn v209() -> c_int {
        209
    }
    unsafe extern "C" fn v30302() -> c_int {
        30302
    }

    #[test]
    fn mimalloc_versions_decode_in_both_schemes() {
        assert_eq!(mimalloc(v209).version, "2.0.9");
        assert_eq!(mimalloc(v30302).version, "3.3.2");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_test_binary_reports_glibc() {
        let lib = loaded().expect("linux reports a library");
        assert_eq!(lib.name, "glibc");
        assert!(lib.version.starts_with("2."), "{}", lib.version);
    }
}
