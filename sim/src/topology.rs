//! Which hosts a world has and how they connect, declared once: the storage systems and the chain
//! of jobs that writes each, the links between hosts, and which hosts each kind of fault can hit.
//! One storage system (`dfs`) by default, or with `[storage] dual = true` two (`dfs-a` primary,
//! `dfs-b` secondary), each with its own DWD and DWS jobs reading the same TT; a dedicated
//! `compactor` only when `[jobs.compactor]` runs one. Scenario validation, the hosts, the fault
//! draws and the checkers all ask here, so single-storage runs keep their host names (and traces).

/// The message queue's host.
pub const TT: &str = "tt";
/// The serving layer's host (reports, BI, budget control).
pub const SERVING: &str = "serving";
/// The ad servers producing ODS events (a turmoil client).
pub const TRAFFIC: &str = "traffic";
/// The dedicated compaction job of `write-only` tables.
pub const COMPACTOR: &str = "compactor";
/// The host that runs maintenance procedures (`remove-orphan-files`).
pub const OPS: &str = "ops";
/// The world itself, in the trace: faults, phases, the end of the run.
pub const WORLD: &str = "world";
/// TT era: the downstream stores, each a host running its own aggregation of the DWD topic into
/// its own storage, in the order `[pipeline] stores` takes them.
pub const STORE_HOSTS: [&str; 3] = ["report-store", "bi-store", "analysis-store"];
/// TT era: the offline batch job (MaxCompute's role) recomputing each period from ODS.
pub const BATCH_JOB: &str = "batch-job";

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

/// Hosts that exist only with dual storage.
const DUAL_ONLY_HOSTS: [&str; 4] = ["dfs-a", "dfs-b", "dwd-job-b", "dws-job-b"];

impl Chain {
    /// Whether `host` is one of this chain's jobs.
    pub fn runs_job(&self, host: &str) -> bool {
        host == self.dwd_job || host == self.dws_job
    }

    /// Whether this is the secondary storage system's chain (dual storage).
    pub fn is_secondary(&self) -> bool {
        *self == SECONDARY
    }
}

/// The shape of one world: the two facts of a scenario that decide which hosts run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Topology {
    /// `[storage] dual = true`: two storage systems, each with its own chain.
    pub dual: bool,
    /// `[jobs.compactor]` is set: a dedicated compaction host runs.
    pub compactor: bool,
    /// `[pipeline] architecture = "tt-era"`: how many downstream stores run (0 in a lakehouse
    /// world). A TT-era world keeps `dfs` (the jobs' checkpoints), TT and the DWD job, and runs
    /// the stores and the batch job instead of the DWS job.
    pub tt_era_stores: u32,
}

