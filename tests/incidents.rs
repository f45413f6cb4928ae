//! The incident library: every directory of `fixtures/incidents/` is replayed with its seed and
//! must give its recorded verdict: the expected checker FAILs, its first violation still holds
//! the recorded fragment, and no other checker's verdict changed.

use std::path::Path;

use sim::incident::Incident;
use sim::summary::Summary;

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
                    let output = sim::run::run(incident.scenario.clone(), incident.expected.seed);
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
    scenario.jobs.consumer_id = "dws-job".into();
    let output = sim::run::run(scenario, incident.expected.seed);
    let summary = Summary::build(&output, "fixed", "test", 1.0);
    assert!(summary.passed(), "{}", summary.render());
    let differences = incident.differences(&summary).join("\n");
    assert!(
        differences.contains("`expired-snapshot` stayed silent")
            && differences.contains("failed checkers changed"),
        "{differences}"
    );
}
