//! The checkpoint/commit protocol of the ad jobs against real components in one process: a TT
//! broker on an in-memory disk, tables on an in-memory object store. Crashes are modelled by
//! dropping a job between the phases of a checkpoint and restoring a new instance.

use std::cell::RefCell;
use std::rc::Rc;

use crate::env::{MemDisk, NetError, TestEnv, Transport};
use crate::event::{AdEvent, EventKind};
use crate::jobs::schemas::{
    DWD_TABLE_ROOT, DWS_TABLE_ROOT, LATE_TABLE_ROOT, Lateness, dwd_schema, dws_schema, late_schema,
    lateness_of, minute_of, watermark_of,
};
use crate::jobs::{DwdToDws, DwdToDwsConfig, OdsToDwd, OdsToDwdConfig};
use crate::stream::{CheckpointStorage, CompletedCheckpoint, StreamJob};
use crate::table::{ChangelogProducer, FileStoreTable, PartitionTimeFormat, TableOptions};
use crate::tt::{Broker, TtConfig, TtRequest};

/// Carries TT requests to a broker in the same process.
#[derive(Clone)]
struct InProcessTt(Rc<RefCell<Broker<MemDisk>>>);

impl Transport for InProcessTt {
    async fn call(&self, _service: &'static str, request: Vec<u8>) -> Result<Vec<u8>, NetError> {
        let request = TtRequest::decode(&request).expect("well-formed request");
        Ok(self.0.borrow_mut().handle("tt", request, 0).encode())
    }
}

fn event(id: u64, kind: EventKind) -> AdEvent {
    AdEvent {
        event_id: id,
        event_time_ms: 1_762_790_400_000 + id as i64 * 1_000,
        advertiser_id: 1 + (id % 3) as i64,
        campaign_id: 1001,
        creative_id: 100_101,
        slot_id: 1,
        region_id: 1,
        kind,
        cost_micros: if kind == EventKind::Click { 500_000 } else { 0 },
        gmv_micros: 0,
    }
}

/// Impression `id` in hour `hour` from 16:00 UTC on 10 November 2025 (Double-11 midnight in
/// UTC+8).
fn in_hour(id: u64, hour: i64) -> AdEvent {
    AdEvent {
        event_time_ms: 1_762_790_400_000 + hour * 3_600_000 + id as i64,
        ..event(id, EventKind::Impression)
    }
}

struct World {
    env: TestEnv,
    tt: InProcessTt,
    /// Whether DWD is partitioned by the event's hour.
    hourly_dwd: bool,
}

impl World {
    fn new() -> Self {
        let config = TtConfig {
            partitions: 2,
            ..TtConfig::default()
        };
        let broker = Broker::open(MemDisk::default(), "tt", config).unwrap();
        Self {
            env: TestEnv::default(),
            tt: InProcessTt(Rc::new(RefCell::new(broker))),
            hourly_dwd: false,
        }
    }

    /// The DWD table as the job creates it: 2 buckets, lookup changelog.
    async fn dwd_table(&self) -> FileStoreTable<crate::env::MemStore> {
        let mut options = TableOptions {
            bucket: 2,
            changelog_producer: ChangelogProducer::Lookup,
            ..TableOptions::default()
        };
        if self.hourly_dwd {
            options.lifecycle.partition_timestamp_formatter = Some(PartitionTimeFormat::Hour);
        }
        FileStoreTable::create_or_open(
            self.env.store.clone(),
            DWD_TABLE_ROOT,
            dwd_schema(options),
            0,
        )
        .await
        .unwrap()
    }

    fn produce(&self, partition: u32, events: &[AdEvent]) {
        self.tt.0.borrow_mut().append(partition, events, 0).unwrap();
    }

    async fn late_table(&self) -> FileStoreTable<crate::env::MemStore> {
        FileStoreTable::create_or_open(self.env.store.clone(), LATE_TABLE_ROOT, late_schema(), 0)
            .await
            .unwrap()
    }

