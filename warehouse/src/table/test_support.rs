//! What the table store's tests share: writers continuing from the latest snapshot, as a job's
//! restart builds them.

use super::{BucketWriter, FileStoreTable, HeldRows};
use crate::env::ObjectStore;

/// One writer a bucket, each continuing from the latest snapshot and holding `held` rows.
pub(super) async fn writers_at_latest<S: ObjectStore>(
    table: &FileStoreTable<S>,
    held: HeldRows,
) -> Vec<BucketWriter> {
    let latest = table.latest_snapshot().await.unwrap();
    let mut writers = Vec::new();
    for bucket in 0..table.schema().options.bucket {
        let state = table
            .read_bucket(latest.as_ref(), &[], bucket)
            .await
            .unwrap();
        writers.push(BucketWriter::holding(table.schema(), bucket, state, held));
    }
    writers
}
