//! Faults: the schedules a scenario declares or the seed draws (swarm), and their injection into
//! the running world.

pub mod inject;
pub mod random;
pub mod schedule;
pub mod swarm;