    async fn dwd_job(&self) -> OdsToDwd<TestEnv, InProcessTt> {
        let table = self.dwd_table().await;
        let config = OdsToDwdConfig {
            unsafe_new_commit_user_on_restart: false,
            job_name: "dwd-job".into(),
            commit_user: "dwd-user".into(),
            partitions: 2,
            fetch_max_records: 1000,
            consumer_group: "dwd".into(),
            out_of_orderness_ms: 5_000,
            backlog_lag_records: 100_000,
            parallelism: 1,
            utc_offset_ms: 0,
        };
        // Each instance is a new process attempt: move the clock so file prefixes differ.
        self.env.clock.0.set(self.env.clock.0.get() + 1);
        OdsToDwd::new(self.env.clone(), config, self.tt.clone(), table)
    }

    async fn checkpoint<J: StreamJob>(&self, job: &mut J, id: i64) -> CompletedCheckpoint {
        let (source_state, committables) = job.snapshot_state(id).await.unwrap();
        let checkpoint = CompletedCheckpoint {
            job: job.name().to_string(),
            checkpoint_id: id,
            triggered_at_ms: 0,
            completed_at_ms: 0,
            source_state,
            committables,
        };
        CheckpointStorage::new(self.env.store.clone(), job.name())
            .complete(&checkpoint)
            .await
            .unwrap();
        checkpoint
    }

    async fn latest_checkpoint(&self, job: &str) -> Option<CompletedCheckpoint> {
        CheckpointStorage::new(self.env.store.clone(), job)
            .latest()
            .await
            .unwrap()
    }

