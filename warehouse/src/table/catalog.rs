//! Opens an existing table of a Paimon filesystem catalog (`<root>/<db>.db/<table>`) from its own
//! `schema/schema-0`, for tools that read tables they did not create (`dwsim table scan`).

use std::collections::BTreeMap;

use super::schema::SchemaFile;
use super::{
    ChangelogProducer, FileCompression, FileStoreTable, MergeEngine, TableError, TableOptions,
    TableSchema,
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
                ("BIGINT NOT NULL", _) => FieldType::BigInt,
                ("STRING NOT NULL", Some(description)) if description.starts_with("enum: ") => {
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
        primary_keys: file.primary_keys.clone(),
        options: options_from_paimon(&file.options, path)?,
    })
}

/// The options a reader needs, from their Paimon names; the rest keep their defaults.
fn options_from_paimon(
    options: &BTreeMap<String, String>,
    path: &str,
) -> Result<TableOptions, TableError> {
    let bad = |key: &str, value: &str| TableError::SchemaMismatch {
        path: path.to_string(),
        reason: format!("option {key} = {value:?} is not supported by dwsim's reader"),
    };
    let mut result = TableOptions::default();
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
                result.merge_engine = match value.as_str() {
                    "deduplicate" => MergeEngine::Deduplicate,
                    _ => return Err(bad(key, value)),
                };
            }
            "changelog-producer" => {
                result.changelog_producer = match value.as_str() {
                    "none" => ChangelogProducer::None,
                    "lookup" => ChangelogProducer::Lookup,
                    _ => return Err(bad(key, value)),
                };
            }
            "file.compression" => {
                result.file_compression = match value.as_str() {
                    "none" => FileCompression::None,
                    "snappy" => FileCompression::Snappy,
                    _ => return Err(bad(key, value)),
                };
            }
            _ => {}
        }
    }
    Ok(result)
}
