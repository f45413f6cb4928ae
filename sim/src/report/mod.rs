//! What a run tells its readers: the summary, the capacity report, the Perfetto trace and the
//! artefacts written under `--out`.

pub mod artefacts;
pub mod capacity;
pub mod perfetto;
pub mod pipeline;
pub mod resources;
pub mod summary;
pub mod svg;
