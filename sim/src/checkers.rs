//! The checkers. They recompute what the tables must hold from the world's ground truth (what the
//! traffic produced, what TT durably appended) and compare it with what the independent inspector
//! reads from storage: exactly-once at every committed DWD and DWS snapshot and at the end, and
//! freshness from production to visibility in a committed DWS snapshot.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use warehouse::event::{AdEvent, EVENT_FIELD_NAMES, EVENT_KIND_SYMBOLS, EventKind};
use warehouse::jobs::schemas::{DWD_TABLE_ROOT, DWS_FIELD_NAMES, DWS_TABLE_ROOT};

use crate::inspect::{SnapshotInfo, TableInspector};
use crate::world::Shared;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Violation {
    pub checker: String,
    /// Where it was found: a snapshot, or "end of run".
    pub at: String,
    /// Simulated ms of the violating commit, when there is one.
    pub t_ms: Option<i64>,
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ExactlyOnceReport {
    pub dwd_snapshots_checked: usize,
    pub dws_snapshots_checked: usize,
    pub distinct_valid_events: u64,
    pub invalid_events: u64,
    pub appended_records: u64,
    pub duplicate_appends: u64,
    pub never_reached_tt: u64,
    pub violations: Vec<Violation>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct FreshnessReport {
    pub events_measured: u64,
    pub events_never_visible: u64,
    pub p50_ms: i64,
    pub p99_ms: i64,
    pub max_ms: i64,
    pub sla_p99_ms: Option<i64>,
    /// Simulated ms after the chaos phase ended when the last event became visible.
    pub converged_after_heal_ms: Option<i64>,
    pub violations: Vec<Violation>,
}

/// The checker's own reading of the DWD cleaning rule, written from the spec, not imported.
fn spec_valid(event: &AdEvent) -> bool {
    let positive = event.advertiser_id > 0 && event.campaign_id > 0 && event.event_time_ms > 0;
    let money = event.cost_micros >= 0 && event.gmv_micros >= 0;
    let shape = match event.kind {
        EventKind::Impression => event.cost_micros == 0 && event.gmv_micros == 0,
        EventKind::Click => event.gmv_micros == 0,
        EventKind::Conversion => event.cost_micros == 0,
    };
    positive && money && shape
}

type DwsKey = [i64; 3];
type DwsSums = [i64; 5];

/// The checker's own DWS aggregation rule: minute buckets of event time, additive sums.
fn spec_contribution(row: &[i64]) -> (DwsKey, DwsSums) {
    let minute = row[1].div_euclid(60_000) * 60_000;
    let kind = row[7];
    (
        [row[2], row[3], minute],
        [i64::from(kind == 0), i64::from(kind == 1), i64::from(kind == 2), row[8], row[9]],
    )
}

fn add_sums(agg: &mut HashMap<DwsKey, DwsSums>, key: DwsKey, sums: DwsSums, sign: i64) {
    let entry = agg.entry(key).or_insert([0; 5]);
    for (slot, value) in entry.iter_mut().zip(sums) {
        *slot += sign * value;
    }
    if entry.iter().all(|v| *v == 0) {
        agg.remove(&key);
    }
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

struct Checker<'a> {
    shared: &'a Shared,
    dwd_offsets: BTreeMap<i64, Vec<u64>>,
    dws_positions: BTreeMap<i64, i64>,
    /// DWD as stored: event id → (sequence number, live row).
    dwd_actual: HashMap<u64, (i64, Option<Vec<i64>>)>,
    /// DWD as it must be: distinct valid events of TT up to the checkpointed offsets.
    dwd_expected: HashMap<u64, Vec<i64>>,
    dwd_mismatched: BTreeSet<u64>,
    ledger_cursors: Vec<usize>,
    /// Aggregate of `dwd_actual`: what DWS must hold once it has consumed the same snapshot.
    aggregate: HashMap<DwsKey, DwsSums>,
    dws_actual: HashMap<DwsKey, (i64, Option<DwsSums>)>,
    dws_mismatched: BTreeSet<DwsKey>,
    /// Event ids first made visible in DWD, per DWD snapshot (freshness).
    dwd_new_ids: Vec<(i64, Vec<u64>)>,
    violations: Vec<Violation>,
    dwd_violated: bool,
    dws_violated: bool,
}

impl<'a> Checker<'a> {
    fn commit_time(&self, snapshot: &SnapshotInfo) -> i64 {
        self.shared
            .snapshot_commits
            .borrow()
            .get(&snapshot.path)
            .copied()
            .unwrap_or(snapshot.time_millis - self.shared.scenario.run.epoch_ms)
    }

    fn violation(&mut self, at: String, t_ms: Option<i64>, message: String) {
        self.violations.push(Violation {
            checker: "exactly-once".into(),
            at,
            t_ms,
            message,
        });
    }

    fn refresh_dwd(&mut self, id: u64) {
        let actual = self.dwd_actual.get(&id).and_then(|(_, row)| row.as_ref());
        if actual == self.dwd_expected.get(&id) {
            self.dwd_mismatched.remove(&id);
        } else {
            self.dwd_mismatched.insert(id);
        }
    }

    fn refresh_dws(&mut self, key: DwsKey) {
        let actual = self.dws_actual.get(&key).and_then(|(_, sums)| *sums);
        if actual == self.aggregate.get(&key).copied() {
            self.dws_mismatched.remove(&key);
        } else {
            self.dws_mismatched.insert(key);
        }
    }

    fn apply_dwd_snapshot(&mut self, inspector: &TableInspector, snapshot: &SnapshotInfo) -> Result<(), String> {
        let t_ms = self.commit_time(snapshot);
        let at = format!("DWD snapshot {} (checkpoint {})", snapshot.id, snapshot.commit_identifier);
        match self.dwd_offsets.get(&snapshot.commit_identifier).cloned() {
            Some(offsets) => self.advance_ledger(&offsets),
            None => self.violation(at.clone(), Some(t_ms), format!(
                "no completed dwd-job checkpoint {} records the TT offsets this snapshot claims",
                snapshot.commit_identifier
            )),
        }
        let mut new_ids = Vec::new();
        for record in inspector.added_records(snapshot)? {
            let id = record.values[0] as u64;
            let current = self.dwd_actual.get(&id).map_or(i64::MIN, |(seq, _)| *seq);
            if record.sequence_number <= current {
                continue;
            }
            let live = (record.kind == 0 || record.kind == 2).then_some(record.values);
            let old = self.dwd_actual.insert(id, (record.sequence_number, live.clone()));
            let old_live = old.and_then(|(_, row)| row);
            if old_live.is_none() && live.is_some() {
                new_ids.push(id);
            }
            if let Some(row) = &old_live {
                let (key, sums) = spec_contribution(row);
                add_sums(&mut self.aggregate, key, sums, -1);
                self.refresh_dws(key);
            }
            if let Some(row) = &live {
                let (key, sums) = spec_contribution(row);
                add_sums(&mut self.aggregate, key, sums, 1);
                self.refresh_dws(key);
            }
            self.refresh_dwd(id);
        }
        self.dwd_new_ids.push((snapshot.id, new_ids));
        if let Some(&id) = self.dwd_mismatched.first() {
            if !self.dwd_violated {
                self.dwd_violated = true;
                let expected = self.dwd_expected.get(&id);
                let actual = self.dwd_actual.get(&id).and_then(|(_, r)| r.as_ref());
                let message = format!(
                    "event_id {id}: TT up to the checkpointed offsets says {}, the table holds {} ({} event ids differ)",
                    expected.map_or("no such event".to_string(), |r| format!("{r:?}")),
                    actual.map_or("nothing".to_string(), |r| format!("{r:?}")),
                    self.dwd_mismatched.len()
                );
                self.violation(at, Some(t_ms), message);
            }
        }
        Ok(())
    }

    fn advance_ledger(&mut self, offsets: &[u64]) {
        let ledger = self.shared.ledger.borrow();
        let truth = self.shared.truth.borrow();
        for (partition, offset) in offsets.iter().enumerate() {
            let Some(log) = ledger.partitions.get(partition) else { continue };
            let end = (*offset as usize).min(log.len());
            let start = self.ledger_cursors[partition];
            for (id, _) in log.get(start..end).unwrap_or_default() {
                if let Some(event) = truth.event(*id) {
                    if spec_valid(event) && !self.dwd_expected.contains_key(id) {
                        self.dwd_expected.insert(*id, event.to_row());
                        self.dwd_mismatched.insert(*id);
                    }
                }
            }
            self.ledger_cursors[partition] = start.max(end);
        }
        let ids: Vec<u64> = self.dwd_mismatched.iter().copied().collect();
        drop((ledger, truth));
        for id in ids {
            self.refresh_dwd(id);
        }
    }

    fn apply_dws_snapshot(&mut self, inspector: &TableInspector, snapshot: &SnapshotInfo) -> Result<(), String> {
        for record in inspector.added_records(snapshot)? {
            let key: DwsKey = [record.values[0], record.values[1], record.values[2]];
            let current = self.dws_actual.get(&key).map_or(i64::MIN, |(seq, _)| *seq);
            if record.sequence_number <= current {
                continue;
            }
            let live = (record.kind == 0 || record.kind == 2).then(|| {
                let v = &record.values;
                [v[3], v[4], v[5], v[6], v[7]]
            });
            self.dws_actual.insert(key, (record.sequence_number, live));
            self.refresh_dws(key);
        }
        if let Some(&key) = self.dws_mismatched.first() {
            if !self.dws_violated {
                self.dws_violated = true;
                let t_ms = self.commit_time(snapshot);
                let expected = self.aggregate.get(&key);
                let actual = self.dws_actual.get(&key).and_then(|(_, s)| s.as_ref());
                let message = format!(
                    "key (advertiser {}, campaign {}, minute {}): the aggregate of the DWD snapshot it consumed is {}, DWS holds {} ({} keys differ; sums are impressions, clicks, conversions, cost, gmv)",
                    key[0], key[1], key[2],
                    expected.map_or("nothing".to_string(), |s| format!("{s:?}")),
                    actual.map_or("nothing".to_string(), |s| format!("{s:?}")),
                    self.dws_mismatched.len()
                );
                self.violation(
                    format!("DWS snapshot {} (checkpoint {})", snapshot.id, snapshot.commit_identifier),
                    Some(t_ms),
                    message,
                );
            }
        }
        Ok(())
    }
}

fn read_checkpoints(objects: &BTreeMap<String, Vec<u8>>, job: &str) -> Result<Vec<serde_json::Value>, String> {
    let prefix = format!("checkpoints/{job}/chk-");
    objects
        .iter()
        .filter(|(path, _)| path.starts_with(&prefix))
        .map(|(path, bytes)| serde_json::from_slice(bytes).map_err(|e| format!("{path} is not valid JSON: {e}")))
        .collect()
}

#[derive(Default)]
pub struct CheckOutcome {
    pub exactly_once: ExactlyOnceReport,
    pub freshness: FreshnessReport,
}

/// Runs every checker over a finished run. `objects` is the storage dump.
pub fn check_run(shared: &Shared, objects: &BTreeMap<String, Vec<u8>>, chaos_end_ms: i64) -> CheckOutcome {
    let mut checker = Checker {
        shared,
        dwd_offsets: BTreeMap::new(),
        dws_positions: BTreeMap::new(),
        dwd_actual: HashMap::new(),
        dwd_expected: HashMap::new(),
        dwd_mismatched: BTreeSet::new(),
        ledger_cursors: vec![0; shared.scenario.traffic.partitions as usize],
        aggregate: HashMap::new(),
        dws_actual: HashMap::new(),
        dws_mismatched: BTreeSet::new(),
        dwd_new_ids: Vec::new(),
        violations: Vec::new(),
        dwd_violated: false,
        dws_violated: false,
    };
    let mut visible_at: HashMap<u64, i64> = HashMap::new();
    let mut counts = (0usize, 0usize);
    if let Err(error) = walk_tables(&mut checker, objects, &mut visible_at, &mut counts) {
        checker.violation("storage".into(), None, format!("cannot read the tables: {error}"));
    }
    let final_report = final_check(&mut checker);
    let freshness = freshness_report(shared, &visible_at, chaos_end_ms);
    CheckOutcome {
        exactly_once: ExactlyOnceReport {
            dwd_snapshots_checked: counts.0,
            dws_snapshots_checked: counts.1,
            violations: checker.violations,
            ..final_report
        },
        freshness,
    }
}

fn walk_tables(
    checker: &mut Checker,
    objects: &BTreeMap<String, Vec<u8>>,
    visible_at: &mut HashMap<u64, i64>,
    counts: &mut (usize, usize),
) -> Result<(), String> {
    for checkpoint in read_checkpoints(objects, "dwd-job")? {
        let id = checkpoint["checkpoint_id"].as_i64().ok_or("dwd checkpoint without id")?;
        let offsets: Vec<u64> = serde_json::from_value(checkpoint["source_state"]["offsets"].clone())
            .map_err(|e| format!("dwd checkpoint {id} offsets: {e}"))?;
        checker.dwd_offsets.insert(id, offsets);
    }
    for checkpoint in read_checkpoints(objects, "dws-job")? {
        let id = checkpoint["checkpoint_id"].as_i64().ok_or("dws checkpoint without id")?;
        let next = checkpoint["source_state"]["next_snapshot"].as_i64().ok_or("dws checkpoint without next_snapshot")?;
        checker.dws_positions.insert(id, next);
    }
    let symbols = BTreeMap::from([(
        "kind".to_string(),
        EVENT_KIND_SYMBOLS.iter().map(|s| s.to_string()).collect(),
    )]);
    let dwd = TableInspector::new(objects, DWD_TABLE_ROOT, &EVENT_FIELD_NAMES, symbols);
    let dws = TableInspector::new(objects, DWS_TABLE_ROOT, &DWS_FIELD_NAMES, BTreeMap::new());
    let dwd_snapshots = dwd.snapshots()?;
    let dws_snapshots = dws.snapshots()?;
    let mut next_dwd = 0;
    let mut visible_through = 0;
    for snapshot in &dws_snapshots {
        let Some(&consumed_next) = checker.dws_positions.get(&snapshot.commit_identifier) else {
            let t_ms = checker.commit_time(snapshot);
            checker.violation(
                format!("DWS snapshot {}", snapshot.id),
                Some(t_ms),
                format!("no completed dws-job checkpoint {} records which DWD snapshot it consumed", snapshot.commit_identifier),
            );
            continue;
        };
        while next_dwd < dwd_snapshots.len() && dwd_snapshots[next_dwd].id < consumed_next {
            checker.apply_dwd_snapshot(&dwd, &dwd_snapshots[next_dwd])?;
            counts.0 += 1;
            next_dwd += 1;
        }
        checker.apply_dws_snapshot(&dws, snapshot)?;
        counts.1 += 1;
        let visible_ms = checker.commit_time(snapshot);
        while visible_through < checker.dwd_new_ids.len() && checker.dwd_new_ids[visible_through].0 < consumed_next {
            for id in &checker.dwd_new_ids[visible_through].1 {
                visible_at.entry(*id).or_insert(visible_ms);
            }
            visible_through += 1;
        }
    }
    while next_dwd < dwd_snapshots.len() {
        checker.apply_dwd_snapshot(&dwd, &dwd_snapshots[next_dwd])?;
        counts.0 += 1;
        next_dwd += 1;
    }
    Ok(())
}

/// After the liveness phase: DWD holds every distinct valid event produced, DWS their aggregate.
fn final_check(checker: &mut Checker) -> ExactlyOnceReport {
    let shared = checker.shared;
    let truth = shared.truth.borrow();
    let ledger = shared.ledger.borrow();
    let mut in_tt: HashMap<u64, u32> = HashMap::new();
    let mut appended_records = 0;
    for log in &ledger.partitions {
        appended_records += log.len() as u64;
        for (id, _) in log {
            *in_tt.entry(*id).or_default() += 1;
        }
    }
    let duplicate_appends = in_tt.values().map(|n| u64::from(*n - 1)).sum();
    let (mut distinct_valid, mut invalid, mut never_reached_tt) = (0u64, 0u64, 0u64);
    let mut first_missing: Option<String> = None;
    let mut truth_aggregate: HashMap<DwsKey, DwsSums> = HashMap::new();
    for event in &truth.events {
        if !in_tt.contains_key(&event.event_id) {
            never_reached_tt += 1;
        }
        if !spec_valid(event) {
            invalid += 1;
            if first_missing.is_none() && checker.dwd_actual.get(&event.event_id).is_some_and(|(_, r)| r.is_some()) {
                first_missing = Some(format!("event_id {} is invalid but DWD holds it", event.event_id));
            }
            continue;
        }
        distinct_valid += 1;
        let row = event.to_row();
        let (key, sums) = spec_contribution(&row);
        add_sums(&mut truth_aggregate, key, sums, 1);
        let stored = checker.dwd_actual.get(&event.event_id).and_then(|(_, r)| r.as_ref());
        if first_missing.is_none() && stored != Some(&row) {
            let reason = if in_tt.contains_key(&event.event_id) { "was appended to TT" } else { "never reached TT" };
            first_missing = Some(format!(
                "event_id {} ({reason}): expected {row:?}, DWD holds {}",
                event.event_id,
                stored.map_or("nothing".to_string(), |r| format!("{r:?}"))
            ));
        }
    }
    let live_dwd = checker.dwd_actual.values().filter(|(_, r)| r.is_some()).count() as u64;
    if first_missing.is_none() && live_dwd != distinct_valid {
        first_missing = Some(format!("DWD holds {live_dwd} events but {distinct_valid} distinct valid events were produced"));
    }
    drop((truth, ledger));
    if let Some(message) = first_missing {
        checker.violation("end of run (DWD)".into(), None, message);
    }
    let mut wrong: BTreeSet<DwsKey> = BTreeSet::new();
    for (key, sums) in &truth_aggregate {
        if checker.dws_actual.get(key).and_then(|(_, s)| *s) != Some(*sums) {
            wrong.insert(*key);
        }
    }
    for (key, (_, sums)) in &checker.dws_actual {
        if sums.is_some() && !truth_aggregate.contains_key(key) {
            wrong.insert(*key);
        }
    }
    if let Some(key) = wrong.first() {
        let message = format!(
            "key (advertiser {}, campaign {}, minute {}): ground truth {}, DWS holds {} ({} keys differ)",
            key[0], key[1], key[2],
            truth_aggregate.get(key).map_or("nothing".to_string(), |s| format!("{s:?}")),
            checker.dws_actual.get(key).and_then(|(_, s)| *s).map_or("nothing".to_string(), |s| format!("{s:?}")),
            wrong.len()
        );
        checker.violation("end of run (DWS)".into(), None, message);
    }
    ExactlyOnceReport {
        dwd_snapshots_checked: 0,
        dws_snapshots_checked: 0,
        distinct_valid_events: distinct_valid,
        invalid_events: invalid,
        appended_records,
        duplicate_appends,
        never_reached_tt,
        violations: Vec::new(),
    }
}

fn freshness_report(shared: &Shared, visible_at: &HashMap<u64, i64>, chaos_end_ms: i64) -> FreshnessReport {
    let truth = shared.truth.borrow();
    let mut latencies = Vec::with_capacity(visible_at.len());
    let mut never_visible = 0;
    let mut last_visible = None;
    for (index, event) in truth.events.iter().enumerate() {
        if !spec_valid(event) {
            continue;
        }
        match visible_at.get(&event.event_id) {
            Some(&visible) => {
                latencies.push(visible - truth.produced_ms[index]);
                last_visible = Some(last_visible.map_or(visible, |t: i64| t.max(visible)));
            }
            None => never_visible += 1,
        }
    }
    latencies.sort_unstable();
    let sla_p99_ms = shared.scenario.sla.freshness_p99.map(|m| m.0);
    let p99_ms = percentile(&latencies, 99.0);
    let mut violations = Vec::new();
    if let Some(sla) = sla_p99_ms {
        if p99_ms > sla {
            violations.push(Violation {
                checker: "freshness".into(),
                at: "whole run".into(),
                t_ms: None,
                message: format!("p99 freshness {:.1} s exceeds the SLA of {:.1} s", p99_ms as f64 / 1e3, sla as f64 / 1e3),
            });
        }
    }
    if never_visible > 0 {
        violations.push(Violation {
            checker: "liveness".into(),
            at: "end of run".into(),
            t_ms: None,
            message: format!("{never_visible} valid events never became visible in DWS within the liveness bound"),
        });
    }
    FreshnessReport {
        events_measured: latencies.len() as u64,
        events_never_visible: never_visible,
        p50_ms: percentile(&latencies, 50.0),
        p99_ms,
        max_ms: latencies.last().copied().unwrap_or(0),
        sla_p99_ms,
        converged_after_heal_ms: last_visible.map(|t| (t - chaos_end_ms).max(0)),
        violations,
    }
}
