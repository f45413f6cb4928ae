//! Opens an existing table of a Paimon filesystem catalog (`<root>/<db>.db/<table>`) from its own
//! `schema/schema-0`, for tools that read tables they did not create (`dwsim table scan`).

use std::collections::BTreeMap;

use super::partition_expire::PartitionTimeFormat;
use super::schema::SchemaFile;
use super::tag::{TagCreation, TagPeriod};
use super::{
    AggregateFunction, ChangelogProducer, FileCompression, FileStoreTable, MergeEngine, TableError,
    TableOptions, TableSchema,
};
use crate::env::ObjectStore;
use crate::row::{Field, FieldType};

/// The directory of table `db.table` under a filesystem catalog's root, as Paimon lays it out.
pub fn table_root(catalog_root: &str, identifier: &str) -> Result<String, TableError> {
    match identifier.split_once('.') {
        Some((db, table)) if !db.is_empty() && !table.is_empty() && !table.contains('.') => {
            Ok(format!("{catalog_root}/{db}.db/{table}"))
        }
        _ => Err(TableError::InvalidSchema(format!(
            "table identifier `{identifier}` is not of the form <database>.<table>, e.g. ads.dws_ad_minute"
        ))),
    }
}

/// Opens the table at `root` with the schema its schema file declares.
pub async fn open_existing<S: ObjectStore>(
    store: S,
    root: &str,
) -> Result<FileStoreTable<S>, TableError> {
    let path = format!("{root}/schema/schema-0");
    let bytes = store.get(&path).await?.ok_or_else(|| {
        TableError::corrupt(&path, "missing: no Paimon table lives in this directory")
    })?;
    let file: SchemaFile =
        serde_json::from_slice(&bytes).map_err(|e| TableError::corrupt(&path, e))?;
    let schema = schema_from_file(&file, &path)?;
    FileStoreTable::create_or_open(store, root, schema, file.time_millis).await
}

