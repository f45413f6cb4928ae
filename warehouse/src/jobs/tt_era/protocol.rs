//! The TT-era stores' wire protocol: the batch job's overwrite of a period, and serving's report
//! query. Text lines, as the store's own log: few, small messages.

use crate::jobs::tt_era::store::{RowKey, RowSums};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreRequest {
    /// Replace the rows of the minutes in [start_ms, end_ms) with `rows`.
    Overwrite {
        start_ms: i64,
        end_ms: i64,
        rows: Vec<(RowKey, RowSums)>,
    },
    /// An advertiser's sums over the minutes in [from_ms, to_ms).
    Query {
        advertiser_id: i64,
        from_ms: i64,
        to_ms: i64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreResponse {
    Ok,
    /// The sums and the wall ms of the store's last real-time put (0 before the first).
    Sums {
        sums: RowSums,
        last_realtime_write_ms: i64,
    },
    Error(String),
}

fn parse_numbers(text: &str) -> Option<Vec<i64>> {
    text.split_whitespace().map(|n| n.parse().ok()).collect()
}

impl StoreRequest {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Overwrite {
                start_ms,
                end_ms,
                rows,
            } => {
                let mut text = format!("O {start_ms} {end_ms}\n");
                for (k, s) in rows {
                    text.push_str(&format!(
                        "{} {} {} {} {} {} {} {}\n",
                        k[0], k[1], k[2], s[0], s[1], s[2], s[3], s[4]
                    ));
                }
                text.into_bytes()
            }
            Self::Query {
                advertiser_id,
                from_ms,
                to_ms,
            } => format!("Q {advertiser_id} {from_ms} {to_ms}\n").into_bytes(),
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "store request is not UTF-8")?;
        let mut lines = text.lines();
        let head = lines.next().ok_or("empty store request")?;
        let (tag, rest) = head.split_at(head.find(' ').ok_or("store request has no fields")?);
        let head = parse_numbers(rest).ok_or_else(|| format!("bad store request `{head}`"))?;
        match (tag, head.as_slice()) {
            ("O", [start_ms, end_ms]) => {
                let mut rows = Vec::new();
                for line in lines {
                    let n = parse_numbers(line).ok_or_else(|| format!("bad row `{line}`"))?;
                    if n.len() != 8 {
                        return Err(format!("bad row `{line}`"));
                    }
                    rows.push(([n[0], n[1], n[2]], [n[3], n[4], n[5], n[6], n[7]]));
                }
                Ok(Self::Overwrite {
                    start_ms: *start_ms,
                    end_ms: *end_ms,
                    rows,
                })
            }
            ("Q", [advertiser_id, from_ms, to_ms]) => Ok(Self::Query {
                advertiser_id: *advertiser_id,
                from_ms: *from_ms,
                to_ms: *to_ms,
            }),
            _ => Err(format!("unknown store request `{tag}`")),
        }
    }
}

impl StoreResponse {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Ok => b"ok".to_vec(),
            Self::Sums {
                sums,
                last_realtime_write_ms,
            } => format!(
                "sums {} {} {} {} {} {last_realtime_write_ms}",
                sums[0], sums[1], sums[2], sums[3], sums[4]
            )
            .into_bytes(),
            Self::Error(reason) => format!("error {reason}").into_bytes(),
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "store response is not UTF-8")?;
        if text == "ok" {
            return Ok(Self::Ok);
        }
        if let Some(reason) = text.strip_prefix("error ") {
            return Ok(Self::Error(reason.to_string()));
        }
        let n = text
            .strip_prefix("sums ")
            .and_then(parse_numbers)
            .filter(|n| n.len() == 6)
            .ok_or_else(|| format!("bad store response `{text}`"))?;
        Ok(Self::Sums {
            sums: [n[0], n[1], n[2], n[3], n[4]],
            last_realtime_write_ms: n[5],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_responses_round_trip() {
        let overwrite = StoreRequest::Overwrite {
            start_ms: 0,
            end_ms: 60_000,
            rows: vec![([1, 2, 0], [3, 4, 5, 6, 7])],
        };
        assert_eq!(
            StoreRequest::decode(&overwrite.encode()).unwrap(),
            overwrite
        );
        let query = StoreRequest::Query {
            advertiser_id: 9,
            from_ms: 1,
            to_ms: 2,
        };
        assert_eq!(StoreRequest::decode(&query.encode()).unwrap(), query);
        let sums = StoreResponse::Sums {
            sums: [1, 2, 3, 4, 5],
            last_realtime_write_ms: 6,
        };
        assert_eq!(StoreResponse::decode(&sums.encode()).unwrap(), sums);
        assert!(StoreRequest::decode(b"X 1").is_err());
    }
}
