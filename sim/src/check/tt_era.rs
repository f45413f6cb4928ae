//! The TT era's checker and figures. It rebuilds each store from what the world saw appended to
//! the store's log (its own reading of the log lines, not the store's code), and the ground truth
//! from the events TT durably appended (each distinct valid event once). At the end of the run,
//! after the last batch correction, every store must equal the ground truth: nothing lost,
//! nothing counted twice (`exactly-once` fails otherwise). Before correction the real-time rows
//! are wrong by design (duplicates counted, late events dropped): that is measured, not failed:
//! each row's time-to-accurate, and the spend over- and under-counted when the batch first
//! overwrote the row's minute.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::check::accuracy::TimeToAccurate;
use crate::check::spec::{DwsKey, DwsSums, spec_contribution, spec_valid, truth_row};
use crate::check::{CheckerName, Violation};
use crate::world::World;

/// One store's figures.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct StoreFigures {
    pub store: String,
    pub rows_at_end: u64,
    pub rows_wrong_at_end: u64,
    /// Spend the real-time rows held above / below the ground truth when the batch job first
    /// overwrote their minute (micros, simulated events: multiply by `represents` for production).
    pub realtime_spend_over_micros: i64,
    pub realtime_spend_under_micros: i64,
    /// Conversions the real-time rows missed / counted twice before correction.
    pub realtime_conversions_under: i64,
    pub realtime_conversions_over: i64,
    /// Events the store's aggregation job dropped from its real-time numbers as later than the
    /// allowed lateness (the job's own count; the batch correction restores them).
    pub realtime_events_dropped_too_late: u64,
    /// Rows whose real-time value was exact before correction.
    pub realtime_rows_exact: u64,
    pub realtime_rows_wrong: u64,
    pub time_to_accurate: TimeToAccurate,
    /// Minute end -> the row's first served value, right or wrong (row freshness).
    pub time_to_first_value: TimeToAccurate,
}

/// The TT era's figures over all stores.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TtEraReport {
    pub stores: Vec<StoreFigures>,
    /// Records the DWD topic appended, and those beyond each event's first copy.
    pub dwd_topic_records: u64,
    pub dwd_topic_duplicates: u64,
    pub ground_truth_rows: u64,
    pub batch_period_ms: i64,
    pub batch_delay_ms: i64,
    pub allowed_lateness_ms: i64,
    /// ODS as TT appended it: records, producer retries among them, the distinct valid and
    /// invalid events, and the events produced that never reached TT.
    pub ods_records: u64,
    pub ods_duplicate_appends: u64,
    pub distinct_valid_events: u64,
    pub invalid_events: u64,
    pub never_reached_tt: u64,
}

/// What TT's ODS appended: records, distinct events, the distinct valid ones, the invalid ones.
#[derive(Default)]
struct Appended {
    records: u64,
    distinct: u64,
    valid: u64,
    invalid: u64,
}

/// The ground truth's rows: every distinct valid event TT durably appended, aggregated.
fn truth_rows(world: &World, appended_counts: &mut Appended) -> BTreeMap<DwsKey, DwsSums> {
    let truth = world.observed.truth.borrow();
    let ledger = world.observed.ledger.borrow();
    let appended: BTreeSet<u64> = ledger
        .partitions
        .iter()
        .flat_map(|p| p.event_ids())
        .collect();
    appended_counts.records = ledger.partitions.iter().map(|p| p.len() as u64).sum();
    appended_counts.distinct = appended.len() as u64;
    let mut rows = BTreeMap::new();
    for id in appended {
        let Some(event) = truth.event(id) else {
            continue;
        };
        if !spec_valid(&event) {
            appended_counts.invalid += 1;
            continue;
        }
        appended_counts.valid += 1;
        let (key, sums) = spec_contribution(&truth_row(&event));
        let row: &mut DwsSums = rows.entry(key).or_insert([0; 5]);
        for (total, add) in row.iter_mut().zip(sums) {
            *total += add;
        }
    }
    rows
}

