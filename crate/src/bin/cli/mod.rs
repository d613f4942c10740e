mod args;
mod commands;

pub use commands::run;