    async fn dwd_rows(&self) -> Vec<i64> {
        let table = self.dwd_table().await;
        let snapshot = table.latest_snapshot().await.unwrap().unwrap();
        table
            .read_all(&snapshot)
            .await
            .unwrap()
            .keys()
            .map(|k| k[0])
            .collect()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn crash_between_prepare_and_commit_commits_exactly_once() {
    let world = World::new();
    world.produce(
        0,
        &[event(1, EventKind::Impression), event(2, EventKind::Click)],
    );
    world.produce(1, &[event(3, EventKind::Impression)]);
    // A producer retry appended event 2 again.
    world.produce(0, &[event(2, EventKind::Click)]);

    let mut job = world.dwd_job().await;
    job.restore(None).await.unwrap();
    assert_eq!(job.process().await.unwrap(), 4);
    let checkpoint = world.checkpoint(&mut job, 1).await;
    // Crash: the checkpoint is complete and its files are prepared, but nothing was committed.
    drop(job);
    assert_eq!(
        checkpoint.source_state["offsets"],
        serde_json::json!([3, 1])
    );

    let mut restarted = world.dwd_job().await;
    let latest = world.latest_checkpoint("dwd-job").await;
    restarted.restore(latest.as_ref()).await.unwrap();
    assert_eq!(
        world.dwd_rows().await,
        vec![1, 2, 3],
        "the restore committed checkpoint 1 once"
    );

    // Crash again after the commit: a second restore must skip the already committed identifier.
    let mut again = world.dwd_job().await;
    again.restore(latest.as_ref()).await.unwrap();
    let table_snapshots = world
        .env
        .store
        .objects()
        .keys()
        .filter(|p| p.starts_with(&format!("{DWD_TABLE_ROOT}/snapshot/snapshot-")))
        .count();
    assert_eq!(
        table_snapshots, 1,
        "re-commit of identifier 1 was filtered, not repeated"
    );

    // The sources were rewound to the checkpoint: nothing new is read, new data flows on.
    assert_eq!(again.process().await.unwrap(), 0);
    world.produce(1, &[event(4, EventKind::Impression)]);
    assert_eq!(again.process().await.unwrap(), 1);
    let checkpoint = world.checkpoint(&mut again, 2).await;
    again.commit(&checkpoint).await.unwrap();
    assert_eq!(world.dwd_rows().await, vec![1, 2, 3, 4]);
}

/// DWD partitioned by the event's hour: each event lands in its hour's partition (the last
/// field), a producer retry is dropped even after a restore and in an hour written before the
/// crash, and the files live in Paimon's `hh=<yyyyMMddHH>` directories.
#[tokio::test(flavor = "current_thread")]
async fn hourly_dwd_partitions_by_event_hour_exactly_once_across_a_restore() {
    let mut world = World::new();
    world.hourly_dwd = true;
    world.produce(0, &[in_hour(1, 0), in_hour(2, 1), in_hour(3, 2)]);
    world.produce(1, &[in_hour(4, 0), in_hour(5, 1)]);
    let mut job = world.dwd_job().await;
    job.restore(None).await.unwrap();
    assert_eq!(job.process().await.unwrap(), 5);
    let checkpoint = world.checkpoint(&mut job, 1).await;
    job.commit(&checkpoint).await.unwrap();
    drop(job);

    // After a restore: a retry of event 2 (hour 1, flushed before the crash), and new events
    // in an old hour and a new one.
    world.produce(0, &[in_hour(2, 1), in_hour(6, 0), in_hour(7, 3)]);
    let mut restarted = world.dwd_job().await;
    let latest = world.latest_checkpoint("dwd-job").await;
    restarted.restore(latest.as_ref()).await.unwrap();
    assert_eq!(restarted.process().await.unwrap(), 3);
    let checkpoint = world.checkpoint(&mut restarted, 2).await;
    restarted.commit(&checkpoint).await.unwrap();
    assert_eq!(world.dwd_rows().await, vec![1, 2, 3, 4, 5, 6, 7]);

    let table = world.dwd_table().await;
    let snapshot = table.latest_snapshot().await.unwrap().unwrap();
    for (key, row) in table.read_all(&snapshot).await.unwrap() {
        let hour = PartitionTimeFormat::Hour.value_of(row[1]);
        assert_eq!(
            (key[1], *row.last().unwrap()),
            (hour, hour),
            "event {}",
            key[0]
        );
    }
    let hours: std::collections::BTreeSet<i64> = table
        .data_files(&snapshot)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.partition[0])
        .collect();
    assert_eq!(hours.len(), 4, "{hours:?}");
    assert!(
        world
            .env
            .store
            .objects()
            .keys()
            .any(|p| p.starts_with(&format!(
                "{DWD_TABLE_ROOT}/hh={}/bucket-",
                hours.first().unwrap()
            )))
    );
}

/// A partitioned DWD's writer closes once idle for `WRITER_IDLE_CHECKPOINTS` checkpoints with
/// its files committed, and a late event for its hour opens it again from the files: a
/// producer retry of an event in the closed hour is still dropped, a new event lands once.
#[tokio::test(flavor = "current_thread")]
async fn an_idle_hours_writer_closes_and_reopens_from_its_files() {
    let mut world = World::new();
    world.hourly_dwd = true;
    let hour = |h: i64| PartitionTimeFormat::Hour.value_of(1_762_790_400_000 + h * 3_600_000);
    let mut job = world.dwd_job().await;
    job.restore(None).await.unwrap();
    world.produce(0, &[in_hour(1, 0), in_hour(2, 0), in_hour(3, 0)]);
    let mut next_id = 4;
    for checkpoint_id in 1..=crate::jobs::WRITER_IDLE_CHECKPOINTS + 1 {
        if checkpoint_id > 1 {
            world.produce(1, &[in_hour(next_id, 1)]);
            next_id += 1;
        }
        job.process().await.unwrap();
        let checkpoint = world.checkpoint(&mut job, checkpoint_id).await;
        job.commit(&checkpoint).await.unwrap();
        let hour_0_open = job.open_trees().iter().any(|(h, _)| *h == hour(0));
        assert_eq!(
            hour_0_open,
            checkpoint_id <= crate::jobs::WRITER_IDLE_CHECKPOINTS,
            "hour 0's writers after checkpoint {checkpoint_id}: {:?}",
            job.open_trees()
        );
    }
    world.produce(0, &[in_hour(2, 0), in_hour(next_id, 0)]);
    assert_eq!(job.process().await.unwrap(), 2);
    assert!(job.open_trees().iter().any(|(h, _)| *h == hour(0)));
    let checkpoint = world
        .checkpoint(&mut job, crate::jobs::WRITER_IDLE_CHECKPOINTS + 2)
        .await;
    job.commit(&checkpoint).await.unwrap();
    assert_eq!(
        world.dwd_rows().await,
        (1..=next_id as i64).collect::<Vec<_>>()
    );
    // The retry of event 2 reached no file: the last commit's changelog is the new event's.
    let table = world.dwd_table().await;
    let snapshot = table.latest_snapshot().await.unwrap().unwrap();
    let changed: Vec<i64> = table
        .read_changelog(&snapshot)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, row)| row[0])
        .collect();
    assert_eq!(changed, vec![next_id as i64]);
}