/// A store rebuilt from its log, with each row's history.
struct Replay<'a> {
    truth: &'a BTreeMap<DwsKey, DwsSums>,
    rows: BTreeMap<DwsKey, DwsSums>,
    corrected: BTreeSet<i64>,
    /// Per row, the wall ms since which it has equalled the ground truth.
    accurate_since: BTreeMap<DwsKey, i64>,
    /// Per row, the wall ms it was first served (any value).
    first_written: BTreeMap<DwsKey, i64>,
    /// Per row, its value when the batch first overwrote its minute.
    before_correction: BTreeMap<DwsKey, Option<DwsSums>>,
    /// The overwrite being read: its period.
    overwrite: Option<(i64, i64)>,
}

impl Replay<'_> {
    fn set(&mut self, key: DwsKey, value: Option<DwsSums>, wall_ms: i64) {
        if value.is_some() {
            self.first_written.entry(key).or_insert(wall_ms);
        }
        match value {
            Some(sums) => self.rows.insert(key, sums),
            None => self.rows.remove(&key),
        };
        if value.as_ref() == self.truth.get(&key) {
            self.accurate_since.entry(key).or_insert(wall_ms);
        } else {
            self.accurate_since.remove(&key);
        }
    }

    fn begin_overwrite(&mut self, start_ms: i64, end_ms: i64, wall_ms: i64) {
        let in_period = |k: &DwsKey| (start_ms..end_ms).contains(&k[2]);
        let keys: BTreeSet<DwsKey> = self
            .rows
            .keys()
            .chain(self.truth.keys())
            .filter(|k| in_period(k))
            .copied()
            .collect();
        for key in keys {
            if !self.corrected.contains(&key[2]) {
                let value = self.rows.get(&key).copied();
                self.before_correction.entry(key).or_insert(value);
            }
            if self.rows.contains_key(&key) {
                self.set(key, None, wall_ms);
            }
        }
        let mut minute = start_ms.div_euclid(60_000) * 60_000;
        while minute < end_ms {
            self.corrected.insert(minute);
            minute += 60_000;
        }
        self.overwrite = Some((start_ms, end_ms));
    }

    /// Applies one log line; an error names what is wrong with it.
    fn apply(&mut self, line: &str, wall_ms: i64) -> Result<(), String> {
        let numbers: Vec<i64> = line
            .split(' ')
            .skip(1)
            .map(|n| {
                n.parse::<i64>()
                    .map_err(|_| format!("unreadable line `{line}`"))
            })
            .collect::<Result<_, _>>()?;
        let row = || -> Result<(DwsKey, DwsSums), String> {
            match numbers.as_slice() {
                [_, a, c, m, s0, s1, s2, s3, s4] => Ok(([*a, *c, *m], [*s0, *s1, *s2, *s3, *s4])),
                _ => Err(format!("a row line needs 9 numbers: `{line}`")),
            }
        };
        match line.as_bytes().first() {
            Some(b'R') => {
                let (key, sums) = row()?;
                if !self.corrected.contains(&key[2]) {
                    self.set(key, Some(sums), wall_ms);
                }
            }
            Some(b'O') => match numbers.as_slice() {
                [_, start, end, _] => self.begin_overwrite(*start, *end, wall_ms),
                _ => return Err(format!("an overwrite line needs 4 numbers: `{line}`")),
            },
            Some(b'B') => {
                let (key, sums) = row()?;
                let (start, end) = self.overwrite.ok_or("a batch row outside an overwrite")?;
                if !(start..end).contains(&key[2]) {
                    return Err(format!(
                        "batch row outside its period {start}..{end}: `{line}`"
                    ));
                }
                self.set(key, Some(sums), wall_ms);
            }
            _ => return Err(format!("unknown line `{line}`")),
        }
        Ok(())
    }
}

