//! `[traffic]`: the ad servers' event rate (a diurnal baseline times spikes), the ad mix, late
//! and duplicated logs; and the rate and phase of traffic at a moment of the run.

use serde::Deserialize;

use crate::scenario::locate::{KeyPath, Step};
use crate::scenario::units::{Millis, ms};
use crate::scenario::{Invalid, Scenario, ensure};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficSection {
    #[serde(default = "default_partitions")]
    pub partitions: u32,
    pub baseline_events_per_s: f64,
    #[serde(default)]
    pub spikes: Vec<Spike>,
    #[serde(default = "default_batch_interval")]
    pub batch_interval: Millis,
    #[serde(default = "default_advertisers")]
    pub advertisers: u32,
    #[serde(default = "default_campaigns")]
    pub campaigns_per_advertiser: u32,
    /// Zipf exponent of advertiser and campaign popularity: 0 uniform, ~1 a few hot advertisers.
    #[serde(default = "default_advertiser_skew")]
    pub advertiser_skew: f64,
    #[serde(default = "default_click_share")]
    pub click_share: f64,
    #[serde(default = "default_conversion_share")]
    pub conversion_share_of_clicks: f64,
    #[serde(default = "default_invalid_share")]
    pub invalid_share: f64,
    /// Share of appended batches whose acknowledgement is lost, so the producer retries them.
    #[serde(default = "default_duplicate_share")]
    pub duplicate_batch_share: f64,
    /// Event time trails production time by up to this much.
    #[serde(default = "default_event_delay")]
    pub max_event_delay: Millis,
    /// Events the producer buffers while TT is unreachable; beyond it the producer blocks.
    #[serde(default = "default_producer_buffer")]
    pub producer_buffer_events: usize,
    /// Diurnal baseline: the rate swings by this share around the baseline over a day (0: flat).
    #[serde(default)]
    pub diurnal_amplitude: f64,
    /// Local hour (0..24) of the diurnal peak.
    #[serde(default = "default_diurnal_peak_hour")]
    pub diurnal_peak_hour: f64,
    /// Offset of local time from UTC, hours (China: 8).
    #[serde(default = "default_utc_offset_hours")]
    pub utc_offset_hours: f64,
    /// Clicks whose log arrives late (SDK batching, offline devices).
    #[serde(default)]
    pub late_clicks: LateClicks,
    /// How long after its click a conversion is logged; it keeps its click's event time, so it
    /// is attributed to the click's minute.
    #[serde(default)]
    pub conversion_delay: DelaySpec,
    /// Stale copies of events a lagging log shipper sends again (off by default).
    #[serde(default)]
    pub stale_resends: StaleResends,
    /// Production events each simulated event stands for (1: the simulation is the
    /// production scale). The cost model charges DWD's work per represented record and byte,
    /// and size-driven behaviour (DWD's target file size and small-file bound, TT retention by
    /// size) is scaled to it; the checkers stay exact on the simulated events.
    #[serde(default = "default_represents")]
    pub represents: u64,
}

/// The largest `represents`: a billion production events per simulated event.
pub const REPRESENTS_MAX: u64 = 1_000_000_000;

fn default_represents() -> u64 {
    1
}

/// A share of events sent to TT a second time, `delay` after the original, by a log shipper
/// whose clock runs `clock_behind` slow: same `event_id` and fields, an earlier `event_time`.
/// With `[dwd] sequence.field = "event_time"` the DWD table keeps the original.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StaleResends {
    #[serde(default)]
    pub share: f64,
    #[serde(default)]
    pub delay: Millis,
    #[serde(default)]
    pub clock_behind: Millis,
}

/// A delay distribution: exponential with this `median`, truncated at `max`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DelaySpec {
    #[serde(default)]
    pub median: Millis,
    #[serde(default)]
    pub max: Millis,
}

impl DelaySpec {
    /// The delay for a uniform draw in [0, 1): inverse CDF of the truncated exponential.
    pub fn sample_ms(&self, uniform: f64) -> i64 {
        if self.median.0 <= 0 || self.max.0 <= 0 {
            return 0;
        }
        let mean = self.median.0 as f64 / std::f64::consts::LN_2;
        let covered = 1.0 - (-(self.max.0 as f64) / mean).exp();
        let delay = -mean * (1.0 - uniform * covered).ln();
        (delay.round() as i64).clamp(0, self.max.0)
    }

    fn check(&self, section: &str) -> Result<(), Invalid> {
        ensure(
            self.median <= self.max,
            section,
            "median",
            format!(
                "[{section}] median = \"{}\" must not exceed max = \"{}\"",
                self.median, self.max
            ),
        )?;
        ensure(
            self.max.0 <= 48 * 3_600_000,
            section,
            "max",
            format!("[{section}] max = \"{}\" must be at most 48h", self.max),
        )
    }
}