impl Topology {
    /// The chains: `[SINGLE]`, or `[PRIMARY, SECONDARY]` with dual storage.
    pub fn chains(&self) -> &'static [Chain] {
        if self.dual {
            &[PRIMARY, SECONDARY]
        } else {
            &[SINGLE]
        }
    }

    /// The chain whose job or storage host is `host`, if any.
    pub fn chain_of_host(&self, host: &str) -> Option<Chain> {
        self.chains()
            .iter()
            .copied()
            .find(|c| c.storage == host || c.runs_job(host))
    }

    /// The jobs that commit to a table (one DWD and one DWS job per chain).
    pub fn committing_jobs(&self) -> Vec<&'static str> {
        self.chains()
            .iter()
            .flat_map(|c| [c.dwd_job, c.dws_job])
            .collect()
    }

    /// Whether this is a TT-era world.
    pub fn is_tt_era(&self) -> bool {
        self.tt_era_stores > 0
    }

    /// TT era: the store hosts that run.
    pub fn stores(&self) -> &'static [&'static str] {
        &STORE_HOSTS[..(self.tt_era_stores as usize).min(STORE_HOSTS.len())]
    }

    /// TT era: every host, in registration order.
    fn tt_era_hosts(&self) -> Vec<&'static str> {
        let mut hosts = vec![TT, SINGLE.dwd_job];
        hosts.extend(self.stores());
        hosts.extend([BATCH_JOB, SINGLE.storage, SERVING, TRAFFIC]);
        hosts
    }

    /// Every host of the world (`compactor` only when one runs).
    pub fn hosts(&self) -> Vec<&'static str> {
        if self.is_tt_era() {
            return self.tt_era_hosts();
        }
        let mut hosts = vec![TT];
        for chain in self.chains() {
            hosts.extend([chain.dwd_job, chain.dws_job]);
        }
        hosts.extend(self.chains().iter().map(|c| c.storage));
        hosts.extend([SERVING, TRAFFIC]);
        if self.compactor {
            hosts.push(COMPACTOR);
        }
        hosts
    }

    /// Hosts a crash may hit. The order is the draw order of random schedules: part of what a
    /// seed draws, so changing it changes every drawn schedule.
    pub fn crashable(&self) -> Vec<&'static str> {
        if self.is_tt_era() {
            let mut hosts = vec![SINGLE.dwd_job];
            hosts.extend(self.stores());
            hosts.extend([BATCH_JOB, TT, SERVING, SINGLE.storage]);
            return hosts;
        }
        let mut hosts = Vec::new();
        for chain in self.chains() {
            hosts.extend([chain.dwd_job, chain.dws_job]);
        }
        hosts.push(TT);
        if self.dual {
            hosts.extend(self.chains().iter().map(|c| c.storage));
            hosts.push(SERVING);
        } else {
            hosts.extend([SERVING, SINGLE.storage]);
        }
        if self.compactor {
            hosts.push(COMPACTOR);
        }
        hosts
    }

    /// Links a partition or a latency spike may hit: job ↔ storage, TT ↔ job, TT ↔ traffic,
    /// serving ↔ storage (and compactor ↔ storage). In draw order, like [`Self::crashable`].
    pub fn links(&self) -> Vec<(&'static str, &'static str)> {
        if self.is_tt_era() {
            return self.tt_era_links();
        }
        let mut links = Vec::new();
        for chain in self.chains() {
            links.extend([
                (chain.dwd_job, chain.storage),
                (chain.dws_job, chain.storage),
                (TT, chain.dwd_job),
            ]);
        }
        links.push((TT, TRAFFIC));
        links.extend(self.chains().iter().map(|c| (SERVING, c.storage)));
        if self.compactor {
            links.push((COMPACTOR, SINGLE.storage));
        }
        links
    }

    /// TT era's links: each job ↔ the checkpoint storage, TT ↔ each reader, the batch job ↔
    /// each store, TT ↔ traffic, serving ↔ the report store.
    fn tt_era_links(&self) -> Vec<(&'static str, &'static str)> {
        let dfs = SINGLE.storage;
        let mut links = vec![(SINGLE.dwd_job, dfs)];
        links.extend(self.stores().iter().map(|store| (*store, dfs)));
        links.push((TT, SINGLE.dwd_job));
        links.extend(self.stores().iter().map(|store| (TT, *store)));
        links.push((TT, BATCH_JOB));
        links.extend(self.stores().iter().map(|store| (BATCH_JOB, *store)));
        links.push((TT, TRAFFIC));
        links.push((SERVING, STORE_HOSTS[0]));
        links
    }

    /// Hosts with a disk that storage faults can hit.
    pub fn disks(&self) -> Vec<&'static str> {
        if self.is_tt_era() {
            let mut disks = vec![SINGLE.storage, TT];
            disks.extend(self.stores());
            return disks;
        }
        let mut disks: Vec<&'static str> = self.chains().iter().map(|c| c.storage).collect();
        disks.push(TT);
        disks
    }

    /// Hosts that read the clock port, whose wall clock a clock-skew fault may move.
    pub fn skewable(&self) -> Vec<&'static str> {
        if self.is_tt_era() {
            let mut hosts = vec![SINGLE.dwd_job];
            hosts.extend(self.stores());
            hosts.extend([BATCH_JOB, SERVING]);
            return hosts;
        }
        let mut hosts = Vec::new();
        for chain in self.chains() {
            hosts.extend([chain.dwd_job, chain.dws_job]);
        }
        hosts.push(SERVING);
        hosts
    }

    /// Why `host` is not one of `allowed`, naming the dual hosts when `dfs` was meant.
    pub fn explain_unknown(&self, host: &str, allowed: &[&str]) -> String {
        if self.dual && host == SINGLE.storage {
            return format!(
                "there is no host `dfs` with [storage] dual = true: name the primary `dfs-a` or the secondary `dfs-b`; hosts: {}",
                allowed.join(", ")
            );
        }
        if !self.dual && DUAL_ONLY_HOSTS.contains(&host) {
            return format!(
                "host `{host}` exists only with [storage] dual = true; this world has: {}",
                allowed.join(", ")
            );
        }
        format!("unknown host `{host}`; hosts: {}", allowed.join(", "))
    }

    /// Whether `host` exists only in the other kind of world (dual vs single storage).
    pub fn belongs_to_other_world(&self, host: &str) -> bool {
        (self.dual && host == SINGLE.storage) || (!self.dual && DUAL_ONLY_HOSTS.contains(&host))
    }
}

