//! The merge engines (Paimon `merge-engine`): how the records of one primary key combine. One
//! `MergeFunction` serves the writer's write path, compaction and merge-on-read, so all three
//! agree on every table state.
//!
//! The model: a written record is first *lifted* into a partial result (`Merged`), which is where
//! the engine decides whether it accepts the record at all (deletes, retractions). Partial results
//! then *combine*, older with newer. `combine` is associative for every engine, so the writer's
//! running state, a level-0 file holding one checkpoint's partial per key, a compaction of some
//! runs and a read over all files give the same answer however the records were grouped. That is
//! why a few of Paimon's behaviours that would depend on compaction timing are refused here
//! (see `MergeFunction::new` and `lift`).

use super::schema::{AggregateFunction, MergeEngine};
use super::{ChangelogProducer, TableError, TableSchema};
use crate::row::{FieldType, NULL, Row, RowKind};

/// A key's partial or final merged record: `Insert` (a live row) or `Delete` (a tombstone).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Merged {
    pub kind: RowKind,
    pub row: Row,
}

impl Merged {
    pub(crate) fn is_live(&self) -> bool {
        self.kind.is_add()
    }
}

/// A table's merge engine, resolved against its schema.
#[derive(Clone, Debug)]
pub(crate) struct MergeFunction {
    engine: MergeEngine,
    /// Per field: its aggregate function (aggregation engine, value fields only).
    aggregates: Vec<Option<AggregateFunction>>,
    /// Per field: `fields.<name>.ignore-retract`.
    ignore_retract: Vec<bool>,
    /// Per field: whether it is a primary key (never merged).
    is_key: Vec<bool>,
    field_names: Vec<String>,
    sequence_field: Option<usize>,
    ignore_delete: bool,
}

fn invalid(message: String) -> TableError {
    TableError::InvalidSchema(message)
}

impl MergeFunction {
    /// Resolves and validates the merge options of `schema`.
    pub(crate) fn new(schema: &TableSchema, pk_indices: &[usize]) -> Result<Self, TableError> {
        let options = &schema.options;
        let engine = options.merge_engine;
        let field_index = |name: &str, option: &str| {
            schema
                .fields
                .iter()
                .position(|f| f.name == name)
                .ok_or_else(|| invalid(format!("{option}: the table has no field {name}")))
        };
        let is_key: Vec<bool> = (0..schema.fields.len())
            .map(|i| pk_indices.contains(&i))
            .collect();

        let sequence_field = match &options.sequence_field {
            None => None,
            Some(name) => {
                let index = field_index(name, "sequence.field")?;
                if engine != MergeEngine::Deduplicate {
                    return Err(invalid(format!(
                        "sequence.field is supported with merge-engine deduplicate only, not {} \
                         (ordering partial updates or aggregates by a field needs Paimon's \
                         sequence groups, which dwsim does not implement)",
                        engine.paimon_name()
                    )));
                }
                if schema.fields[index].field_type != FieldType::BigInt || is_key[index] {
                    return Err(invalid(format!(
                        "sequence.field {name} must be a BIGINT value field"
                    )));
                }
                Some(index)
            }
        };

        if options.unsafe_lookup_ignore_sequence_field
            && (sequence_field.is_none() || options.changelog_producer != ChangelogProducer::Lookup)
        {
            return Err(invalid(
                "unsafe.lookup.ignore-sequence-field needs a sequence.field and changelog-producer lookup"
                    .into(),
            ));
        }

        let mut aggregates = vec![None; schema.fields.len()];
        if engine == MergeEngine::Aggregation {
            let default = options
                .default_aggregate_function
                .unwrap_or(AggregateFunction::LastNonNullValue);
            for (i, slot) in aggregates.iter_mut().enumerate() {
                if !is_key[i] {
                    *slot = Some(default);
                }
            }
        }
        for (name, &function) in &options.field_aggregate_functions {
            let option = format!("fields.{name}.aggregate-function");
            let index = field_index(name, &option)?;
            if engine != MergeEngine::Aggregation {
                return Err(invalid(format!(
                    "{option} needs merge-engine aggregation, not {}",
                    engine.paimon_name()
                )));
            }
            if is_key[index] {
                return Err(invalid(format!(
                    "{option}: {name} is a primary key, which is never aggregated"
                )));
            }
            aggregates[index] = Some(function);
        }
        for (i, function) in aggregates.iter().enumerate() {
            let numeric = matches!(
                function,
                Some(AggregateFunction::Sum | AggregateFunction::Count)
            );
            if numeric && schema.fields[i].field_type != FieldType::BigInt {
                return Err(invalid(format!(
                    "fields.{}.aggregate-function {} needs a BIGINT field",
                    schema.fields[i].name,
                    function.map_or("", |f| f.paimon_name())
                )));
            }
        }
        let mut ignore_retract = vec![false; schema.fields.len()];
        for name in &options.ignore_retract_fields {
            let option = format!("fields.{name}.ignore-retract");
            ignore_retract[field_index(name, &option)?] = true;
        }

        if engine == MergeEngine::FirstRow
            && matches!(
                options.changelog_producer,
                ChangelogProducer::Input | ChangelogProducer::FullCompaction
            )
        {
            return Err(invalid(format!(
                "merge-engine first-row supports changelog-producer none or lookup, not {}",
                options.changelog_producer.paimon_name()
            )));
        }

        Ok(Self {
            engine,
            aggregates,
            ignore_retract,
            is_key,
            field_names: schema.fields.iter().map(|f| f.name.clone()).collect(),
            sequence_field,
            ignore_delete: options.ignore_delete,
        })
    }

