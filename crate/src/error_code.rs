//! The one list of error codes an app sees. Every typed error of the core maps to one of these
//! (the [`Coded`] trait); the JS package rebuilds each code as its own error class. The list is
//! written into `pkg/src/codes.js` and the `ErrorCode` union of `pkg/index.d.ts` by the test below
//! (`UPDATE_CODES=1 cargo test -p gguf-web error_code` rewrites both), so Rust and JS cannot drift.

use std::fmt;

macro_rules! codes {
    ($($(#[doc = $doc:literal])* $name:ident),* $(,)?) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $name,)*
        }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => stringify!($name),)*
                }
            }

            /// One line per code for the generated JS docs: the doc comment's text.
            pub fn doc(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => concat!($($doc),*).trim_ascii(),)*
                }
            }
        }
    };
}

codes! {
    /// The browser exposes no WebGPU, or no adapter could be had.
    WebGPUUnavailable,
    /// The adapter's limits are below what the model needs.
    AdapterTooSmall,
    /// The GPU device was lost (driver reset, tab in the background too long); load again.
    DeviceLost,
    /// The GPU refused or failed an operation (validation, out of memory, a failed read-back).
    GPUError,
    /// The file is not a valid GGUF, or its contents contradict each other.
    InvalidGGUF,
    /// The model's architecture is not supported.
    UnsupportedArchitecture,
    /// A tensor's quantization type is not supported.
    UnsupportedQuantType,
    /// The download failed (HTTP status, CORS, lost connection, a short response).
    NetworkError,
    /// The downloaded bytes do not match the expected sha256.
    IntegrityError,
    /// The model's chat template failed, or exceeded its budget of work or output.
    TemplateError,
    /// The prompt (with the requested tokens) does not fit the context.
    ContextFull,
    /// A request or option is invalid (the message names it).
    InvalidArgument,
    /// The call does not fit the engine's state (no generation begun, the engine unloaded).
    InvalidState,
    /// Another call holds the model; await it first.
    Busy,
    /// The caller aborted.
    Aborted,
    /// A bug in gguf-web; please report it.
    Internal,
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error that knows its code.
pub trait Coded {
    fn code(&self) -> ErrorCode;
}

/// `pkg/src/codes.js` as the list makes it.
pub fn codes_js() -> String {
    let mut s = String::from(
        "// Generated from crate/src/error_code.rs (UPDATE_CODES=1 cargo test -p gguf-web error_code); do not edit.\n\
         export const ERROR_CODES = Object.freeze([\n",
    );
    for c in ErrorCode::ALL {
        s += &format!("  '{}', // {}\n", c.as_str(), c.doc());
    }
    s + "]);\n"
}

/// The `ErrorCode` union of `pkg/index.d.ts`, between its markers.
pub fn codes_d_ts() -> String {
    let mut s = String::from("export type ErrorCode =\n");
    for c in ErrorCode::ALL {
        s += &format!("  /** {} */\n  | '{}'\n", c.doc(), c.as_str());
    }
    s.truncate(s.len() - 1);
    s + ";\n"
}

pub const D_TS_BEGIN: &str = "// BEGIN ERROR CODES (generated from crate/src/error_code.rs; do not edit)\n";
pub const D_TS_END: &str = "// END ERROR CODES\n";

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn pkg(path: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../pkg").join(path)
    }

    /// Compares a generated file with the tree; rewrites it under UPDATE_CODES=1.
    fn check(path: PathBuf, want: String) {
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        if have != want {
            if std::env::var_os("UPDATE_CODES").is_some() {
                std::fs::write(&path, want).unwrap();
            } else {
                panic!(
                    "{} is out of date with crate/src/error_code.rs: run UPDATE_CODES=1 cargo test -p gguf-web error_code",
                    path.display()
                );
            }
        }
    }

    #[test]
    fn error_code_lists_in_js_match() {
        check(pkg("src/codes.js"), codes_js());
        let dts = std::fs::read_to_string(pkg("index.d.ts")).unwrap();
        let (Some(b), Some(e)) = (dts.find(D_TS_BEGIN), dts.find(D_TS_END)) else {
            panic!("pkg/index.d.ts lacks the error-code markers {D_TS_BEGIN:?} ... {D_TS_END:?}");
        };
        let want = format!("{}{}{}{}", &dts[..b + D_TS_BEGIN.len()], codes_d_ts(), D_TS_END, &dts[e + D_TS_END.len()..]);
        check(pkg("index.d.ts"), want);
    }

    #[test]
    fn codes_are_unique() {
        let mut names: Vec<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len());
    }
}