/// Every host a trace of any world may name, in the order of their Perfetto tracks.
pub const TRACK_ORDER: [&str; 7] = [TT, "dwd-job", "dws-job", "dfs", SERVING, TRAFFIC, COMPACTOR];

#[cfg(test)]
mod tests {
    use super::*;

    const SINGLE_WORLD: Topology = Topology {
        dual: false,
        compactor: false,
        tt_era_stores: 0,
    };
    const DUAL_WORLD: Topology = Topology {
        dual: true,
        compactor: false,
        tt_era_stores: 0,
    };

    #[test]
    fn single_storage_keeps_the_old_hosts_in_their_draw_order() {
        assert_eq!(
            SINGLE_WORLD.crashable(),
            ["dwd-job", "dws-job", "tt", "serving", "dfs"]
        );
        assert_eq!(SINGLE_WORLD.disks(), ["dfs", "tt"]);
        assert_eq!(
            SINGLE_WORLD.links(),
            [
                ("dwd-job", "dfs"),
                ("dws-job", "dfs"),
                ("tt", "dwd-job"),
                ("tt", "traffic"),
                ("serving", "dfs")
            ]
        );
        let with_compactor = Topology {
            compactor: true,
            ..SINGLE_WORLD
        };
        assert_eq!(with_compactor.crashable().last(), Some(&"compactor"));
        assert_eq!(with_compactor.links().last(), Some(&("compactor", "dfs")));
    }

    #[test]
    fn dual_storage_has_two_chains_and_no_dfs() {
        assert_eq!(DUAL_WORLD.chains(), [PRIMARY, SECONDARY]);
        assert!(!DUAL_WORLD.hosts().contains(&"dfs"));
        assert_eq!(
            DUAL_WORLD.crashable(),
            [
                "dwd-job",
                "dws-job",
                "dwd-job-b",
                "dws-job-b",
                "tt",
                "dfs-a",
                "dfs-b",
                "serving"
            ]
        );
        assert_eq!(DUAL_WORLD.disks(), ["dfs-a", "dfs-b", "tt"]);
        assert!(DUAL_WORLD.links().contains(&("dws-job-b", "dfs-b")));
        assert_eq!(DUAL_WORLD.chain_of_host("dws-job-b"), Some(SECONDARY));
        assert_eq!(DUAL_WORLD.chain_of_host("dfs-a"), Some(PRIMARY));
        assert!(DUAL_WORLD.belongs_to_other_world("dfs"));
        assert!(SINGLE_WORLD.belongs_to_other_world("dfs-b"));
    }

    #[test]
    fn tt_era_runs_stores_and_a_batch_job_instead_of_the_dws_job() {
        let world = Topology {
            tt_era_stores: 2,
            ..SINGLE_WORLD
        };
        assert_eq!(
            world.hosts(),
            [
                "tt",
                "dwd-job",
                "report-store",
                "bi-store",
                "batch-job",
                "dfs",
                "serving",
                "traffic"
            ]
        );
        assert!(!world.crashable().contains(&"dws-job"));
        assert!(world.links().contains(&("batch-job", "bi-store")));
        assert_eq!(world.disks(), ["dfs", "tt", "report-store", "bi-store"]);
    }
}