/// A share of clicks logged late, with their delay.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LateClicks {
    #[serde(default)]
    pub share: f64,
    #[serde(default)]
    pub median: Millis,
    #[serde(default)]
    pub max: Millis,
}

impl LateClicks {
    pub fn delay(&self) -> DelaySpec {
        DelaySpec {
            median: self.median,
            max: self.max,
        }
    }
}

fn default_partitions() -> u32 {
    4
}
fn default_batch_interval() -> Millis {
    ms("200ms")
}
fn default_advertisers() -> u32 {
    50
}
fn default_campaigns() -> u32 {
    4
}
fn default_advertiser_skew() -> f64 {
    1.0
}
fn default_click_share() -> f64 {
    0.03
}
fn default_conversion_share() -> f64 {
    0.1
}
fn default_invalid_share() -> f64 {
    0.001
}
fn default_duplicate_share() -> f64 {
    0.02
}
fn default_event_delay() -> Millis {
    ms("2s")
}
fn default_producer_buffer() -> usize {
    2_000_000
}
fn default_diurnal_peak_hour() -> f64 {
    21.0
}
fn default_utc_offset_hours() -> f64 {
    8.0
}

/// Where in the traffic's story a moment falls (see [`Scenario::phase_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrafficPhase {
    Baseline,
    Ramp,
    Peak,
    Decay,
    Liveness,
}

impl TrafficPhase {
    pub fn name(self) -> &'static str {
        match self {
            Self::Baseline => "baseline",
            Self::Ramp => "ramp",
            Self::Peak => "peak",
            Self::Decay => "decay",
            Self::Liveness => "liveness",
        }
    }
}

/// A traffic spike: ramp up to `multiple` × baseline, hold for `peak`, decay back.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spike {
    pub start: Millis,
    pub ramp: Millis,
    pub peak: Millis,
    pub decay: Millis,
    pub multiple: f64,
}

impl TrafficSection {
    pub(crate) fn check(&self) -> Result<(), Invalid> {
        const TRAFFIC: &str = "traffic";
        ensure(
            (1..=REPRESENTS_MAX).contains(&self.represents),
            TRAFFIC,
            "represents",
            format!(
                "[traffic] represents = {} must be between 1 and {REPRESENTS_MAX}: production events per simulated event",
                self.represents
            ),
        )?;
        ensure(
            (1..=1024).contains(&self.partitions),
            TRAFFIC,
            "partitions",
            "[traffic] partitions must be between 1 and 1024",
        )?;
        ensure(
            (0.0..=1e7).contains(&self.baseline_events_per_s),
            TRAFFIC,
            "baseline_events_per_s",
            "[traffic] baseline_events_per_s must be between 0 and 10000000",
        )?;
        for (key, share) in [
            ("click_share", self.click_share),
            (
                "conversion_share_of_clicks",
                self.conversion_share_of_clicks,
            ),
            ("invalid_share", self.invalid_share),
            ("duplicate_batch_share", self.duplicate_batch_share),
            ("diurnal_amplitude", self.diurnal_amplitude),
        ] {
            ensure(
                (0.0..=1.0).contains(&share),
                TRAFFIC,
                key,
                format!("[traffic] {key} = {share} must be between 0 and 1"),
            )?;
        }
        for (section, share) in [
            ("traffic.late_clicks", self.late_clicks.share),
            ("traffic.stale_resends", self.stale_resends.share),
        ] {
            let name = section.trim_start_matches("traffic.");
            ensure(
                (0.0..=1.0).contains(&share),
                section,
                "share",
                format!("[traffic] {name}.share = {share} must be between 0 and 1"),
            )?;
        }
        let resends = &self.stale_resends;
        ensure(
            resends.share == 0.0 || (resends.delay.0 > 0 && resends.clock_behind.0 > 0),
            "traffic.stale_resends",
            "share",
            "[traffic.stale_resends] share > 0 needs a positive `delay` (when the copy is sent) and `clock_behind` (how much earlier its event_time is), like delay = \"20s\", clock_behind = \"2min\"",
        )?;
        ensure(
            (0.0..=4.0).contains(&self.advertiser_skew),
            TRAFFIC,
            "advertiser_skew",
            format!(
                "[traffic] advertiser_skew = {} must be between 0 (uniform) and 4",
                self.advertiser_skew
            ),
        )?;
        ensure(
            (0.0..24.0).contains(&self.diurnal_peak_hour),
            TRAFFIC,
            "diurnal_peak_hour",
            format!(
                "[traffic] diurnal_peak_hour = {} must be a local hour in [0, 24)",
                self.diurnal_peak_hour
            ),
        )?;
        ensure(
            (-12.0..=14.0).contains(&self.utc_offset_hours),
            TRAFFIC,
            "utc_offset_hours",
            format!(
                "[traffic] utc_offset_hours = {} must be between -12 and 14",
                self.utc_offset_hours
            ),
        )?;
        self.conversion_delay.check("traffic.conversion_delay")?;
        self.late_clicks.delay().check("traffic.late_clicks")?;
        ensure(
            self.late_clicks.share == 0.0 || self.late_clicks.max.0 > 0,
            "traffic.late_clicks",
            "share",
            "[traffic.late_clicks] share > 0 needs a `max` delay (and a `median`), like max = \"30min\"",
        )?;
        ensure(
            self.advertisers >= 1,
            TRAFFIC,
            "advertisers",
            "[traffic] advertisers and campaigns_per_advertiser must be at least 1",
        )?;
        ensure(
            self.campaigns_per_advertiser >= 1,
            TRAFFIC,
            "campaigns_per_advertiser",
            "[traffic] advertisers and campaigns_per_advertiser must be at least 1",
        )?;
        ensure(
            self.batch_interval.0 >= 1,
            TRAFFIC,
            "batch_interval",
            "[traffic] batch_interval must be at least 1ms: the producer sends a batch every interval",
        )?;
        ensure(
            self.producer_buffer_events >= 1,
            TRAFFIC,
            "producer_buffer_events",
            "[traffic] producer_buffer_events must be at least 1: a producer with no buffer cannot send",
        )?;
        for (index, spike) in self.spikes.iter().enumerate() {
            let at = |key: &str| {
                KeyPath(vec![
                    Step::Key("traffic".into()),
                    Step::Key("spikes".into()),
                    Step::Index(index),
                    Step::Key(key.into()),
                ])
            };
            if !(spike.multiple.is_finite() && (0.0..=1e4).contains(&spike.multiple)) {
                return Err(Invalid {
                    key: at("multiple"),
                    message: format!(
                        "[[traffic.spikes]] #{} multiple = {} must be between 0 and 10000",
                        index + 1,
                        spike.multiple
                    ),
                });
            }
            if spike.start.0 + spike.ramp.0 + spike.peak.0 + spike.decay.0 > Millis::MAX.0 {
                return Err(Invalid {
                    key: at("start"),
                    message: format!(
                        "[[traffic.spikes]] #{} ends after {}: start + ramp + peak + decay is too long",
                        index + 1,
                        Millis::MAX
                    ),
                });
            }
        }
        Ok(())
    }
}

