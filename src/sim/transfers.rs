//! Shared bandwidth as a fluid model: registry downloads, cold loads (storage reads) and warm
//! loads (page-cache reads) are flows whose rates follow from what else is running.
//!
//! - Downloads share the network equally. They land in a write-back buffer (dirty page cache)
//!   that storage drains; once the buffer is full, storage write speed limits them.
//! - Download write-back and cold loads share one storage device. `n` users of it get
//!   `floor + (1 - floor) / sqrt(n)` of its bandwidth together, split equally: interleaved I/O
//!   is slower than one sequential stream, so aggregate throughput degrades with concurrency.
//!   This is what makes the reference's multi-user scaling come out (3 users ~50%).
//! - Warm loads share the page-cache bandwidth the same way.
//!
//! Rates are piecewise constant between events (a flow starts or ends, the buffer fills or
//! empties), so the state is advanced exactly and lazily whenever someone looks. Time inside is
//! simulated seconds; the clock's time scale converts to real time. [`Offline`] runs the same
//! model without a clock, for the performance model's plain functions (`super::model`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;
use tokio::time::Instant;

use super::clock::Clock;
use super::profile::Profile;

/// What a flow moves, and so which resources it shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlowKind {
    /// Registry download: network, then write-back to storage.
    Download,
    /// Cold load: storage read.
    StorageRead,
    /// Warm load: page-cache read.
    CacheRead,
}

#[derive(Debug, Clone)]
struct Flow {
    kind: FlowKind,
    cost: f64,
    remaining: f64,
    done: bool,
    /// When it finished, exactly (not when someone noticed).
    done_at: Option<Instant>,
}