    /// Plain deduplicate: the newest record wins outright, so callers may skip the general fold.
    pub(crate) fn is_last_wins(&self) -> bool {
        self.engine == MergeEngine::Deduplicate && self.sequence_field.is_none()
    }

    /// Deduplicate with `sequence.field` must remember deletes: a later-arriving record with a
    /// smaller sequence value must still lose to the delete. Such tombstones are never dropped.
    pub(crate) fn keeps_tombstones(&self) -> bool {
        self.engine == MergeEngine::Deduplicate && self.sequence_field.is_some()
    }

    /// One written record as a partial result; `None` when the engine ignores it
    /// (`ignore-delete`). Errors when the engine cannot accept it.
    pub(crate) fn lift(&self, kind: RowKind, row: Row) -> Result<Option<Merged>, TableError> {
        let retract = !kind.is_add();
        if retract && self.ignore_delete {
            return Ok(None);
        }
        let insert = |row: Row| {
            Ok(Some(Merged {
                kind: RowKind::Insert,
                row,
            }))
        };
        match self.engine {
            MergeEngine::Deduplicate => Ok(Some(Merged {
                kind: if retract {
                    RowKind::Delete
                } else {
                    RowKind::Insert
                },
                row,
            })),
            MergeEngine::PartialUpdate | MergeEngine::FirstRow if retract => {
                Err(TableError::DeleteNotSupported {
                    engine: self.engine.paimon_name().to_string(),
                })
            }
            MergeEngine::PartialUpdate | MergeEngine::FirstRow => insert(row),
            MergeEngine::Aggregation => {
                let mut lifted = row;
                for (i, value) in lifted.iter_mut().enumerate() {
                    let Some(function) = self.aggregates[i] else {
                        continue;
                    };
                    *value = self.lift_field(i, function, *value, retract)?;
                }
                insert(lifted)
            }
        }
    }

    /// One value of a written record as an aggregate's partial (`NULL` contributes nothing).
    fn lift_field(
        &self,
        index: usize,
        function: AggregateFunction,
        value: i64,
        retract: bool,
    ) -> Result<i64, TableError> {
        if value == NULL {
            return Ok(NULL);
        }
        if retract && self.ignore_retract[index] {
            return Ok(NULL);
        }
        Ok(match (function, retract) {
            (AggregateFunction::Count, false) => 1,
            (AggregateFunction::Count, true) => -1,
            (AggregateFunction::Sum, true) => value.wrapping_neg(),
            (_, false) => value,
            (function, true) => {
                return Err(TableError::RetractNotSupported {
                    field: self.field_names[index].clone(),
                    function: function.paimon_name().to_string(),
                });
            }
        })
    }

    /// Folds `newer` (written after everything in `older`) into `older`.
    ///
    /// # Panics
    /// If the two rows differ in width (records of one table always agree).
    pub(crate) fn combine(&self, older: &mut Merged, newer: Merged) {
        assert_eq!(
            older.row.len(),
            newer.row.len(),
            "merged records have one value per field"
        );
        match self.engine {
            MergeEngine::Deduplicate => match self.sequence_field {
                // Ties on the sequence field go to the later write.
                Some(field) if newer.row[field] < older.row[field] => {}
                _ => *older = newer,
            },
            MergeEngine::FirstRow => {}
            MergeEngine::PartialUpdate => {
                for (i, value) in newer.row.into_iter().enumerate() {
                    if value != NULL && !self.is_key[i] {
                        older.row[i] = value;
                    }
                }
            }
            MergeEngine::Aggregation => {
                for (i, value) in newer.row.into_iter().enumerate() {
                    if let Some(function) = self.aggregates[i] {
                        older.row[i] = combine_field(function, older.row[i], value);
                    }
                }
            }
        }
    }
}

fn combine_field(function: AggregateFunction, older: i64, newer: i64) -> i64 {
    if newer == NULL {
        return older;
    }
    if older == NULL {
        return newer;
    }
    match function {
        AggregateFunction::Sum | AggregateFunction::Count => older.wrapping_add(newer),
        AggregateFunction::Min => older.min(newer),
        AggregateFunction::Max => older.max(newer),
        AggregateFunction::LastNonNullValue => newer,
    }
}