impl Scenario {
    /// The diurnal factor at `t_ms` into the run: 1 + amplitude × cos(hours from the local peak).
    pub fn diurnal_factor(&self, t_ms: i64) -> f64 {
        let traffic = &self.traffic;
        if traffic.diurnal_amplitude == 0.0 {
            return 1.0;
        }
        let utc_hours = (self.run.epoch_ms + t_ms) as f64 / 3_600_000.0;
        let local_hour = (utc_hours + traffic.utc_offset_hours).rem_euclid(24.0);
        let phase = (local_hour - traffic.diurnal_peak_hour) / 24.0 * std::f64::consts::TAU;
        1.0 + traffic.diurnal_amplitude * phase.cos()
    }

    /// The traffic phase an event produced at `t_ms` belongs to, for freshness per phase:
    /// inside a spike its ramp, peak or decay; after the chaos phase `liveness`; else `baseline`.
    pub fn phase_at(&self, t_ms: i64) -> TrafficPhase {
        if t_ms >= self.run.chaos.0 {
            return TrafficPhase::Liveness;
        }
        for spike in &self.traffic.spikes {
            let since = t_ms - spike.start.0;
            if since < 0 {
                continue;
            }
            if since < spike.ramp.0 {
                return TrafficPhase::Ramp;
            }
            if since < spike.ramp.0 + spike.peak.0 {
                return TrafficPhase::Peak;
            }
            if since < spike.ramp.0 + spike.peak.0 + spike.decay.0 {
                return TrafficPhase::Decay;
            }
        }
        TrafficPhase::Baseline
    }

    /// Traffic rate (events/s) at `t_ms` into the run: the diurnal baseline times the largest
    /// active spike.
    pub fn rate_at(&self, t_ms: i64) -> f64 {
        let base = self.traffic.baseline_events_per_s * self.diurnal_factor(t_ms);
        let mut factor: f64 = 1.0;
        for spike in &self.traffic.spikes {
            let since = (t_ms - spike.start.0) as f64;
            let (ramp, peak, decay) = (
                spike.ramp.0 as f64,
                spike.peak.0 as f64,
                spike.decay.0 as f64,
            );
            let level = if since < 0.0 {
                0.0
            } else if since < ramp {
                since / ramp
            } else if since < ramp + peak {
                1.0
            } else if since < ramp + peak + decay {
                1.0 - (since - ramp - peak) / decay
            } else {
                0.0
            };
            factor = factor.max(1.0 + (spike.multiple - 1.0) * level);
        }
        base * factor
    }
}
