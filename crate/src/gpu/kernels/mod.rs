//! One module per kernel family: its pipeline key, parameters, launcher and conformance test.

pub mod elementwise;
pub mod matvec;