#[tokio::test(flavor = "current_thread")]
async fn dws_aggregates_dwd_changelog_across_a_restore() {
    let world = World::new();
    world.produce(
        0,
        &[event(1, EventKind::Impression), event(4, EventKind::Click)],
    );
    world.produce(1, &[event(7, EventKind::Impression)]);
    let mut dwd = world.dwd_job().await;
    dwd.restore(None).await.unwrap();
    dwd.process().await.unwrap();
    let checkpoint = world.checkpoint(&mut dwd, 1).await;
    dwd.commit(&checkpoint).await.unwrap();

    let options = TableOptions {
        bucket: 1,
        changelog_producer: ChangelogProducer::None,
        ..TableOptions::default()
    };
    let dws_table = FileStoreTable::create_or_open(
        world.env.store.clone(),
        DWS_TABLE_ROOT,
        dws_schema(options),
        0,
    )
    .await
    .unwrap();
    let dwd_table = FileStoreTable::create_or_open(
        world.env.store.clone(),
        DWD_TABLE_ROOT,
        dwd_schema(TableOptions {
            bucket: 2,
            changelog_producer: ChangelogProducer::Lookup,
            ..TableOptions::default()
        }),
        0,
    )
    .await
    .unwrap();
    let config = DwdToDwsConfig {
        unsafe_new_commit_user_on_restart: false,
        version: Default::default(),
        job_name: "dws-job".into(),
        commit_user: "dws-user".into(),
        consumer_id: Some("dws".into()),
        max_snapshots_per_poll: 4,
        allowed_lateness_ms: 0,
        parallelism: 1,
    };
    let late_table = world.late_table().await;
    let mut dws = DwdToDws::new(
        world.env.clone(),
        config.clone(),
        dwd_table.clone(),
        dws_table.clone(),
        late_table.clone(),
    );
    dws.restore(None).await.unwrap();
    dws.process().await.unwrap();
    let checkpoint = world.checkpoint(&mut dws, 1).await;
    drop(dws); // crash before commit
    let mut dws = DwdToDws::new(
        world.env.clone(),
        config,
        dwd_table,
        dws_table.clone(),
        late_table,
    );
    dws.restore(Some(&checkpoint)).await.unwrap();

    let snapshot = dws_table.latest_snapshot().await.unwrap().unwrap();
    let rows = dws_table.read_all(&snapshot).await.unwrap();
    // Ids 1, 4 and 7 all map to advertiser 1 + id % 3 = 2.
    let minute = |id: u64| minute_of(event(id, EventKind::Impression).event_time_ms);
    let total_impressions: i64 = rows.values().map(|r| r[3]).sum();
    let total_clicks: i64 = rows.values().map(|r| r[4]).sum();
    let total_cost: i64 = rows.values().map(|r| r[6]).sum();
    assert_eq!(
        (total_impressions, total_clicks, total_cost),
        (2, 1, 500_000)
    );
    assert!(rows.keys().all(|k| k[0] == 2 && k[1] == 1001));
    assert!(rows.keys().any(|k| k[2] == minute(1)));
}

