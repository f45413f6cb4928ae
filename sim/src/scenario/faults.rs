//! `[[faults]]`: what happens to the warehouse at a time of the chaos phase, each fault parsed
//! into the one shape its kind takes (a crash has a target, a partition two hosts, a latency
//! spike a latency...). Which hosts exist is the topology's to say: checked once the whole
//! scenario is read.

use serde::{Deserialize, Serialize};

use crate::scenario::units::{Millis, SkewMillis};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultKind {
    /// Crash `target` at `at`, restart it after `duration`.
    Crash,
    /// Cut the link between the two hosts of `between` at `at`, heal after `duration`.
    Partition,
    /// Drop messages from `between[0]` to `between[1]` only (replies the other way still flow).
    #[serde(rename = "partition-oneway")]
    PartitionOneway,
    /// Raise the link's message latency up to `latency` (a latency spike).
    Latency,
    /// Move `target`'s wall clock by `skew` ("+30s", "-2min"): snapshot times, file names and
    /// time-based retention read it.
    #[serde(rename = "clock-skew")]
    ClockSkew,
    /// `target`'s disk (`dfs` or `tt`) fails each write and read with probability `rate`.
    #[serde(rename = "disk-errors")]
    DiskErrors,
    /// `target`'s disk takes `latency` longer for every request.
    #[serde(rename = "disk-slow")]
    DiskSlow,
    /// `target`'s disk is full: every write fails with "no space left on device".
    #[serde(rename = "disk-full")]
    DiskFull,
}

impl FaultKind {
    pub const ALL: [FaultKind; 8] = [
        FaultKind::Crash,
        FaultKind::Partition,
        FaultKind::PartitionOneway,
        FaultKind::Latency,
        FaultKind::ClockSkew,
        FaultKind::DiskErrors,
        FaultKind::DiskSlow,
        FaultKind::DiskFull,
    ];

    /// The name scenarios use.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Crash => "crash",
            FaultKind::Partition => "partition",
            FaultKind::PartitionOneway => "partition-oneway",
            FaultKind::Latency => "latency",
            FaultKind::ClockSkew => "clock-skew",
            FaultKind::DiskErrors => "disk-errors",
            FaultKind::DiskSlow => "disk-slow",
            FaultKind::DiskFull => "disk-full",
        }
    }

    /// Whether the fault takes `between` (a link) rather than `target` (a host).
    pub fn is_link_fault(self) -> bool {
        matches!(
            self,
            FaultKind::Partition | FaultKind::PartitionOneway | FaultKind::Latency
        )
    }
}

/// One `[[faults]]` entry: when it starts, how long it lasts, and what it does.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(try_from = "RawFault", into = "RawFault")]
pub struct FaultSpec {
    pub at: Millis,
    pub duration: Millis,
    pub effect: FaultEffect,
}

/// What a fault does, with exactly the parameters its kind needs.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultEffect {
    /// Crash `target`; it restarts when the fault heals.
    Crash { target: String },
    /// Cut the link between the two hosts both ways.
    Partition { between: [String; 2] },
    /// Drop messages from `between[0]` to `between[1]` only.
    PartitionOneway { between: [String; 2] },
    /// Raise the link's message latency up to `latency`.
    Latency {
        between: [String; 2],
        latency: Millis,
    },
    /// Move `target`'s wall clock by `skew`.
    ClockSkew { target: String, skew: SkewMillis },
    /// `target`'s disk fails each request with probability `rate`.
    DiskErrors { target: String, rate: f64 },
    /// `target`'s disk takes `latency` longer for every request.
    DiskSlow { target: String, latency: Millis },
    /// `target`'s disk is full.
    DiskFull { target: String },
}

impl FaultEffect {
    pub fn kind(&self) -> FaultKind {
        match self {
            Self::Crash { .. } => FaultKind::Crash,
            Self::Partition { .. } => FaultKind::Partition,
            Self::PartitionOneway { .. } => FaultKind::PartitionOneway,
            Self::Latency { .. } => FaultKind::Latency,
            Self::ClockSkew { .. } => FaultKind::ClockSkew,
            Self::DiskErrors { .. } => FaultKind::DiskErrors,
            Self::DiskSlow { .. } => FaultKind::DiskSlow,
            Self::DiskFull { .. } => FaultKind::DiskFull,
        }
    }

    /// The host a host fault hits.
    pub fn target(&self) -> Option<&str> {
        match self {
            Self::Crash { target }
            | Self::ClockSkew { target, .. }
            | Self::DiskErrors { target, .. }
            | Self::DiskSlow { target, .. }
            | Self::DiskFull { target } => Some(target),
            Self::Partition { .. } | Self::PartitionOneway { .. } | Self::Latency { .. } => None,
        }
    }

    /// The two hosts a link fault hits.
    pub fn between(&self) -> Option<&[String; 2]> {
        match self {
            Self::Partition { between }
            | Self::PartitionOneway { between }
            | Self::Latency { between, .. } => Some(between),
            _ => None,
        }
    }

    /// Every host the fault names.
    pub fn hosts(&self) -> Vec<&str> {
        let mut hosts: Vec<&str> = self.target().into_iter().collect();
        hosts.extend(self.between().into_iter().flatten().map(String::as_str));
        hosts
    }
}

