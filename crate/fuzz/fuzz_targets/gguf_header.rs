//! Arbitrary bytes through the GGUF header reader, whole and as a prefix grown on `NeedBytes` (as
//! the browser loads a model). Neither may panic, and a prefix must end with the whole file's answer.
#![no_main]

use gguf_web::gguf::{Gguf, GgufError, PrefixSource};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let whole = Gguf::read(&data.to_vec());
    let total_len = data.len() as u64;
    for start in [0, data.len() / 3, data.len() * 2 / 3] {
        let mut loaded = start;
        let prefixed = loop {
            match Gguf::read(&PrefixSource { prefix: &data[..loaded], total_len }) {
                Err(GgufError::NeedBytes { end }) => {
                    assert!(end > loaded as u64 && end <= total_len, "NeedBytes {end} with {loaded} loaded");
                    loaded = end as usize;
                }
                r => break r,
            }
        };
        // Debug rather than PartialEq: NaN metadata values are equal to themselves there.
        match (&whole, &prefixed) {
            (Ok(a), Ok(b)) => assert_eq!(
                format!("{:?}", (&a.metadata, &a.tensors, a.data_offset)),
                format!("{:?}", (&b.metadata, &b.tensors, b.data_offset))
            ),
            (Err(a), Err(b)) => assert_eq!(a, b),
            _ => panic!("whole file: {whole:?}, prefix from {start}: {prefixed:?}"),
        }
    }
});
