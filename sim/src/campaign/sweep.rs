//! Many seeds of one scenario, for CI: seed ranges and shards, one run per worker thread, a JSON
//! line per finished seed (so an interrupted sweep resumes), and the final table of failures with
//! one reproduction line each. Every run stays single-threaded and deterministic; only the
//! orchestration is parallel.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Seek, SeekFrom, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::report::summary::Summary;
use crate::scenario::Scenario;

/// The most seeds one sweep runs: a range beyond it is refused (split it into several sweeps or
/// shards of one range), so a typo like `1..18446744073709551615` never spins or exhausts memory.
pub const SEEDS_PER_SWEEP_MAX: u64 = 1_000_000;
/// How many characters of a violation's message the final table shows.
const MESSAGE_CHARS_MAX: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(
        "`{0}` is not a seed range; write it like `1..400` (both ends included, first <= last)"
    )]
    BadRange(String),
    #[error(
        "`{text}` holds {count} seeds; a sweep runs at most {SEEDS_PER_SWEEP_MAX}: split the range into several sweeps"
    )]
    TooManySeeds { text: String, count: u128 },
    #[error("`{0}` is not a shard; write it like `2/4` (shard K of N, 1 <= K <= N)")]
    BadShard(String),
    #[error("--jobs must be at least 1")]
    BadJobs,
    #[error(
        "{path} is not a sweep results file (its first line is not a seed result: {first_line}); refusing to read or write it as one: pick another results file"
    )]
    NotResults { path: PathBuf, first_line: String },
    #[error(
        "results file {path} is in use by another sweep (it holds the file's lock); wait for it to finish, or give this sweep its own --results file and merge them with `dwsim sweep merge`"
    )]
    Locked { path: PathBuf },
    #[error("results file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> SweepError + '_ {
    move |source| SweepError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Seeds `first..=last`, parsed from `A..B` (or `A..=B`, or a single seed `A`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedRange {
    pub first: u64,
    pub last: u64,
}

impl SeedRange {
    pub fn parse(text: &str) -> Result<Self, SweepError> {
        let bad = || SweepError::BadRange(text.to_string());
        let trimmed = text.trim();
        let (first, last) = match trimmed.split_once("..") {
            Some((a, b)) => (a, b.strip_prefix('=').unwrap_or(b)),
            None => (trimmed, trimmed),
        };
        let first: u64 = first.trim().parse().map_err(|_| bad())?;
        let last: u64 = last.trim().parse().map_err(|_| bad())?;
        if first > last {
            return Err(bad());
        }
        let count = u128::from(last - first) + 1;
        if count > u128::from(SEEDS_PER_SWEEP_MAX) {
            return Err(SweepError::TooManySeeds {
                text: text.to_string(),
                count,
            });
        }
        Ok(Self { first, last })
    }
}

/// Shard `index` (1-based) of `count`: the seeds whose position in the range is
/// `index - 1` modulo `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 1, count: 1 };

    pub fn parse(text: &str) -> Result<Self, SweepError> {
        let bad = || SweepError::BadShard(text.to_string());
        let (k, n) = text.trim().split_once('/').ok_or_else(bad)?;
        let index: u64 = k.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }

    /// This shard's seeds of `range`, ascending.
    pub fn seeds(self, range: SeedRange) -> Vec<u64> {
        (range.first..=range.last)
            .enumerate()
            .filter(|(position, _)| *position as u64 % self.count == self.index - 1)
            .map(|(_, seed)| seed)
            .collect()
    }
}

/// The first violation of a failed run, as the final table shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FirstViolation {
    pub checker: String,
    pub at: String,
    pub t_ms: Option<i64>,
    pub message: String,
}

/// One finished seed: one JSON line of the results file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedResult {
    pub seed: u64,
    /// The scenario's `name`.
    pub scenario: String,
    /// The scenario as the sweep was given it (file or built-in name): what reproduces the seed.
    pub scenario_path: String,
    /// Fingerprint of the parsed scenario: a resumed sweep reuses only results of the same one.
    pub scenario_digest: String,
    /// PASS, FAIL, or PANIC (the run itself panicked: a bug, reported like a failure).
    pub verdict: String,
    pub failed_checkers: Vec<String>,
    pub first_violation: Option<FirstViolation>,
    pub trace_hash: String,
    pub simulated_s: f64,
    pub wall_s: f64,
    /// Events the traffic produced.
    pub events: u64,
    pub trace_events: u64,
    pub git_commit: String,
}

impl SeedResult {
    pub fn passed(&self) -> bool {
        self.verdict == "PASS"
    }