impl FaultSpec {
    pub fn kind(&self) -> FaultKind {
        self.effect.kind()
    }

    /// When the fault heals: `at` + `duration` (both bounded, so this cannot overflow).
    pub fn end(&self) -> Millis {
        Millis(self.at.0 + self.duration.0)
    }
}

/// A `[[faults]]` entry as written: the kind and whichever keys were given.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    at: Millis,
    kind: FaultKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    between: Option<Vec<String>>,
    duration: Millis,
    /// `latency` and `disk-slow`: the added latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    latency: Option<Millis>,
    /// `clock-skew`: the signed offset, like "+30s" or "-2min".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    skew: Option<SkewMillis>,
    /// `disk-errors`: the probability that one disk request fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rate: Option<f64>,
}

impl TryFrom<RawFault> for FaultSpec {
    type Error = String;

    fn try_from(raw: RawFault) -> Result<Self, String> {
        let kind = raw.kind.name();
        let at = raw.at;
        let context = |message: String| format!("[[faults]] (at {at}): {message}");
        let no = |key: &str, present: bool| {
            if present {
                Err(context(format!("a {kind} fault takes no `{key}`")))
            } else {
                Ok(())
            }
        };
        if raw.duration.0 == 0 {
            return Err(context("`duration` must be positive".into()));
        }
        no(
            "latency",
            raw.latency.is_some() && !matches!(raw.kind, FaultKind::Latency | FaultKind::DiskSlow),
        )?;
        no(
            "skew",
            raw.skew.is_some() && raw.kind != FaultKind::ClockSkew,
        )?;
        no(
            "rate",
            raw.rate.is_some() && raw.kind != FaultKind::DiskErrors,
        )?;
        let effect = if raw.kind.is_link_fault() {
            if raw.target.is_some() {
                return Err(context(format!(
                    "a {kind} fault takes `between`, not `target`"
                )));
            }
            let between: [String; 2] = raw
                .between
                .and_then(|hosts| hosts.try_into().ok())
                .ok_or_else(|| {
                    context(format!(
                        "a {kind} fault needs `between = [\"host-a\", \"host-b\"]`: two hosts"
                    ))
                })?;
            if between[0] == between[1] {
                return Err(context(format!("a {kind} fault needs two different hosts")));
            }
            match raw.kind {
                FaultKind::Partition => FaultEffect::Partition { between },
                FaultKind::PartitionOneway => FaultEffect::PartitionOneway { between },
                _ => FaultEffect::Latency {
                    between,
                    latency: positive_latency(raw.latency, kind).map_err(context)?,
                },
            }
        } else {
            if raw.between.is_some() {
                return Err(context(format!(
                    "a {kind} fault takes `target`, not `between`"
                )));
            }
            let target = raw
                .target
                .ok_or_else(|| context(format!("a {kind} fault needs `target`")))?;
            match raw.kind {
                FaultKind::Crash => FaultEffect::Crash { target },
                FaultKind::ClockSkew => FaultEffect::ClockSkew {
                    target,
                    skew: raw.skew.ok_or_else(|| {
                        context(
                            "a clock-skew fault needs `skew`, like \"+30s\" or \"-2min\"".into(),
                        )
                    })?,
                },
                FaultKind::DiskErrors => {
                    let rate = raw.rate.ok_or_else(|| {
                        context("a disk-errors fault needs `rate`, like 0.05".into())
                    })?;
                    if !(rate > 0.0 && rate <= 1.0) {
                        return Err(context(format!("`rate = {rate}` must be in (0, 1]")));
                    }
                    FaultEffect::DiskErrors { target, rate }
                }
                FaultKind::DiskSlow => FaultEffect::DiskSlow {
                    target,
                    latency: positive_latency(raw.latency, kind).map_err(context)?,
                },
                _ => FaultEffect::DiskFull { target },
            }
        };
        Ok(Self {
            at,
            duration: raw.duration,
            effect,
        })
    }
}

fn positive_latency(latency: Option<Millis>, kind: &str) -> Result<Millis, String> {
    match latency {
        None => Err(format!("a {kind} fault needs `latency`, like \"500ms\"")),
        Some(latency) if latency.0 == 0 => Err("`latency` must be positive".into()),
        Some(latency) => Ok(latency),
    }
}

impl From<FaultSpec> for RawFault {
    fn from(fault: FaultSpec) -> Self {
        let kind = fault.kind();
        let mut raw = RawFault {
            at: fault.at,
            kind,
            target: fault.effect.target().map(str::to_string),
            between: fault.effect.between().map(|pair| pair.to_vec()),
            duration: fault.duration,
            latency: None,
            skew: None,
            rate: None,
        };
        match fault.effect {
            FaultEffect::Latency { latency, .. } | FaultEffect::DiskSlow { latency, .. } => {
                raw.latency = Some(latency)
            }
            FaultEffect::ClockSkew { skew, .. } => raw.skew = Some(skew),
            FaultEffect::DiskErrors { rate, .. } => raw.rate = Some(rate),
            _ => {}
        }
        raw
    }
}