#[test]
fn lateness_follows_flink_window_rules() {
    let minute = 1_762_790_400_000;
    let watermark = Some(minute + 60_000 - 1);
    // The window [minute, minute + 60 s) closed exactly when the watermark reached its last ms.
    assert_eq!(lateness_of(minute + 5, watermark, 0), Lateness::TooLate);
    assert_eq!(lateness_of(minute + 5, watermark, 1), Lateness::Late);
    assert_eq!(
        lateness_of(minute + 5, Some(minute + 59_998), 0),
        Lateness::OnTime
    );
    assert_eq!(lateness_of(minute + 60_000, watermark, 0), Lateness::OnTime);
    assert_eq!(lateness_of(minute, None, 0), Lateness::OnTime);
    assert_eq!(watermark_of(&[10_000, 20_000], 1_000), Some(8_999));
    assert_eq!(watermark_of(&[10_000, i64::MIN], 1_000), None);
}

#[tokio::test(flavor = "current_thread")]
async fn too_late_event_goes_to_the_side_table_exactly_once_across_a_restore() {
    let world = World::new();
    // A first DWD snapshot whose watermark is minutes past event 1's minute.
    let mut early = event(1, EventKind::Impression);
    early.event_time_ms += 600_000;
    let mut other = event(2, EventKind::Impression);
    other.event_time_ms += 600_000;
    world.produce(0, &[early]);
    world.produce(1, &[other]);
    let mut dwd = world.dwd_job().await;
    dwd.restore(None).await.unwrap();
    dwd.process().await.unwrap();
    let checkpoint = world.checkpoint(&mut dwd, 1).await;
    dwd.commit(&checkpoint).await.unwrap();
    // Then a conversion for an old minute, and one for a minute still within the lateness.
    let mut conversion = event(3, EventKind::Conversion);
    conversion.gmv_micros = 9_000_000;
    let mut late_click = event(4, EventKind::Click);
    late_click.event_time_ms += 600_000 - 61_000;
    world.produce(0, &[conversion, late_click]);
    dwd.process().await.unwrap();
    let checkpoint = world.checkpoint(&mut dwd, 2).await;
    dwd.commit(&checkpoint).await.unwrap();

    let dwd_table = world.dwd_table().await;
    let dws_table = FileStoreTable::create_or_open(
        world.env.store.clone(),
        DWS_TABLE_ROOT,
        dws_schema(TableOptions::default()),
        0,
    )
    .await
    .unwrap();
    let config = DwdToDwsConfig {
        unsafe_new_commit_user_on_restart: false,
        version: Default::default(),
        job_name: "dws-job".into(),
        commit_user: "dws-user".into(),
        consumer_id: None,
        max_snapshots_per_poll: 8,
        allowed_lateness_ms: 120_000,
        parallelism: 1,
    };
    let late_table = world.late_table().await;
    let new_job = || {
        DwdToDws::new(
            world.env.clone(),
            config.clone(),
            dwd_table.clone(),
            dws_table.clone(),
            late_table.clone(),
        )
    };
    let mut dws = new_job();
    dws.restore(None).await.unwrap();
    dws.process().await.unwrap();
    // Checkpoint 1 is declined after its barrier (it timed out): its files ride along with
    // checkpoint 2, the DWS files through the runtime, the side-table files through the job.
    let (declined, declined_committables) = dws.snapshot_state(1).await.unwrap();
    assert_eq!(declined["late_committables"].as_array().unwrap().len(), 1);
    let mut checkpoint = world.checkpoint(&mut dws, 2).await;
    assert_eq!(
        checkpoint.source_state["late_committables"], declined["late_committables"],
        "the declined checkpoint's side-table files are carried"
    );
    checkpoint.committables.splice(0..0, declined_committables);
    dws.commit(&checkpoint).await.unwrap();
    // A crash after the commit: the restore re-commits nothing twice.
    let mut dws = new_job();
    dws.restore(Some(&checkpoint)).await.unwrap();

    let late = world.late_table().await;
    let snapshot = late.latest_snapshot().await.unwrap().unwrap();
    assert_eq!(snapshot.commit_identifier, 2);
    assert_eq!(snapshot.id, 1, "one side-table snapshot, committed once");
    let late_rows = late.read_all(&snapshot).await.unwrap();
    let ids: Vec<i64> = late_rows.keys().map(|k| k[0]).collect();
    assert_eq!(
        ids,
        vec![3],
        "only the conversion of an old minute is too late"
    );
    let watermark = late_rows.values().next().unwrap()[10];
    assert_eq!(
        watermark,
        early.event_time_ms.min(other.event_time_ms) - 5_001
    );
    let dws_snapshot = dws_table.latest_snapshot().await.unwrap().unwrap();
    let rows = dws_table.read_all(&dws_snapshot).await.unwrap();
    let clicks: i64 = rows.values().map(|r| r[4]).sum();
    let conversions: i64 = rows.values().map(|r| r[5]).sum();
    assert_eq!(
        (clicks, conversions),
        (1, 0),
        "the late click updated its old minute"
    );
}