    pub fn reproduce_command(&self) -> String {
        format!("dwsim run {} --seed {}", self.scenario_path, self.seed)
    }

    fn from_summary(summary: &Summary, scenario_digest: &str) -> Self {
        let first_violation = summary
            .violations()
            .next()
            .map(|v| FirstViolation {
                checker: v.checker.name().to_string(),
                at: v.at.clone(),
                t_ms: v.t_ms,
                message: v.message.clone(),
            })
            .or_else(|| {
                summary.world_error.as_ref().map(|error| FirstViolation {
                    checker: "world".into(),
                    at: "simulation".into(),
                    t_ms: None,
                    message: error.clone(),
                })
            });
        Self {
            seed: summary.seed,
            scenario: summary.scenario.clone(),
            scenario_path: summary.scenario_path.clone(),
            scenario_digest: scenario_digest.to_string(),
            verdict: summary.verdict.clone(),
            failed_checkers: summary.failed_checkers.clone(),
            first_violation,
            trace_hash: summary.trace_hash.clone(),
            simulated_s: summary.simulated_s,
            wall_s: summary.wall.wall_s,
            events: summary.events_produced,
            trace_events: summary.trace_events,
            git_commit: summary.git_commit.clone(),
        }
    }
}

/// A stable fingerprint (FNV-1a 64 over the parsed scenario's debug form): two sweeps of the same
/// scenario text agree on it; an edited scenario gets another.
pub fn scenario_digest(scenario: &Scenario) -> String {
    let text = format!("{scenario:?}");
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// What a sweep needs to know besides the seeds.
#[derive(Debug, Clone)]
pub struct SweepSpec {
    pub scenario: Scenario,
    /// As the user gave it: goes into every reproduction line.
    pub scenario_path: String,
    pub git_commit: String,
    /// Draw each seed's knobs and faults from it (see `crate::swarm`).
    pub swarm: bool,
}

/// Real time, for measuring the simulator's own speed (runs, sweeps). Never reaches a run.
#[allow(clippy::disallowed_methods)]
pub fn wall_clock() -> std::time::Instant {
    std::time::Instant::now()
}

/// Appended to a swarm sweep's scenario name in its results, so swarm results are never
/// resumed from or merged with plain ones; each run itself goes under the scenario's own name.
pub const SWARM_NAME_SUFFIX: &str = " (swarm)";

/// Runs one seed to completion and checks it. A panic inside the run becomes a PANIC result.
pub fn run_seed(spec: &SweepSpec, digest: &str, seed: u64) -> SeedResult {
    let started = wall_clock();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let scenario = if spec.swarm {
            let mut drawn = crate::faults::swarm::swarm(&spec.scenario, seed).0;
            // The run goes under the scenario's own name, as `dwsim run --swarm` runs it: the
            // name is in the trace, so the two give one run and one trace hash.
            if let Some(own) = spec.scenario.name.strip_suffix(SWARM_NAME_SUFFIX) {
                drawn.name = own.to_string();
            }
            drawn
        } else {
            spec.scenario.clone()
        };
        // Nothing reads a swept run's trace events: keep only its hash and counts.
        let trace = crate::trace::Trace::hash_only();
        let output = crate::check::check(crate::run::simulate_traced(scenario, seed, trace));
        let wall_s = started.elapsed().as_secs_f64();
        Summary::build(&output, &spec.scenario_path, &spec.git_commit, wall_s)
    }));
    match outcome {
        Ok(summary) => SeedResult::from_summary(&summary, digest),
        Err(payload) => {
            let message = crate::campaign::pool::panic_message(payload.as_ref());
            SeedResult {
                seed,
                scenario: spec.scenario.name.clone(),
                scenario_path: spec.scenario_path.clone(),
                scenario_digest: digest.to_string(),
                verdict: "PANIC".into(),
                failed_checkers: vec!["panic".into()],
                first_violation: Some(FirstViolation {
                    checker: "panic".into(),
                    at: "simulation".into(),
                    t_ms: None,
                    message,
                }),
                trace_hash: String::new(),
                simulated_s: 0.0,
                wall_s: started.elapsed().as_secs_f64(),
                events: 0,
                trace_events: 0,
                git_commit: spec.git_commit.clone(),
            }
        }
    }
}

