//! A key a bucket writer's batch touched, held in 16 bytes when there is nothing but its
//! sequence number to remember (a plain deduplicate write of a new key, a Double-11 batch's
//! usual case): the rarer rows it may carry sit behind one box, allocated only when needed.

use super::merge::Merged;
use crate::row::Row;

/// A key touched since the last `prepare_commit`.
pub(super) struct Pending {
    /// Sequence number of the key's last write.
    pub(super) sequence_number: i64,
    /// `None` while every row below is absent.
    rows: Option<Box<PendingRows>>,
}

#[derive(Default)]
struct PendingRows {
    /// The key's live value before the batch (kept only for the lookup changelog).
    before: Option<Row>,
    /// Plain deduplicate: the row of the last write when that write deleted the key (the
    /// live row is in the writer's state).
    deleted_row: Option<Row>,
    /// Other engines: the batch's writes folded into one partial record.
    batch: Option<Merged>,
    /// With `unsafe.lookup.ignore-sequence-field` only: the row of the key's last write (when
    /// live), which that unsafe lookup reports as the new value whatever the merge kept.
    written_last: Option<Row>,
}

impl Pending {
    pub(super) fn new(
        sequence_number: i64,
        before: Option<Row>,
        deleted_row: Option<Row>,
        batch: Option<Merged>,
        written_last: Option<Row>,
    ) -> Self {
        let holds_a_row =
            before.is_some() || deleted_row.is_some() || batch.is_some() || written_last.is_some();
        let rows = holds_a_row.then(|| {
            Box::new(PendingRows {
                before,
                deleted_row,
                batch,
                written_last,
            })
        });
        Self {
            sequence_number,
            rows,
        }
    }

    fn rows_mut(&mut self) -> &mut PendingRows {
        self.rows.get_or_insert_with(Box::default)
    }

    pub(super) fn before(&self) -> Option<&Row> {
        self.rows.as_ref()?.before.as_ref()
    }

    pub(super) fn deleted_row(&self) -> Option<&Row> {
        self.rows.as_ref()?.deleted_row.as_ref()
    }

    pub(super) fn batch(&self) -> Option<&Merged> {
        self.rows.as_ref()?.batch.as_ref()
    }

    pub(super) fn written_last(&self) -> Option<&Row> {
        self.rows.as_ref()?.written_last.as_ref()
    }

    pub(super) fn set_deleted_row(&mut self, row: Option<Row>) {
        if row.is_some() || self.deleted_row().is_some() {
            self.rows_mut().deleted_row = row;
        }
    }

    pub(super) fn set_written_last(&mut self, row: Option<Row>) {
        if row.is_some() || self.written_last().is_some() {
            self.rows_mut().written_last = row;
        }
    }

    /// The batch's partial record, to fold another write into.
    pub(super) fn batch_mut(&mut self) -> &mut Option<Merged> {
        &mut self.rows_mut().batch
    }
}
