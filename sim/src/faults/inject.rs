//! Injects a fault action into the running world: crashes, restarts and links through turmoil,
//! clock skews and disk faults through the world's fault state.

use std::time::Duration;

use crate::faults::schedule::FaultAction;
use crate::world::World;

pub fn apply(sim: &mut turmoil::Sim<'_>, world: &World, action: &FaultAction) {
    let default_max_latency =
        Duration::from_millis(world.scenario.run.network_latency_max.0 as u64);
    match action {
        FaultAction::Crash(host) => sim.crash(host.as_str()),
        FaultAction::Restart(host) => sim.bounce(host.as_str()),
        FaultAction::Partition(a, b) => sim.partition(a.as_str(), b.as_str()),
        FaultAction::Heal(a, b) => sim.repair(a.as_str(), b.as_str()),
        FaultAction::PartitionOneway(from, to) => sim.partition_oneway(from.as_str(), to.as_str()),
        FaultAction::HealOneway(from, to) => sim.repair_oneway(from.as_str(), to.as_str()),
        FaultAction::Latency(a, b, ms) => sim.set_link_max_message_latency(
            a.as_str(),
            b.as_str(),
            Duration::from_millis(*ms as u64).max(default_max_latency),
        ),
        FaultAction::LatencyEnd(a, b) => {
            sim.set_link_max_message_latency(a.as_str(), b.as_str(), default_max_latency)
        }
        FaultAction::ClockSkew(host, ms) => {
            world
                .faults
                .clock_skews
                .borrow_mut()
                .insert(host.clone(), *ms);
        }
        FaultAction::ClockSkewEnd(host) => {
            world.faults.clock_skews.borrow_mut().remove(host);
        }
        FaultAction::Disk(host, fault) => {
            world
                .faults
                .disk_faults
                .borrow_mut()
                .insert(host.clone(), *fault);
        }
        FaultAction::DiskHeal(host) => {
            world.faults.disk_faults.borrow_mut().remove(host);
        }
    }
}