/// Runs `seeds` on up to `jobs` threads at once, each on a thread of its own (see
/// [`crate::campaign::pool`]); `on_done` is called on the calling thread as each seed finishes,
/// in finishing order.
pub fn run_seeds(
    spec: &SweepSpec,
    seeds: &[u64],
    jobs: usize,
    mut on_done: impl FnMut(SeedResult),
) -> Result<(), SweepError> {
    if jobs == 0 {
        return Err(SweepError::BadJobs);
    }
    let digest = scenario_digest(&spec.scenario);
    crate::campaign::pool::run_parallel(
        seeds,
        jobs,
        |seed| run_seed(spec, &digest, *seed),
        |_, result| on_done(result),
    );
    Ok(())
}

/// The readable lines of a results file, and what was wrong with the others.
#[derive(Debug, Default)]
pub struct ResultsFile {
    pub results: Vec<SeedResult>,
    pub warnings: Vec<String>,
    /// Byte length of the complete lines: a truncated tail starts here.
    pub complete_len: u64,
}

/// Reads a results file. A missing file is empty; unreadable lines are skipped with a warning (a
/// truncated last line is what an interrupted sweep leaves behind); a file whose first line is
/// not a seed result is refused.
pub fn read_results(path: &Path) -> Result<ResultsFile, SweepError> {
    match std::fs::File::open(path) {
        Ok(mut file) => read_results_from(&mut file, path),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(ResultsFile::default()),
        Err(error) => Err(io_error(path)(error)),
    }
}

fn read_results_from(file: &mut std::fs::File, path: &Path) -> Result<ResultsFile, SweepError> {
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0)).map_err(io_error(path))?;
    file.read_to_end(&mut bytes).map_err(io_error(path))?;
    let text = String::from_utf8_lossy(&bytes);
    if let Some(first_line) = foreign_first_line(&text) {
        return Err(SweepError::NotResults {
            path: path.to_path_buf(),
            first_line,
        });
    }
    Ok(parse_results(&text, &path.display().to_string()))
}

/// The first non-empty line of `text` (shortened) when it is not a seed result, nor the start of
/// one that an interrupted sweep cut short: the file is something else.
fn foreign_first_line(text: &str) -> Option<String> {
    let line = text.split_inclusive('\n').find(|l| !l.trim().is_empty())?;
    let content = line.trim();
    if serde_json::from_str::<SeedResult>(content).is_ok() {
        return None;
    }
    let truncated_tail = !line.ends_with('\n') && content.starts_with("{\"seed\":");
    (!truncated_tail).then(|| format!("`{}`", shorten(content, 60)))
}

fn parse_results(text: &str, origin: &str) -> ResultsFile {
    let mut file = ResultsFile::default();
    let line_count = text.lines().count();
    let mut offset = 0u64;
    for (number, line) in text.split_inclusive('\n').enumerate() {
        let complete = line.ends_with('\n');
        offset += line.len() as u64;
        if complete {
            file.complete_len = offset;
        }
        let content = line.trim();
        if content.is_empty() {
            continue;
        }
        match serde_json::from_str::<SeedResult>(content) {
            Ok(result) => file.results.push(result),
            Err(error) if number + 1 == line_count && !complete => file.warnings.push(format!(
                "{origin}: ignoring line {} ({} bytes, no line end): an interrupted sweep's truncated last line ({error})",
                number + 1,
                line.len()
            )),
            Err(error) => file.warnings.push(format!(
                "{origin}: ignoring line {}: not a sweep result ({error})",
                number + 1
            )),
        }
    }
    // A complete last line that parsed counts as complete even without its line end.
    if let Some(last) = text.split_inclusive('\n').next_back()
        && !last.ends_with('\n')
        && serde_json::from_str::<SeedResult>(last.trim()).is_ok()
    {
        file.complete_len = text.len() as u64;
    }
    file
}

/// Appends one JSON line per result, flushed as it is written, so an interrupted sweep keeps
/// every seed it finished. It holds the file's lock until dropped, so two sweeps never
/// interleave lines in one file.
pub struct ResultsWriter {
    file: std::fs::File,
    path: PathBuf,
}

