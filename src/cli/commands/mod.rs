//! One module per command: its arguments (their doc comments are the help) and its function.

pub mod apply;
pub mod check;
pub mod commit;
pub mod completions;
pub mod connectivity;
pub mod diff;
pub mod graph;
pub mod init;
pub mod render;
pub mod review;
pub mod validate;
pub mod verify;
mod verify_live;
