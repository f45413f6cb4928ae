//! Many runs and their results: seed sweeps for CI, shrinking a failing run, the incident library.

pub mod incident;
pub mod shrink;
pub mod sweep;