impl ResultsWriter {
    /// Opens `path` for appending and locks it for this sweep, with the results it already
    /// holds. A file another sweep holds is refused, as is a file that is not a results file; a
    /// truncated tail (from an interrupted sweep) is cut off first, so new lines never glue
    /// onto it.
    pub fn open(path: &Path) -> Result<(Self, ResultsFile), SweepError> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .map_err(io_error(path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(SweepError::Locked {
                    path: path.to_path_buf(),
                });
            }
            Err(std::fs::TryLockError::Error(error)) => return Err(io_error(path)(error)),
        }
        let previous = read_results_from(&mut file, path)?;
        let len = file.metadata().map_err(io_error(path))?.len();
        if len > previous.complete_len {
            file.set_len(previous.complete_len)
                .map_err(io_error(path))?;
        }
        let end = file.seek(SeekFrom::End(0)).map_err(io_error(path))?;
        if end > 0 {
            // A complete last line without its line end: give it one.
            file.seek(SeekFrom::Start(end - 1))
                .map_err(io_error(path))?;
            let mut last = [0u8; 1];
            file.read_exact(&mut last).map_err(io_error(path))?;
            if last[0] != b'\n' {
                file.write_all(b"\n").map_err(io_error(path))?;
            }
        }
        let writer = Self {
            file,
            path: path.to_path_buf(),
        };
        Ok((writer, previous))
    }

    pub fn append(&mut self, result: &SeedResult) -> Result<(), SweepError> {
        let mut line = serde_json::to_string(result).expect("a seed result serializes");
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(io_error(&self.path))
    }
}

/// The results of a sweep, keyed by (scenario, scenario digest, seed): the first result of a key
/// wins. A seed of one scenario version gives one result, so later ones are duplicates; another
/// version of the scenario (same name, edited file) is another run and kept apart.
#[derive(Debug, Default)]
pub struct Tally {
    pub results: BTreeMap<(String, String, u64), SeedResult>,
}

impl Tally {
    /// Adds `result` unless its key is already there; says whether it was added.
    pub fn add(&mut self, result: SeedResult) -> bool {
        let key = (
            result.scenario.clone(),
            result.scenario_digest.clone(),
            result.seed,
        );
        if self.results.contains_key(&key) {
            return false;
        }
        self.results.insert(key, result);
        true
    }

    pub fn contains(&self, scenario: &str, digest: &str, seed: u64) -> bool {
        self.results
            .contains_key(&(scenario.to_string(), digest.to_string(), seed))
    }

    pub fn failed(&self) -> usize {
        self.results.values().filter(|r| !r.passed()).count()
    }

    /// The final table: failures sorted by seed, one reproduction line per failing
    /// seed, and the `N seeds: P passed, F failed` line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut failures: Vec<&SeedResult> =
            self.results.values().filter(|r| !r.passed()).collect();
        failures.sort_by(|a, b| {
            (a.seed, &a.scenario_path, &a.scenario_digest).cmp(&(
                b.seed,
                &b.scenario_path,
                &b.scenario_digest,
            ))
        });
        let several_scenarios = self
            .results
            .keys()
            .map(|(scenario, digest, _)| (scenario, digest))
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            > 1;
        if !failures.is_empty() {
            let _ = writeln!(out, "failures:");
            let _ = writeln!(out, "  {:>8}  {:<14} first violation", "seed", "checker");
            for result in &failures {
                let checker = result.failed_checkers.join(",");
                let violation = result.first_violation.as_ref().map_or_else(
                    || "-".to_string(),
                    |v| format!("{}: {}", v.at, shorten(&v.message, MESSAGE_CHARS_MAX)),
                );
                let scenario = if several_scenarios {
                    format!(" [{}]", result.scenario_path)
                } else {
                    String::new()
                };
                let _ = writeln!(
                    out,
                    "  {:>8}  {checker:<14} {violation}{scenario}",
                    result.seed
                );
            }
            let _ = writeln!(out, "reproduce:");
            for result in &failures {
                let _ = writeln!(out, "  {}", result.reproduce_command());
            }
        }
        let _ = writeln!(
            out,
            "{} seeds: {} passed, {} failed",
            self.results.len(),
            self.results.len() - failures.len(),
            failures.len()
        );
        out
    }
}