/// A closing hour's writer whose bucket holds more than one sorted run compacts it fully first
/// (history-partition compaction): the writer stays open until that compaction is committed
/// and idle again, the closed hour keeps one top-level file per bucket, and no event reaches
/// DWD's changelog twice.
#[tokio::test(flavor = "current_thread")]
async fn a_closing_hour_is_compacted_to_one_run_per_bucket_first() {
    let idle = crate::jobs::WRITER_IDLE_CHECKPOINTS;
    let mut world = World::new();
    world.hourly_dwd = true;
    let hour_0 = PartitionTimeFormat::Hour.value_of(1_762_790_400_000);
    let mut job = world.dwd_job().await;
    job.restore(None).await.unwrap();
    let table = world.dwd_table().await;
    let hour_0_files = |files: Vec<crate::table::DataFileEntry>| {
        let mut per_bucket = std::collections::BTreeMap::<u32, Vec<u32>>::new();
        for entry in files.into_iter().filter(|e| e.partition[0] == hour_0) {
            per_bucket
                .entry(entry.bucket)
                .or_default()
                .push(entry.file.level);
        }
        per_bucket
    };
    let mut changelog_ids = Vec::new();
    let mut changelog_read_through = 0;
    let mut next_id = 1;
    let mut closed_at = None;
    for checkpoint_id in 1..=2 * idle + 3 {
        let in_hour_0 = checkpoint_id <= 2;
        let batch: Vec<AdEvent> = (0..if in_hour_0 { 6 } else { 1 })
            .map(|i| in_hour(next_id + i, if in_hour_0 { 0 } else { 1 }))
            .collect();
        next_id += batch.len() as u64;
        world.produce(0, &batch);
        job.process().await.unwrap();
        let checkpoint = world.checkpoint(&mut job, checkpoint_id).await;
        job.commit(&checkpoint).await.unwrap();
        let latest = table.latest_snapshot().await.unwrap().unwrap();
        for id in changelog_read_through + 1..=latest.id {
            let snapshot = table.snapshot(id).await.unwrap().unwrap();
            let changes = table.read_changelog(&snapshot).await.unwrap();
            changelog_ids.extend(changes.into_iter().map(|(_, row)| row[0]));
        }
        changelog_read_through = latest.id;
        if checkpoint_id == 2 {
            let files = hour_0_files(table.data_files(&latest).await.unwrap());
            assert!(
                files.values().any(|levels| levels.len() >= 2),
                "hour 0 needs a bucket of two runs for this test: {files:?}"
            );
        }
        let open = job.open_trees().iter().any(|(h, _)| *h == hour_0);
        if !open && closed_at.is_none() {
            closed_at = Some(checkpoint_id);
        }
    }
    // Idle from checkpoint 2: compacted at 2 + idle, closed `idle` checkpoints after that.
    assert_eq!(closed_at, Some(2 + 2 * idle));
    let latest = table.latest_snapshot().await.unwrap().unwrap();
    let files = hour_0_files(table.data_files(&latest).await.unwrap());
    let top = table.schema().options.max_level();
    assert!(
        !files.is_empty() && files.values().all(|levels| levels == &vec![top]),
        "hour 0 after closing, levels per bucket: {files:?}"
    );
    let all_ids: Vec<i64> = (1..next_id as i64).collect();
    assert_eq!(world.dwd_rows().await, all_ids);
    changelog_ids.sort_unstable();
    assert_eq!(
        changelog_ids, all_ids,
        "every event once in DWD's changelog"
    );
}