/// Checks every store against the ground truth and measures the real-time error.
pub fn check_tt_era(world: &World) -> (TtEraReport, Vec<Violation>) {
    let mut appended = Appended::default();
    let truth = truth_rows(world, &mut appended);
    let epoch_ms = world.scenario.run.epoch_ms;
    let observed = world.observed.tt_era.borrow();
    let mut violations = Vec::new();
    let mut stores = Vec::new();
    for store in world.scenario.topology().stores() {
        let mut replay = Replay {
            truth: &truth,
            rows: BTreeMap::new(),
            corrected: BTreeSet::new(),
            accurate_since: BTreeMap::new(),
            first_written: BTreeMap::new(),
            before_correction: BTreeMap::new(),
            overwrite: None,
        };
        let appends = observed.store_appends.get(*store).map_or(&[][..], |a| a);
        'log: for (t_ms, bytes) in appends {
            for line in String::from_utf8_lossy(bytes).lines() {
                if let Err(error) = replay.apply(line, epoch_ms + t_ms) {
                    violations.push(violation(store, Some(*t_ms), format!("store log: {error}")));
                    break 'log;
                }
            }
        }
        let mut figures = store_figures(store, &replay);
        figures.realtime_events_dropped_too_late = observed
            .store_dropped_too_late
            .get(*store)
            .map_or(0, |count| count.get());
        if figures.rows_wrong_at_end > 0 {
            violations.push(violation(
                store,
                None,
                end_mismatch(&truth, &replay.rows, figures.rows_wrong_at_end),
            ));
        }
        stores.push(figures);
    }
    let distinct = observed.dwd_topic_copies.iter().filter(|c| **c > 0).count() as u64;
    let pipeline = &world.scenario.pipeline;
    let report = TtEraReport {
        stores,
        dwd_topic_records: observed.dwd_topic_records,
        dwd_topic_duplicates: observed.dwd_topic_records - distinct,
        ground_truth_rows: truth.len() as u64,
        batch_period_ms: pipeline.batch_period.0,
        batch_delay_ms: pipeline.batch_delay.0,
        allowed_lateness_ms: world.scenario.jobs.allowed_lateness.0,
        ods_records: appended.records,
        ods_duplicate_appends: appended.records - appended.distinct,
        distinct_valid_events: appended.valid,
        invalid_events: appended.invalid,
        never_reached_tt: world.observed.truth.borrow().len() as u64 - appended.distinct,
    };
    (report, violations)
}

fn violation(store: &str, t_ms: Option<i64>, message: String) -> Violation {
    Violation {
        checker: CheckerName::ExactlyOnce,
        at: format!("{store}: end of run (after the last batch correction)"),
        t_ms,
        message,
    }
}

/// Names the first rows that differ between the store and the ground truth.
fn end_mismatch(
    truth: &BTreeMap<DwsKey, DwsSums>,
    rows: &BTreeMap<DwsKey, DwsSums>,
    wrong: u64,
) -> String {
    let keys: BTreeSet<&DwsKey> = truth.keys().chain(rows.keys()).collect();
    let examples: Vec<String> = keys
        .into_iter()
        .filter(|k| truth.get(*k) != rows.get(*k))
        .take(3)
        .map(|k| {
            format!(
                "(advertiser {}, campaign {}, minute {}) holds {:?}, ground truth {:?}",
                k[0],
                k[1],
                k[2],
                rows.get(k),
                truth.get(k)
            )
        })
        .collect();
    format!(
        "{wrong} rows differ from the ground truth (sums are impressions, clicks, conversions, cost, gmv): {}",
        examples.join("; ")
    )
}

fn store_figures(store: &str, replay: &Replay<'_>) -> StoreFigures {
    let truth = replay.truth;
    let keys: BTreeSet<&DwsKey> = truth.keys().chain(replay.rows.keys()).collect();
    let rows_wrong_at_end = keys
        .iter()
        .filter(|k| truth.get(**k) != replay.rows.get(**k))
        .count() as u64;
    let mut figures = StoreFigures {
        store: store.to_string(),
        rows_at_end: replay.rows.len() as u64,
        rows_wrong_at_end,
        ..StoreFigures::default()
    };
    for (key, expected) in truth {
        let realtime = replay
            .before_correction
            .get(key)
            .copied()
            .unwrap_or_else(|| replay.rows.get(key).copied())
            .unwrap_or([0; 5]);
        let spend = realtime[3] - expected[3];
        let conversions = realtime[2] - expected[2];
        figures.realtime_spend_over_micros += spend.max(0);
        figures.realtime_spend_under_micros += (-spend).max(0);
        figures.realtime_conversions_over += conversions.max(0);
        figures.realtime_conversions_under += (-conversions).max(0);
        if realtime == *expected {
            figures.realtime_rows_exact += 1;
        } else {
            figures.realtime_rows_wrong += 1;
        }
    }
    figures.time_to_first_value = TimeToAccurate::from_rows(
        truth
            .keys()
            .map(|key| (key[2], replay.first_written.get(key).copied())),
    );
    figures.time_to_accurate = TimeToAccurate::from_rows(
        truth
            .keys()
            .map(|key| (key[2], replay.accurate_since.get(key).copied())),
    );
    figures
}