/// The first `chars_max` characters of `text` on one line, with an ellipsis when cut.
fn shorten(text: &str, chars_max: usize) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= chars_max {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(chars_max).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_shards_parse_and_split() {
        assert_eq!(
            SeedRange::parse("1..400").unwrap(),
            SeedRange {
                first: 1,
                last: 400
            }
        );
        assert_eq!(SeedRange::parse("3..=5").unwrap().last, 5);
        assert_eq!(SeedRange::parse("7").unwrap().first, 7);
        for bad in ["5..1", "a..b", "1..", "", "1...3", "-1..3"] {
            assert!(SeedRange::parse(bad).is_err(), "{bad}");
        }
        for huge in [
            "1..18446744073709551615",
            "0..1000000",
            "0..=18446744073709551615",
        ] {
            let error = SeedRange::parse(huge).unwrap_err().to_string();
            assert!(error.contains("at most 1000000"), "{huge}: {error}");
        }
        assert_eq!(SeedRange::parse("1..1000000").unwrap().last, 1_000_000);
        let top = SeedRange::parse("18446744073709551615").unwrap();
        assert_eq!(Shard::WHOLE.seeds(top), vec![u64::MAX]);
        for bad in ["0/3", "4/3", "1/0", "x/2", "2"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        let range = SeedRange::parse("10..19").unwrap();
        let shards: Vec<Vec<u64>> = (1..=3)
            .map(|k| Shard { index: k, count: 3 }.seeds(range))
            .collect();
        assert_eq!(shards[0], vec![10, 13, 16, 19]);
        assert_eq!(shards[1], vec![11, 14, 17]);
        assert_eq!(shards[2], vec![12, 15, 18]);
        assert_eq!(Shard::WHOLE.seeds(range).len(), 10);
    }

    fn result(seed: u64, verdict: &str) -> SeedResult {
        SeedResult {
            seed,
            scenario: "smoke".into(),
            scenario_path: "smoke".into(),
            scenario_digest: "d".into(),
            verdict: verdict.into(),
            failed_checkers: if verdict == "PASS" {
                vec![]
            } else {
                vec!["freshness".into()]
            },
            first_violation: None,
            trace_hash: "h".into(),
            simulated_s: 1.0,
            wall_s: 1.0,
            events: 1,
            trace_events: 1,
            git_commit: "c".into(),
        }
    }

    #[test]
    fn a_truncated_last_line_is_skipped_with_a_warning() {
        let good = serde_json::to_string(&result(1, "PASS")).unwrap();
        let text = format!("{good}\n{}", &good[..good.len() / 2]);
        let file = parse_results(&text, "r.jsonl");
        assert_eq!(file.results.len(), 1);
        assert_eq!(file.complete_len, good.len() as u64 + 1);
        assert_eq!(file.warnings.len(), 1);
        assert!(
            file.warnings[0].contains("truncated"),
            "{:?}",
            file.warnings
        );

        let whole = parse_results(&good, "r.jsonl");
        assert_eq!((whole.results.len(), whole.warnings.len()), (1, 0));
        assert_eq!(whole.complete_len, good.len() as u64);
    }

    #[test]
    fn a_foreign_file_is_refused_and_a_locked_one_too() {
        let dir = tempfile::tempdir().unwrap();
        let notes = dir.path().join("notes.txt");
        std::fs::write(&notes, "\nmy notes\n{\"seed\": 1}\n").unwrap();
        let error = ResultsWriter::open(&notes).err().unwrap().to_string();
        assert!(
            error.contains("not a sweep results file") && error.contains("my notes"),
            "{error}"
        );
        assert_eq!(
            std::fs::read_to_string(&notes).unwrap(),
            "\nmy notes\n{\"seed\": 1}\n"
        );
        assert!(matches!(
            read_results(&notes),
            Err(SweepError::NotResults { .. })
        ));

        let good = serde_json::to_string(&result(1, "PASS")).unwrap();
        let path = dir.path().join("r.jsonl");
        std::fs::write(&path, format!("{good}\n{}", &good[..10])).unwrap();
        let (mut writer, previous) = ResultsWriter::open(&path).unwrap();
        assert_eq!(previous.results.len(), 1);
        let error = ResultsWriter::open(&path).err().unwrap();
        assert!(matches!(error, SweepError::Locked { .. }), "{error}");
        writer.append(&result(2, "FAIL")).unwrap();
        drop(writer);
        let (_, reread) = ResultsWriter::open(&path).unwrap();
        assert_eq!(reread.results.len(), 2);
        assert!(reread.warnings.is_empty(), "{:?}", reread.warnings);

        // An interrupted sweep's only line, cut short, is a results file's start.
        let cut = dir.path().join("cut.jsonl");
        std::fs::write(&cut, &good[..20]).unwrap();
        let (_, previous) = ResultsWriter::open(&cut).unwrap();
        assert_eq!((previous.results.len(), previous.complete_len), (0, 0));
        assert_eq!(std::fs::read_to_string(&cut).unwrap(), "");
    }

    #[test]
    fn tally_keeps_the_first_and_sorts_failures_by_seed() {
        let mut tally = Tally::default();
        assert!(tally.add(result(9, "FAIL")));
        assert!(tally.add(result(2, "FAIL")));
        assert!(tally.add(result(5, "PASS")));
        assert!(!tally.add(result(2, "PASS")));
        let text = tally.render();
        let nine = text.find("--seed 9").unwrap();
        let two = text.find("--seed 2").unwrap();
        assert!(two < nine, "{text}");
        assert!(text.ends_with("3 seeds: 1 passed, 2 failed\n"), "{text}");
    }
}
