//! The incident library: every directory of `fixtures/incidents/` is replayed with its seed and
//! must give its recorded verdict: the expected checker FAILs, its first violation still holds
//! the recorded fragment, and no other checker's verdict changed.

use std::path::Path;

use sim::Summary;
use sim::incident::Incident;

#[test]
fn every_incident_replays_to_its_recorded_verdict() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/incidents");
    let incidents = Incident::discover(&root).expect("the incident library loads");
    assert!(
        !incidents.is_empty(),
        "no incident under {}",
        root.display()
    );
    // Each replay is single-threaded and deterministic; replay them side by side.
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = incidents
            .iter()
            .map(|incident| {
                scope.spawn(move || {
                    let output = sim::run(incident.scenario.clone(), incident.expected.seed);
                    let summary = Summary::build(&output, &incident.scenario_path(), "test", 1.0);
                    let differences = incident.differences(&summary);
                    (!differences.is_empty()).then(|| {
                        format!(
                            "incident {} ({}):\n  {}\n{}",
                            incident.name,
                            incident.replay_command(),
                            differences.join("\n  "),
                            summary.render()
                        )
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|handle| handle.join().expect("a replay panicked"))
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} incidents changed verdict:\n{}",
        failures.len(),
        incidents.len(),
        failures.join("\n")
    );
}

#[test]
fn a_fixed_incident_is_reported_as_a_changed_verdict() {
    // The incident's own fix (a consumer id) makes the run pass: the library must notice that the
    // expected checker went silent and the failed checkers changed, not pass quietly.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/incidents");
    let incident = Incident::load(&root.join("a-expired-snapshot-without-consumer-id")).unwrap();
    let mut scenario = incident.scenario.clone();
    scenario.jobs.consumer_id = Some("dws-job".into());
    let output = sim::run(scenario, incident.expected.seed);
    let summary = Summary::build(&output, "fixed", "test", 1.0);
    assert!(summary.passed(), "{}", summary.render());
    let differences = incident.differences(&summary).join("\n");
    assert!(
        differences.contains("`expired-snapshot` stayed silent")
            && differences.contains("failed checkers changed"),
        "{differences}"
    );
}

#[test]
fn the_bad_deploy_rolled_back_to_a_tag_and_replayed_passes() {
    // Incident f's repair: the fixed build, DWS rolled back to the tag taken before the bad
    // deploy, the dws-job restored from the checkpoint that committed the tagged snapshot.
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/incidents/f-bad-dws-job-version");
    let incident = Incident::load(&dir).unwrap();
    let repaired = sim::scenario::Scenario::load(&dir.join("repaired.toml")).unwrap();
    let output = sim::run(repaired, incident.expected.seed);
    let rollbacks: Vec<String> = output
        .simulation
        .world
        .trace
        .borrow()
        .events()
        .iter()
        .filter(|e| e.kind == "rollback-to-tag" || e.kind == "rollback-failed")
        .map(|e| format!("{} {}: {}", e.host, e.kind, e.detail))
        .collect();
    assert!(
        rollbacks
            .iter()
            .any(|r| r.starts_with("dws-job rollback-to-tag") && r.contains("checkpoint=11")),
        "the dws-job's host must roll DWS back to the tag's checkpoint: {rollbacks:?}"
    );
    let summary = Summary::build(&output, "repaired", "test", 1.0);
    assert!(summary.passed(), "{}", summary.render());
    let differences = incident.differences(&summary).join("\n");
    assert!(
        differences.contains("`exactly-once` stayed silent"),
        "{differences}"
    );
}

#[test]
fn late_stale_records_pass_when_the_lookup_respects_the_sequence_field() {
    // Incident e without its unsafe option: the same stale copies, DWD ordered by
    // sequence.field, and a lookup changelog that describes the merged rows.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/incidents");
    let incident =
        Incident::load(&root.join("e-late-stale-record-wrong-lookup-changelog")).unwrap();
    let mut scenario = incident.scenario.clone();
    assert!(scenario.dwd.unsafe_lookup_ignore_sequence_field);
    scenario.dwd.unsafe_lookup_ignore_sequence_field = false;
    let output = sim::run(scenario, incident.expected.seed);
    let summary = Summary::build(&output, "safe", "test", 1.0);
    assert!(summary.passed(), "{}", summary.render());
    assert!(
        output.checks.exactly_once.duplicate_appends > 100,
        "the stale copies must reach TT: {:?}",
        output.checks.exactly_once.duplicate_appends
    );
}

#[test]
fn orphan_cleaning_with_an_age_bound_keeps_the_files_in_flight_and_passes() {
    // Incident g with Paimon's advice followed: the same procedure at the same moment, but only
    // files older than a minute may go. The files the DWD job is about to commit are kept.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/incidents");
    let incident = Incident::load(&root.join("g-orphan-clean-deletes-files-in-flight")).unwrap();
    let mut scenario = incident.scenario.clone();
    assert_eq!(scenario.operations.len(), 1);
    let sim::scenario::Operation::RemoveOrphanFiles { older_than, .. } =
        &mut scenario.operations[0].action
    else {
        panic!("incident g cleans orphan files");
    };
    *older_than = sim::scenario::Millis(60_000);
    let output = sim::run(scenario, incident.expected.seed);
    let summary = Summary::build(&output, "safe", "test", 1.0);
    assert!(summary.passed(), "{}", summary.render());
    let trace = output.simulation.world.trace.borrow();
    let cleaned = trace
        .events()
        .iter()
        .find(|e| e.host == "ops" && e.kind == "remove-orphan-files")
        .expect("the procedure ran");
    assert!(
        cleaned.detail.contains("deleted=0") && !cleaned.detail.contains("young_kept=0"),
        "the files in flight are unreferenced but young, so kept: {}",
        cleaned.detail
    );
}
