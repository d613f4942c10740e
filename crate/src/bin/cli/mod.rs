mod args;
mod bench;
mod commands;

pub use commands::run;
