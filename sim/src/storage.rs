//! The storage systems of a run and the chain of jobs that writes each: one `dfs` by default, or
//! with `[storage] dual = true` two (`dfs-a` primary, `dfs-b` secondary), each with its own DWD
//! and DWS jobs reading the same TT. Hosts, fault targets and checkers all ask here which hosts
//! exist, so single-storage runs keep their host names (and traces) unchanged.

use crate::scenario::Scenario;

/// One storage system and the jobs that write its tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chain {
    /// The storage host: `dfs`, `dfs-a` or `dfs-b`.
    pub storage: &'static str,
    /// The host (and job name) of the ODS→DWD job writing this storage.
    pub dwd_job: &'static str,
    /// The host (and job name) of the DWD→DWS job writing this storage.
    pub dws_job: &'static str,
}

/// The single storage system of a default run.
pub const SINGLE: Chain = Chain {
    storage: "dfs",
    dwd_job: "dwd-job",
    dws_job: "dws-job",
};
/// Dual storage: the primary, written by the usual jobs.
pub const PRIMARY: Chain = Chain {
    storage: "dfs-a",
    dwd_job: "dwd-job",
    dws_job: "dws-job",
};
/// Dual storage: the secondary, written by its own jobs.
pub const SECONDARY: Chain = Chain {
    storage: "dfs-b",
    dwd_job: "dwd-job-b",
    dws_job: "dws-job-b",
};

impl Chain {
    /// Whether `host` is one of this chain's jobs.
    pub fn runs_job(&self, host: &str) -> bool {
        host == self.dwd_job || host == self.dws_job
    }
}

/// The chains of a scenario: `[SINGLE]`, or `[PRIMARY, SECONDARY]` with dual storage.
pub fn chains(scenario: &Scenario) -> &'static [Chain] {
    if scenario.storage.dual {
        &[PRIMARY, SECONDARY]
    } else {
        &[SINGLE]
    }
}

/// The chain whose job or storage host is `host`, if any.
pub fn chain_of_host(scenario: &Scenario, host: &str) -> Option<Chain> {
    chains(scenario)
        .iter()
        .copied()
        .find(|c| c.storage == host || c.runs_job(host))
}

/// Hosts a fault of some kind may hit, for one scenario's world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultTargets {
    /// Every host of the world (`compactor` only when `[jobs.compactor]` is set).
    pub hosts: Vec<&'static str>,
    pub crashable: Vec<&'static str>,
    /// Hosts with a disk that storage faults can hit.
    pub disks: Vec<&'static str>,
    /// Hosts that read the clock port.
    pub skewable: Vec<&'static str>,
    /// Links a random partition may cut: job ↔ storage, TT ↔ job, serving ↔ storage.
    pub links: Vec<(&'static str, &'static str)>,
}

impl FaultTargets {
    pub fn of(scenario: &Scenario) -> Self {
        let mut targets = Self {
            hosts: vec!["tt"],
            crashable: Vec::new(),
            disks: Vec::new(),
            skewable: Vec::new(),
            links: Vec::new(),
        };
        for chain in chains(scenario) {
            targets.hosts.extend([chain.dwd_job, chain.dws_job]);
            targets.crashable.extend([chain.dwd_job, chain.dws_job]);
            targets.skewable.extend([chain.dwd_job, chain.dws_job]);
            targets.links.extend([
                (chain.dwd_job, chain.storage),
                (chain.dws_job, chain.storage),
                ("tt", chain.dwd_job),
            ]);
        }
        targets.links.push(("tt", "traffic"));
        targets.crashable.push("tt");
        for chain in chains(scenario) {
            targets.hosts.push(chain.storage);
            targets.crashable.push(chain.storage);
            targets.disks.push(chain.storage);
            targets.links.push(("serving", chain.storage));
        }
        targets.disks.push("tt");
        targets.hosts.extend(["serving", "traffic"]);
        targets.crashable.push("serving");
        targets.skewable.push("serving");
        if scenario.jobs.compactor.is_some() {
            targets.hosts.push("compactor");
            targets.crashable.push("compactor");
            targets.links.push(("compactor", "dfs"));
        }
        targets
    }

    /// Why `host` is not one of `allowed`, naming the dual hosts when `dfs` was meant.
    pub fn explain_unknown(scenario: &Scenario, host: &str, allowed: &[&str]) -> String {
        if scenario.storage.dual && host == "dfs" {
            return format!(
                "there is no host `dfs` with [storage] dual = true: name the primary `dfs-a` or the secondary `dfs-b`; hosts: {}",
                allowed.join(", ")
            );
        }
        if !scenario.storage.dual && ["dfs-a", "dfs-b", "dwd-job-b", "dws-job-b"].contains(&host) {
            return format!(
                "host `{host}` exists only with [storage] dual = true; this world has: {}",
                allowed.join(", ")
            );
        }
        format!("unknown host `{host}`; hosts: {}", allowed.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(dual: bool) -> Scenario {
        let text = format!(
            "name = \"t\"\n[run]\nchaos = \"10s\"\nliveness = \"10s\"\n[traffic]\nbaseline_events_per_s = 10\n[storage]\ndual = {dual}\n"
        );
        Scenario::parse(&text, "t.toml").unwrap()
    }

    #[test]
    fn single_storage_keeps_the_old_hosts() {
        let targets = FaultTargets::of(&scenario(false));
        assert_eq!(
            targets.crashable,
            ["dwd-job", "dws-job", "tt", "dfs", "serving"]
        );
        assert_eq!(targets.disks, ["dfs", "tt"]);
        assert_eq!(
            targets.links,
            [
                ("dwd-job", "dfs"),
                ("dws-job", "dfs"),
                ("tt", "dwd-job"),
                ("tt", "traffic"),
                ("serving", "dfs")
            ]
        );
    }

    #[test]
    fn dual_storage_has_two_chains_and_no_dfs() {
        let dual = scenario(true);
        assert_eq!(chains(&dual), [PRIMARY, SECONDARY]);
        let targets = FaultTargets::of(&dual);
        assert!(!targets.hosts.contains(&"dfs"));
        for host in ["dfs-a", "dfs-b", "dwd-job-b", "dws-job-b"] {
            assert!(targets.crashable.contains(&host), "{host}");
        }
        assert_eq!(targets.disks, ["dfs-a", "dfs-b", "tt"]);
        assert!(targets.links.contains(&("dws-job-b", "dfs-b")));
        assert_eq!(chain_of_host(&dual, "dws-job-b"), Some(SECONDARY));
        assert_eq!(chain_of_host(&dual, "dfs-a"), Some(PRIMARY));
    }
}
