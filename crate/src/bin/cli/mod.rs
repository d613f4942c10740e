mod args;
mod bench;
mod bench_model;
mod commands;

pub use commands::run;
