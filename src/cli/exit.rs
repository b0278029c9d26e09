//! The exit codes of `maximus-sim`, one table (after sysexits.h).
//!
//! | code | name                  | meaning                                                     |
//! |-----:|-----------------------|-------------------------------------------------------------|
//! |    0 | `OK`                  | success                                                     |
//! |    1 | `EXPECTATIONS_FAILED` | the run worked but a scenario expectation failed            |
//! |    2 | `USAGE`               | bad command line (clap prints the usage)                    |
//! |   65 | `DATA_ERR`            | invalid input data: corrupt capture, not a capture, bad scenario |
//! |   66 | `NO_INPUT`            | an input file is missing or cannot be opened                |
//! |   70 | `INTERNAL`            | internal error: a bug (a panic); please report it           |
//! |   74 | `IO_ERR`              | an I/O error reading input or writing output                |

pub const OK: i32 = 0;
pub const EXPECTATIONS_FAILED: i32 = 1;
pub const USAGE: i32 = 2;
pub const DATA_ERR: i32 = 65;
pub const NO_INPUT: i32 = 66;
pub const INTERNAL: i32 = 70;
pub const IO_ERR: i32 = 74;
