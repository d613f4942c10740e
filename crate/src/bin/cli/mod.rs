mod args;
mod bench;
mod bench_cpu;
mod bench_model;
mod commands;
mod tools;

pub use commands::run;