impl Flow {
    fn new(kind: FlowKind, cost: f64) -> Self {
        let cost = cost.max(1.0);
        Flow {
            kind,
            cost,
            remaining: cost,
            done: false,
            done_at: None,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct FluidState {
    flows: BTreeMap<u64, Flow>,
    dirty: f64,
}

struct Shared {
    fluid: FluidState,
    /// Real time up to which `fluid` has been advanced.
    last: Instant,
    next_id: u64,
}

/// Rates (bytes per simulated second) of one instant.
struct Rates {
    flows: Vec<(u64, f64)>,
    dirty: f64,
}

/// The shared network, storage and page cache of one simulated machine.
pub(crate) struct Transfers {
    profile: &'static Profile,
    clock: Clock,
    shared: Mutex<Shared>,
    changed: watch::Sender<u64>,
}

const DONE_BYTES: f64 = 0.5;

impl Transfers {
    pub(crate) fn new(profile: &'static Profile, clock: Clock) -> Arc<Self> {
        let (changed, _) = watch::channel(0);
        Arc::new(Transfers {
            profile,
            clock,
            shared: Mutex::new(Shared {
                fluid: FluidState::default(),
                last: Instant::now(),
                next_id: 0,
            }),
            changed,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panic elsewhere must not wedge the simulator: the state stays usable.
        self.shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts moving `cost` bytes (real bytes times a noise factor).
    pub(crate) fn start(self: &Arc<Self>, kind: FlowKind, cost: f64) -> FlowHandle {
        let mut shared = self.lock();
        self.advance(&mut shared, Instant::now());
        let id = shared.next_id;
        shared.next_id += 1;
        shared.fluid.flows.insert(id, Flow::new(kind, cost));
        drop(shared);
        self.changed.send_modify(|generation| *generation += 1);
        FlowHandle {
            transfers: Arc::clone(self),
            id,
        }
    }

    fn advance(&self, shared: &mut Shared, now: Instant) {
        if now <= shared.last {
            return;
        }
        let dt = self.clock.simulated_seconds(now - shared.last);
        let origin = shared.last;
        shared.last = now;
        self.run(&mut shared.fluid, dt, None, Some(origin));
    }

    /// See [`run`]; finished flows record real instants from `origin` on this clock.
    fn run(
        &self,
        fluid: &mut FluidState,
        dt: f64,
        until: Option<u64>,
        origin: Option<Instant>,
    ) -> f64 {
        run(self.profile, fluid, dt, until, |elapsed| {
            origin.map(|origin| self.clock.deadline_after(origin, elapsed))
        })
    }

    fn progress(&self, id: u64) -> f64 {
        let mut shared = self.lock();
        self.advance(&mut shared, Instant::now());
        match shared.fluid.flows.get(&id) {
            Some(flow) => (1.0 - flow.remaining / flow.cost).clamp(0.0, 1.0),
            None => 1.0,
        }
    }

    /// When flow `id` finished, or when it will if nothing else starts or stops.
    fn finish_time(&self, id: u64) -> Finish {
        let mut shared = self.lock();
        let now = Instant::now();
        self.advance(&mut shared, now);
        match shared.fluid.flows.get(&id) {
            None => return Finish::Done(now),
            Some(flow) if flow.done => return Finish::Done(flow.done_at.unwrap_or(now)),
            Some(_) => {}
        }
        let mut future = shared.fluid.clone();
        drop(shared);
        let simulated = self.run(&mut future, f64::INFINITY, Some(id), None);
        Finish::Expected(self.clock.deadline_after(now, simulated))
    }

    fn remove(&self, id: u64) {
        let mut shared = self.lock();
        self.advance(&mut shared, Instant::now());
        let was_running = shared
            .fluid
            .flows
            .remove(&id)
            .is_some_and(|flow| !flow.done);
        drop(shared);
        if was_running {
            self.changed.send_modify(|generation| *generation += 1);
        }
    }
}

/// The same fluid model with no clock, for the performance model's plain functions: one
/// machine whose network, storage and page cache carry only the flows given to it, one after
/// another, in simulated seconds. State carries over (a download leaves the write-back buffer
/// dirty, and a cold load that follows shares the disk with its drain), as on the server.
#[derive(Debug, Clone)]
pub(crate) struct Offline {
    profile: &'static Profile,
    fluid: FluidState,
    next_id: u64,
}

impl Offline {
    /// An idle machine: nothing moving, the write-back buffer clean.
    pub(crate) fn new(profile: &'static Profile) -> Self {
        Offline {
            profile,
            fluid: FluidState::default(),
            next_id: 0,
        }
    }

    /// Moves `cost` bytes of `kind` while nothing else starts; returns the simulated seconds
    /// it took, exactly as a lone flow of the live model would take.
    pub(crate) fn transfer(&mut self, kind: FlowKind, cost: f64) -> f64 {
        let id = self.next_id;
        self.next_id += 1;
        self.fluid.flows.insert(id, Flow::new(kind, cost));
        let took = run(
            self.profile,
            &mut self.fluid,
            f64::INFINITY,
            Some(id),
            |_| None,
        );
        self.fluid.flows.remove(&id);
        took
    }

    /// Lets `seconds` pass with nothing started (the write-back buffer drains).
    pub(crate) fn idle(&mut self, seconds: f64) {
        if seconds > 0.0 {
            run(self.profile, &mut self.fluid, seconds, None, |_| None);
        }
    }
}

/// Advances `fluid` by `dt` simulated seconds, or until flow `until` is done; returns the
/// simulated time that passed. Finished flows record `finished_at(simulated seconds since the
/// start)`: when exactly they finished, where a clock is in play.
fn run(
    profile: &Profile,
    fluid: &mut FluidState,
    dt: f64,
    until: Option<u64>,
    finished_at: impl Fn(f64) -> Option<Instant>,
) -> f64 {
    let mut elapsed = 0.0;
    for _ in 0..100_000 {
        if let Some(id) = until {
            if fluid.flows.get(&id).is_none_or(|flow| flow.done) {
                return elapsed;
            }
        }
        if elapsed >= dt {
            break;
        }
        let rates = rates(profile, fluid);
        let mut step = dt - elapsed;
        enum Event {
            None,
            Flow(u64),
            Full,
            Empty,
        }
        let mut event = Event::None;
        for &(id, rate) in &rates.flows {
            if rate > 0.0 {
                let t = fluid.flows[&id].remaining / rate;
                if t < step {
                    step = t;
                    event = Event::Flow(id);
                }
            }
        }
        let buffer = profile.write_back_buffer_bytes;
        if rates.dirty > 0.0 && fluid.dirty < buffer {
            let t = (buffer - fluid.dirty) / rates.dirty;
            if t < step {
                step = t;
                event = Event::Full;
            }
        } else if rates.dirty < 0.0 && fluid.dirty > 0.0 {
            let t = fluid.dirty / -rates.dirty;
            if t < step {
                step = t;
                event = Event::Empty;
            }
        }
        if !step.is_finite() {
            // Nothing moves (no flows, clean buffer): time passes without events.
            break;
        }
        let finished = finished_at(elapsed + step);
        for &(id, rate) in &rates.flows {
            if let Some(flow) = fluid.flows.get_mut(&id) {
                flow.remaining -= rate * step;
                if flow.remaining <= DONE_BYTES {
                    flow.remaining = 0.0;
                    flow.done = true;
                    flow.done_at = finished;
                }
            }
        }
        fluid.dirty = (fluid.dirty + rates.dirty * step).clamp(0.0, buffer);
        match event {
            Event::Flow(id) => {
                if let Some(flow) = fluid.flows.get_mut(&id) {
                    flow.remaining = 0.0;
                    flow.done = true;
                    flow.done_at = finished;
                }
            }
            Event::Full => fluid.dirty = buffer,
            Event::Empty => fluid.dirty = 0.0,
            Event::None => {}
        }
        elapsed += step;
    }
    elapsed
}

/// The rate of every running flow and of the write-back buffer's fill.
fn rates(p: &Profile, fluid: &FluidState) -> Rates {
    let active = |kind: FlowKind| {
        fluid
            .flows
            .iter()
            .filter(move |(_, flow)| !flow.done && flow.kind == kind)
            .map(|(id, _)| *id)
    };
    let downloads: Vec<u64> = active(FlowKind::Download).collect();
    let reads: Vec<u64> = active(FlowKind::StorageRead).collect();
    let cache_reads: Vec<u64> = active(FlowKind::CacheRead).collect();
    let writers = if !downloads.is_empty() {
        downloads.len()
    } else if fluid.dirty > 0.0 {
        1
    } else {
        0
    };
    let users = writers + reads.len();
    let share = if users == 0 {
        0.0
    } else {
        contention(p.storage_contention_floor, users) / users as f64
    };
    let mut flows = Vec::with_capacity(downloads.len() + reads.len() + cache_reads.len());
    for &id in &reads {
        flows.push((id, p.storage_read_bytes_per_second * share));
    }
    if !cache_reads.is_empty() {
        let n = cache_reads.len();
        let each =
            p.page_cache_bytes_per_second * contention(p.storage_contention_floor, n) / n as f64;
        flows.extend(cache_reads.iter().map(|&id| (id, each)));
    }
    let writer_capacity = p.storage_write_bytes_per_second * share;
    let drain_capacity = writer_capacity * writers as f64;
    let mut dirty = 0.0;
    if !downloads.is_empty() {
        let network = p.network_bytes_per_second / downloads.len() as f64;
        let full = fluid.dirty >= p.write_back_buffer_bytes;
        let each = if full {
            network.min(writer_capacity)
        } else {
            network
        };
        let inflow = each * downloads.len() as f64;
        let drain = if fluid.dirty > 0.0 {
            drain_capacity
        } else {
            drain_capacity.min(inflow)
        };
        dirty = inflow - drain;
        if full && dirty > 0.0 {
            dirty = 0.0;
        }
        flows.extend(downloads.iter().map(|&id| (id, each)));
    } else if fluid.dirty > 0.0 {
        dirty = -drain_capacity;
    }
    Rates { flows, dirty }
}

enum Finish {
    Done(Instant),
    Expected(Instant),
}

/// Aggregate efficiency of `n` concurrent users of a device.
fn contention(floor: f64, n: usize) -> f64 {
    if n <= 1 {
        1.0
    } else {
        floor + (1.0 - floor) / (n as f64).sqrt()
    }
}

/// One running flow; dropping it before it is done cancels it (a client went away).
pub(crate) struct FlowHandle {
    transfers: Arc<Transfers>,
    id: u64,
}

impl FlowHandle {
    /// Fraction moved so far, 0 to 1.
    pub(crate) fn progress(&self) -> f64 {
        self.transfers.progress(self.id)
    }

    /// Waits until the flow is done; returns when exactly it finished, so that callers can
    /// schedule what follows from that instant rather than from a late wake-up.
    pub(crate) async fn finished(&self) -> Instant {
        let mut changed = self.transfers.changed.subscribe();
        loop {
            changed.borrow_and_update();
            let deadline = match self.transfers.finish_time(self.id) {
                Finish::Done(at) => return at,
                Finish::Expected(at) => at,
            };
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {}
                result = changed.changed() => {
                    if result.is_err() {
                        return Instant::now();
                    }
                }
            }
        }
    }
}

impl Drop for FlowHandle {
    fn drop(&mut self) {
        self.transfers.remove(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::profile::find_profile;

    fn transfers(scale: f64) -> Arc<Transfers> {
        Transfers::new(find_profile("t4").unwrap(), Clock::new(scale))
    }

    fn flow(kind: FlowKind, bytes: f64) -> Flow {
        Flow {
            kind,
            cost: bytes,
            remaining: bytes,
            done: false,
            done_at: None,
        }
    }

    /// Transfers at real speed on the t4 profile, and `flows` (ids 0, 1, ...) in progress.
    fn at_real_speed(flows: &[(FlowKind, f64)]) -> (Arc<Transfers>, &'static Profile, FluidState) {
        let t = transfers(1.0);
        let mut fluid = FluidState::default();
        for (id, &(kind, bytes)) in (0..).zip(flows) {
            fluid.flows.insert(id, flow(kind, bytes));
        }
        let profile = t.profile;
        (t, profile, fluid)
    }

    /// Simulated seconds until flow `id` is done, from `fluid`.
    fn time_to_finish(t: &Transfers, fluid: &FluidState, id: u64) -> f64 {
        let mut future = fluid.clone();
        t.run(&mut future, f64::INFINITY, Some(id), None)
    }

    #[test]
    fn one_download_fills_the_buffer_then_runs_at_storage_speed() {
        let bytes = 4.0e9;
        let (t, p, mut fluid) = at_real_speed(&[(FlowKind::Download, bytes)]);
        let took = time_to_finish(&t, &fluid, 0);
        let fill = p.write_back_buffer_bytes
            / (p.network_bytes_per_second - p.storage_write_bytes_per_second);
        let expected =
            fill + (bytes - fill * p.network_bytes_per_second) / p.storage_write_bytes_per_second;
        assert!((took - expected).abs() < 1e-6, "{took} vs {expected}");
        t.run(&mut fluid, took, None, None);
        assert!((fluid.dirty - p.write_back_buffer_bytes).abs() < 1.0);
        // With no download running, the buffer drains at storage speed.
        fluid.flows.clear();
        t.run(&mut fluid, 1.0, None, None);
        let drained = p.write_back_buffer_bytes - fluid.dirty;
        assert!((drained - p.storage_write_bytes_per_second).abs() < 1.0);
        t.run(&mut fluid, 1e6, None, None);
        assert_eq!(fluid.dirty, 0.0);
    }

    #[test]
    fn concurrent_reads_share_storage_with_contention() {
        let bytes = 1.0e9;
        let (t, p, fluid) = at_real_speed(&[
            (FlowKind::StorageRead, bytes),
            (FlowKind::StorageRead, bytes),
        ]);
        let took = time_to_finish(&t, &fluid, 0);
        let aggregate = p.storage_read_bytes_per_second * contention(p.storage_contention_floor, 2);
        let expected = 2.0 * bytes / aggregate;
        assert!((took - expected).abs() < 1e-6, "{took} vs {expected}");
        assert!(took > 2.0 * bytes / p.storage_read_bytes_per_second);
    }

    #[test]
    fn a_short_flow_ending_speeds_up_the_long_one() {
        let (t, p, fluid) =
            at_real_speed(&[(FlowKind::CacheRead, 1.0e9), (FlowKind::CacheRead, 3.0e9)]);
        let both = p.page_cache_bytes_per_second * contention(p.storage_contention_floor, 2);
        let first = 2.0e9 / both;
        let expected = first + 2.0e9 / p.page_cache_bytes_per_second;
        let took = time_to_finish(&t, &fluid, 1);
        assert!((took - expected).abs() < 1e-6, "{took} vs {expected}");
    }

    #[test]
    fn reads_slow_down_while_downloads_write_back() {
        let (t, p, mut fluid) = at_real_speed(&[(FlowKind::StorageRead, 1.0e9)]);
        let alone = time_to_finish(&t, &fluid, 0);
        fluid.flows.insert(1, flow(FlowKind::Download, 10.0e9));
        let shared = time_to_finish(&t, &fluid, 0);
        assert!((alone - 1.0e9 / p.storage_read_bytes_per_second).abs() < 1e-6);
        assert!(shared > 1.5 * alone, "{shared} vs {alone}");
    }

    #[tokio::test]
    async fn flows_finish_in_scaled_real_time_and_report_progress() {
        // 2.75 GB at 2.75 GB/s is one simulated second: 60 ms at this scale.
        let t = transfers(0.06);
        let start = Instant::now();
        let a = t.start(FlowKind::CacheRead, 2.75e9);
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        let half = a.progress();
        assert!(half > 0.3 && half < 0.8, "{half}");
        a.finished().await;
        let took = start.elapsed().as_secs_f64();
        assert!((0.055..0.2).contains(&took), "{took}");
        assert_eq!(a.progress(), 1.0);
        // A second flow started late is slowed by nothing once the first is done.
        let b = t.start(FlowKind::CacheRead, 2.75e9);
        assert!(b.progress() < 0.5);
        drop(b);
    }
}