fn schema_from_file(file: &SchemaFile, path: &str) -> Result<TableSchema, TableError> {
    let fields = file
        .fields
        .iter()
        .map(|f| {
            let field_type = match (f.type_name.as_str(), &f.description) {
                ("BIGINT NOT NULL" | "BIGINT", _) => FieldType::BigInt,
                ("STRING NOT NULL" | "STRING", Some(description))
                    if description.starts_with("enum: ") =>
                {
                    FieldType::Enum(
                        description["enum: ".len()..]
                            .split(',')
                            .map(str::to_string)
                            .collect(),
                    )
                }
                (other, _) => {
                    return Err(TableError::SchemaMismatch {
                        path: path.to_string(),
                        reason: format!(
                            "field {} has type {other}, which dwsim's reader does not support",
                            f.name
                        ),
                    });
                }
            };
            Ok(Field {
                name: f.name.clone(),
                field_type,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(TableSchema {
        fields,
        partition_keys: file.partition_keys.clone(),
        primary_keys: file.primary_keys.clone(),
        options: options_from_paimon(&file.options, path)?,
    })
}

/// Every option the store writes to a schema file, from its Paimon name (the inverse of
/// `TableOptions::to_paimon_options`); options dwsim does not model keep their defaults.
fn options_from_paimon(
    options: &BTreeMap<String, String>,
    path: &str,
) -> Result<TableOptions, TableError> {
    let bad = |key: &str, value: &str| TableError::SchemaMismatch {
        path: path.to_string(),
        reason: format!("option {key} = {value:?} is not supported by dwsim's reader"),
    };
    let number = |key: &str, value: &str| value.trim().parse::<u64>().map_err(|_| bad(key, value));
    let millis = |key: &str, value: &str| {
        value
            .trim()
            .strip_suffix("ms")
            .and_then(|n| n.trim().parse::<i64>().ok())
            .ok_or_else(|| bad(key, value))
    };
    let mut result = TableOptions::default();
    let lifecycle = &mut result.lifecycle;
    for (key, value) in options {
        match key.as_str() {
            "bucket" => {
                result.bucket = value
                    .parse()
                    .ok()
                    .filter(|b| *b >= 1)
                    .ok_or_else(|| bad(key, value))?;
            }
            "merge-engine" => {
                result.merge_engine =
                    MergeEngine::from_paimon_name(value).ok_or_else(|| bad(key, value))?;
            }
            "changelog-producer" => {
                result.changelog_producer =
                    ChangelogProducer::from_paimon_name(value).ok_or_else(|| bad(key, value))?;
            }
            "file.compression" => {
                result.file_compression = match value.as_str() {
                    "none" => FileCompression::None,
                    "snappy" => FileCompression::Snappy,
                    _ => return Err(bad(key, value)),
                };
            }
            "manifest.merge-min-count" => {
                result.manifest_merge_min_count = number(key, value)? as usize;
            }
            "num-sorted-run.compaction-trigger" => {
                result.compaction_trigger = number(key, value)? as usize;
            }
            "compaction.max-size-amplification-percent" => {
                result.max_size_amplification_percent = number(key, value)?;
            }
            "compaction.size-ratio" => result.size_ratio_percent = number(key, value)?,
            "write-only" => result.write_only = value == "true",
            "snapshot.num-retained.min" => {
                lifecycle.snapshot_num_retained_min = number(key, value)? as _;
            }
            "snapshot.num-retained.max" => {
                lifecycle.snapshot_num_retained_max = number(key, value)? as _;
            }
            "snapshot.time-retained" => lifecycle.snapshot_time_retained_ms = millis(key, value)?,
            "snapshot.expire.limit" => lifecycle.snapshot_expire_limit = number(key, value)? as _,
            "consumer.expiration-time" => {
                lifecycle.consumer_expiration_time_ms = Some(millis(key, value)?);
            }
            "tag.automatic-creation" => {
                lifecycle.tag_automatic_creation =
                    TagCreation::parse(value).ok_or_else(|| bad(key, value))?;
            }
            "tag.creation-period" => {
                lifecycle.tag_creation_period =
                    TagPeriod::parse(value).ok_or_else(|| bad(key, value))?;
            }
            super::lifecycle::UNSAFE_EXPIRE_DELETE_DATA_BEFORE_SNAPSHOT => {
                lifecycle.unsafe_expire_delete_data_before_snapshot = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(bad(key, value)),
                };
            }
            "partition.expiration-time" => {
                lifecycle.partition_expiration_time_ms = Some(millis(key, value)?);
            }
            "partition.expiration-check-interval" => {
                lifecycle.partition_expiration_check_interval_ms = millis(key, value)?;
            }
            "partition.expiration-max-num" => {
                lifecycle.partition_expiration_max_num = number(key, value)? as _;
            }
            "partition.timestamp-formatter" => {
                lifecycle.partition_timestamp_formatter =
                    Some(PartitionTimeFormat::parse(value).ok_or_else(|| bad(key, value))?);
            }
            "tag.num-retained-max" => {
                lifecycle.tag_num_retained_max = Some(number(key, value)? as _);
            }
            "full-compaction.delta-commits" => {
                result.full_compaction_delta_commits = Some(number(key, value)? as u32);
            }
            "sequence.field" => result.sequence_field = Some(value.clone()),
            super::schema::UNSAFE_LOOKUP_IGNORE_SEQUENCE_FIELD => {
                result.unsafe_lookup_ignore_sequence_field = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(bad(key, value)),
                };
            }
            "ignore-delete" => result.ignore_delete = value == "true",
            "fields.default-aggregate-function" => {
                result.default_aggregate_function = Some(
                    AggregateFunction::from_paimon_name(value).ok_or_else(|| bad(key, value))?,
                );
            }
            _ => {
                let field_option = key
                    .strip_prefix("fields.")
                    .and_then(|rest| rest.rsplit_once('.'));
                match field_option {
                    Some((field, "aggregate-function")) => {
                        let function = AggregateFunction::from_paimon_name(value)
                            .ok_or_else(|| bad(key, value))?;
                        result
                            .field_aggregate_functions
                            .insert(field.to_string(), function);
                    }
                    Some((field, "ignore-retract")) if value == "true" => {
                        result.ignore_retract_fields.insert(field.to_string());
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(result)
}
