//! Ollama's scheduler (server-apis.md A5), and the simulator's disk: which models are installed,
//! whose blobs are on disk, which are in the page cache, and which runners are loaded.
//!
//! - A request for a loaded, compatible runner takes it at once (the fast path). Anything that
//!   needs a load goes through one pending queue of `max_queue` places (full: 503), handled one
//!   request at a time, as Ollama's `processPending` does.
//! - A load that does not fit (`max_loaded_models` reached, or not enough memory: a new model
//!   must fit in memory and, with others loaded, in 80% of what is free) evicts an idle runner,
//!   least recently used first; with none idle it marks the busy runner with the shortest
//!   keep-alive and waits for its requests to finish. The queue waits behind it.
//! - Each runner has `num_parallel` slots; further requests wait for a slot without limit.
//! - When the last request on a runner ends, its keep-alive timer starts; a reaper task unloads
//!   expired runners. `keep_alive` 0 unloads right after the last request.
//! - A changed `num_ctx` needs a reload, so the old runner is unloaded once idle.
//! - An unload is not instant: the runner process is stopped and its memory handed back, so an
//!   unloading runner stays in `/api/ps` (and keeps its memory) for `UNLOAD_SECONDS` before it
//!   is gone, as Ollama's does after `done_reason: "unload"`. Requests for it wait, then
//!   reload; a load that needs its memory waits too.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{mpsc, oneshot, watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::catalogue::CatalogueModel;
use super::clock::Clock;
use super::keep_alive::KeepAlive;
use super::profile::Profile;
use super::transfers::{FlowKind, Offline, Transfers};

/// How long an unloading runner stays listed (simulated seconds): Ollama's runner is still in
/// `/api/ps` a few tens of milliseconds after it answered an unload.
pub(crate) const UNLOAD_SECONDS: f64 = 0.04;

/// What the scheduler needs from the configuration.
#[derive(Debug, Clone)]
pub(crate) struct SchedulerSettings {
    pub profile: &'static Profile,
    pub clock: Clock,
    pub num_parallel: usize,
    pub max_loaded_models: usize,
    pub max_queue: usize,
    pub default_num_ctx: u64,
    pub seed: u64,
}

/// Why a request got no runner.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SchedError {
    /// The model is not installed (any more).
    NotFound,
    /// The pending queue is full: 503.
    QueueFull,
    /// The load failed or the server is stopping.
    Failed(String),
}

/// An installed model (a manifest on disk).
#[derive(Debug, Clone)]
pub(crate) struct Installed {
    pub model: &'static CatalogueModel,
    pub modified_at: DateTime<Utc>,
}

/// One row of `/api/ps`.
#[derive(Debug, Clone)]
pub(crate) struct RunnerView {
    pub name: String,
    pub model: &'static CatalogueModel,
    pub size: u64,
    pub size_vram: u64,
    pub expires_at: DateTime<Utc>,
    pub context_length: u64,
}

#[derive(Debug, Clone, PartialEq)]
enum LoadState {
    Loading,
    Ready,
    Failed(String),
}

struct Runner {
    id: u64,
    model: &'static CatalogueModel,
    num_ctx: u64,
    size: u64,
    size_vram: u64,
    /// Decode slows when part of the model had to stay in system memory.
    offload_slowdown: f64,
    load: watch::Sender<LoadState>,
    refs: usize,
    keep_alive: KeepAlive,
    /// When an idle runner unloads; `None` while in use, loading, or kept forever.
    expires_at: Option<Instant>,
    /// Unload as soon as nothing uses it (unload request, eviction, reload).
    expire_when_idle: bool,
    /// Unloading: it leaves `/api/ps` and frees its memory at this instant.
    unloading_at: Option<Instant>,
    last_used: Instant,
    slots: Arc<Semaphore>,
    streams: Arc<AtomicUsize>,
}

impl Runner {
    fn idle(&self) -> bool {
        self.refs == 0 && *self.load.borrow() != LoadState::Loading
    }

    /// Idle and not already on its way out: a runner that can be told to unload.
    fn evictable(&self) -> bool {
        self.idle() && self.unloading_at.is_none()
    }
}

#[derive(Default)]
struct State {
    installed: BTreeMap<String, Installed>,
    /// Catalogue names whose blobs are on disk.
    blobs: HashSet<&'static str>,
    /// Page-cached model files, least recently used first: (catalogue name, bytes).
    page_cache: Vec<(&'static str, u64)>,
    runners: BTreeMap<String, Runner>,
    next_runner_id: u64,
}

struct Pending {
    name: String,
    model: &'static CatalogueModel,
    keep_alive: KeepAlive,
    num_ctx: u64,
    reply: oneshot::Sender<Result<Lease, SchedError>>,
}

enum Placement {
    Placed(Lease),
    Failed(SchedError),
    Wait,
}

/// The scheduler and disk state of one simulator.
pub(crate) struct Scheduler {
    settings: SchedulerSettings,
    transfers: Arc<Transfers>,
    state: Mutex<State>,
    pending: mpsc::Sender<Pending>,
    pending_rx: Mutex<Option<mpsc::Receiver<Pending>>>,
    /// Bumped whenever a runner unloads or becomes ready: the pending queue re-checks.
    runners_changed: watch::Sender<u64>,
    /// Wakes the reaper when an expiry time changes.
    reaper: Notify,
    rng: Mutex<StdRng>,
    cancel: CancellationToken,
}

impl Scheduler {
    pub(crate) fn new(
        settings: SchedulerSettings,
        transfers: Arc<Transfers>,
        cancel: CancellationToken,
    ) -> Arc<Self> {
        let (pending, pending_rx) = mpsc::channel(settings.max_queue.max(1));
        let (runners_changed, _) = watch::channel(0);
        let rng = StdRng::seed_from_u64(settings.seed ^ 0x7363_6865_6475_6c65);
        Arc::new(Scheduler {
            settings,
            transfers,
            state: Mutex::new(State::default()),
            pending,
            pending_rx: Mutex::new(Some(pending_rx)),
            runners_changed,
            reaper: Notify::new(),
            rng: Mutex::new(rng),
            cancel,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts the pending-queue and keep-alive tasks; they stop with the cancel token.
    pub(crate) fn start(self: &Arc<Self>) {
        let receiver = self
            .pending_rx
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(receiver) = receiver {
            tokio::spawn(Arc::clone(self).process_pending(receiver));
            tokio::spawn(Arc::clone(self).reap());
        }
    }

    // ----- disk -----

    /// The installed model of this normalized name.
    pub(crate) fn installed(&self, name: &str) -> Option<&'static CatalogueModel> {
        self.lock()
            .installed
            .get(name)
            .map(|installed| installed.model)
    }

    /// Every installed model, newest first (as `/api/tags` sorts).
    pub(crate) fn installed_models(&self) -> Vec<(String, Installed)> {
        let mut models: Vec<(String, Installed)> = self
            .lock()
            .installed
            .iter()
            .map(|(name, installed)| (name.clone(), installed.clone()))
            .collect();
        models.sort_by_key(|model| std::cmp::Reverse(model.1.modified_at));
        models
    }

    /// Writes the manifest of `name`: the model is installed (its blobs are on disk).
    pub(crate) fn install(&self, name: &str, model: &'static CatalogueModel) {
        let mut state = self.lock();
        state.blobs.insert(model.name);
        state.installed.insert(
            name.to_string(),
            Installed {
                model,
                modified_at: Utc::now(),
            },
        );
    }

    /// Whether the blobs of `model` are on disk (a pull of it is not a download).
    pub(crate) fn blobs_present(&self, model: &CatalogueModel) -> bool {
        self.lock().blobs.contains(model.name)
    }

    /// Marks the blobs of `model` as downloaded (written to storage, not page-cached).
    pub(crate) fn blobs_downloaded(&self, model: &'static CatalogueModel) {
        self.lock().blobs.insert(model.name);
    }

    /// Deletes `name`; a loaded runner of it unloads once idle. False when not installed.
    pub(crate) fn delete(&self, name: &str) -> bool {
        let mut state = self.lock();
        let Some(installed) = state.installed.remove(name) else {
            return false;
        };
        let still_used = state
            .installed
            .values()
            .any(|other| other.model.name == installed.model.name);
        if !still_used {
            state.blobs.remove(installed.model.name);
            state
                .page_cache
                .retain(|(cached, _)| *cached != installed.model.name);
        }
        self.expire_locked(&mut state, name);
        true
    }

    fn page_cached(state: &State, model: &CatalogueModel) -> bool {
        state.page_cache.iter().any(|(name, _)| *name == model.name)
    }

    fn touch_page_cache(&self, state: &mut State, model: &'static CatalogueModel) {
        state.page_cache.retain(|(name, _)| *name != model.name);
        state.page_cache.push((model.name, model.weights_bytes()));
        let capacity = self.settings.profile.page_cache_bytes;
        while state.page_cache.len() > 1
            && state.page_cache.iter().map(|(_, bytes)| bytes).sum::<u64>() > capacity
        {
            state.page_cache.remove(0);
        }
    }

    // ----- runners -----

    /// Streams decoding on every runner right now (the GPU source's utilisation).
    pub(crate) fn decoding_streams(&self) -> usize {
        let state = self.lock();
        state
            .runners
            .values()
            .map(|r| r.streams.load(Ordering::Relaxed))
            .sum()
    }

    /// `/api/ps`: every loaded or loading runner, latest expiry first.
    pub(crate) fn running(&self) -> Vec<RunnerView> {
        let state = self.lock();
        let now = Instant::now();
        let wall_now = Utc::now();
        let mut rows: Vec<(Instant, RunnerView)> = state
            .runners
            .iter()
            .map(|(name, runner)| {
                let expires = match (runner.unloading_at.or(runner.expires_at), runner.keep_alive) {
                    (Some(at), _) => Some(at),
                    (None, KeepAlive::Forever) => None,
                    (None, keep_alive) => Some(
                        self.settings
                            .clock
                            .deadline_after(now, keep_alive.seconds().unwrap_or(0.0)),
                    ),
                };
                let (sort_key, expires_at) = match expires {
                    Some(at) => {
                        let left = at.saturating_duration_since(now);
                        let wall = chrono::Duration::from_std(left)
                            .ok()
                            .and_then(|left| wall_now.checked_add_signed(left))
                            .unwrap_or(wall_now);
                        (at, wall)
                    }
                    None => {
                        // Go adds math.MaxInt64 nanoseconds: about 292 years.
                        let forever = chrono::Duration::nanoseconds(i64::MAX);
                        let wall = wall_now.checked_add_signed(forever).unwrap_or(wall_now);
                        (
                            super::clock::add(now, std::time::Duration::from_secs(1 << 40)),
                            wall,
                        )
                    }
                };
                (
                    sort_key,
                    RunnerView {
                        name: name.clone(),
                        model: runner.model,
                        size: runner.size,
                        size_vram: runner.size_vram,
                        expires_at,
                        context_length: runner.num_ctx,
                    },
                )
            })
            .collect();
        rows.sort_by_key(|row| std::cmp::Reverse(row.0));
        rows.into_iter().map(|(_, view)| view).collect()
    }

    /// A runner of `name` for a request. Fast when it is loaded and compatible; otherwise the
    /// request waits in the pending queue (503 when full) until a load places it.
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        name: &str,
        model: &'static CatalogueModel,
        keep_alive: KeepAlive,
        num_ctx: Option<u64>,
    ) -> Result<Lease, SchedError> {
        let num_ctx = self.effective_num_ctx(model, num_ctx);
        {
            let mut state = self.lock();
            if !state.installed.contains_key(name) {
                return Err(SchedError::NotFound);
            }
            if let Some(runner) = state.runners.get_mut(name) {
                let ready = *runner.load.borrow() == LoadState::Ready;
                if ready && !runner.expire_when_idle && runner.num_ctx == num_ctx {
                    return Ok(self.lease_locked(name, runner, keep_alive));
                }
            }
        }
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            name: name.to_string(),
            model,
            keep_alive,
            num_ctx,
            reply,
        };
        match self.pending.try_send(pending) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => return Err(SchedError::QueueFull),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                return Err(SchedError::Failed("server is shutting down".into()))
            }
        }
        answer
            .await
            .unwrap_or_else(|_| Err(SchedError::Failed("server is shutting down".into())))
    }

    fn effective_num_ctx(&self, model: &CatalogueModel, requested: Option<u64>) -> u64 {
        requested
            .filter(|n| *n > 0)
            .unwrap_or(self.settings.default_num_ctx)
            .min(model.context_length)
            .max(1)
    }

    fn lease_locked(
        self: &Arc<Self>,
        name: &str,
        runner: &mut Runner,
        keep_alive: KeepAlive,
    ) -> Lease {
        runner.refs += 1;
        runner.expires_at = None;
        runner.keep_alive = keep_alive;
        runner.last_used = Instant::now();
        Lease {
            scheduler: Arc::clone(self),
            name: name.to_string(),
            runner_id: runner.id,
            load: runner.load.subscribe(),
            slots: Arc::clone(&runner.slots),
            streams: Arc::clone(&runner.streams),
            offload_slowdown: runner.offload_slowdown,
        }
    }

    /// Unload request (`keep_alive: 0` with an empty prompt): now if idle, else once idle.
    pub(crate) fn request_unload(&self, name: &str) {
        let mut state = self.lock();
        self.expire_locked(&mut state, name);
    }

    fn expire_locked(&self, state: &mut State, name: &str) {
        let Some(runner) = state.runners.get_mut(name) else {
            return;
        };
        runner.expire_when_idle = true;
        if runner.idle() {
            self.unload_locked(state, name);
        }
    }

    /// Starts unloading an idle runner; the reaper removes it `UNLOAD_SECONDS` later.
    fn unload_locked(&self, state: &mut State, name: &str) {
        let Some(runner) = state.runners.get_mut(name) else {
            return;
        };
        if runner.unloading_at.is_some() {
            return;
        }
        runner.expire_when_idle = true;
        runner.expires_at = None;
        runner.unloading_at = Some(
            self.settings
                .clock
                .deadline_after(Instant::now(), UNLOAD_SECONDS),
        );
        self.reaper.notify_one();
    }

    /// Removes runners whose unload has finished by `now`: their memory is free.
    fn sweep_unloaded_locked(&self, state: &mut State, now: Instant) {
        let before = state.runners.len();
        state
            .runners
            .retain(|_, runner| runner.unloading_at.is_none_or(|at| at > now));
        if state.runners.len() != before {
            self.runners_changed
                .send_modify(|generation| *generation += 1);
        }
    }

    fn release(&self, name: &str, runner_id: u64) {
        let mut state = self.lock();
        let Some(runner) = state.runners.get_mut(name).filter(|r| r.id == runner_id) else {
            return;
        };
        runner.refs = runner.refs.saturating_sub(1);
        runner.last_used = Instant::now();
        if runner.refs == 0 && *runner.load.borrow() == LoadState::Ready {
            self.start_idle_locked(&mut state, name);
        }
    }

    /// The runner just became idle: unload it, or start its keep-alive timer.
    fn start_idle_locked(&self, state: &mut State, name: &str) {
        let Some(runner) = state.runners.get_mut(name) else {
            return;
        };
        if runner.expire_when_idle || runner.keep_alive.is_zero() {
            self.unload_locked(state, name);
            return;
        }
        runner.expires_at = runner
            .keep_alive
            .seconds()
            .map(|seconds| self.settings.clock.deadline_after(Instant::now(), seconds));
        // A busy runner marked for eviction may have left the queue waiting for memory.
        self.runners_changed
            .send_modify(|generation| *generation += 1);
        self.reaper.notify_one();
    }

    async fn reap(self: Arc<Self>) {
        loop {
            let next = {
                let mut state = self.lock();
                let now = Instant::now();
                let expired: Vec<String> = state
                    .runners
                    .iter()
                    .filter(|(_, r)| r.refs == 0 && r.expires_at.is_some_and(|at| at <= now))
                    .map(|(name, _)| name.clone())
                    .collect();
                for name in expired {
                    self.unload_locked(&mut state, &name);
                }
                self.sweep_unloaded_locked(&mut state, now);
                state
                    .runners
                    .values()
                    .filter_map(|r| r.unloading_at.or(r.expires_at.filter(|_| r.refs == 0)))
                    .min()
            };
            let sleep_until = next.unwrap_or_else(|| {
                super::clock::add(Instant::now(), std::time::Duration::from_secs(3600))
            });
            tokio::select! {
                _ = tokio::time::sleep_until(sleep_until) => {}
                _ = self.reaper.notified() => {}
                _ = self.cancel.cancelled() => return,
            }
        }
    }

    async fn process_pending(self: Arc<Self>, mut receiver: mpsc::Receiver<Pending>) {
        loop {
            let mut pending = tokio::select! {
                next = receiver.recv() => match next {
                    Some(pending) => pending,
                    None => return,
                },
                _ = self.cancel.cancelled() => return,
            };
            let mut changed = self.runners_changed.subscribe();
            loop {
                if pending.reply.is_closed() {
                    break;
                }
                changed.borrow_and_update();
                match self.place(&pending) {
                    Placement::Placed(lease) => {
                        // If the requester left meanwhile, the lease drops and releases itself.
                        let _ = pending.reply.send(Ok(lease));
                        break;
                    }
                    Placement::Failed(error) => {
                        let _ = pending.reply.send(Err(error));
                        break;
                    }
                    Placement::Wait => {
                        tokio::select! {
                            _ = changed.changed() => {}
                            _ = pending.reply.closed() => break,
                            _ = self.cancel.cancelled() => return,
                        }
                    }
                }
            }
        }
    }

    /// One attempt to place a pending request; evicts idle runners as needed.
    fn place(self: &Arc<Self>, pending: &Pending) -> Placement {
        let mut state = self.lock();
        if !state.installed.contains_key(&pending.name) {
            return Placement::Failed(SchedError::NotFound);
        }
        if let Some(runner) = state.runners.get_mut(&pending.name) {
            if runner.unloading_at.is_some() {
                return Placement::Wait;
            }
            let usable = !runner.expire_when_idle
                && runner.num_ctx == pending.num_ctx
                && !matches!(*runner.load.borrow(), LoadState::Failed(_));
            if usable {
                return Placement::Placed(self.lease_locked(
                    &pending.name,
                    runner,
                    pending.keep_alive,
                ));
            }
            // Needs a reload (or is on its way out): wait until it has unloaded.
            runner.expire_when_idle = true;
            if runner.idle() {
                self.unload_locked(&mut state, &pending.name);
            }
            return Placement::Wait;
        }
        let profile = self.settings.profile;
        let gpu = profile.has_gpu();
        let needed =
            pending
                .model
                .loaded_bytes(pending.num_ctx, self.settings.num_parallel as u64, gpu);
        let capacity = profile.model_memory_bytes();
        let used: u64 = state.runners.values().map(|r| r.size).sum();
        let free = capacity.saturating_sub(used);
        let fits = state.runners.is_empty()
            || (state.runners.len() < self.settings.max_loaded_models
                && needed <= free
                && needed as f64 <= 0.8 * free as f64);
        if fits {
            return Placement::Placed(self.create_runner_locked(&mut state, pending, needed));
        }
        // Evict an idle runner, least recently used first, and wait until its memory is back.
        let idle = state
            .runners
            .iter()
            .filter(|(_, r)| r.evictable())
            .min_by_key(|(_, r)| r.last_used)
            .map(|(name, _)| name.clone());
        if let Some(victim) = idle {
            self.unload_locked(&mut state, &victim);
            return Placement::Wait;
        }
        if state.runners.values().any(|r| r.unloading_at.is_some()) {
            return Placement::Wait;
        }
        // Everything is busy: mark the one with the shortest keep-alive, wait for it.
        if !state.runners.values().any(|r| r.expire_when_idle) {
            let victim = state
                .runners
                .iter()
                .min_by(|a, b| {
                    let key = |r: &Runner| r.keep_alive.seconds().unwrap_or(f64::INFINITY);
                    key(a.1).total_cmp(&key(b.1)).then_with(|| a.0.cmp(b.0))
                })
                .map(|(name, _)| name.clone());
            if let Some(victim) = victim {
                if let Some(runner) = state.runners.get_mut(&victim) {
                    runner.expire_when_idle = true;
                }
            }
        }
        Placement::Wait
    }

    fn create_runner_locked(
        self: &Arc<Self>,
        state: &mut State,
        pending: &Pending,
        needed: u64,
    ) -> Lease {
        let (size_vram, offload_slowdown) = placement(self.settings.profile, needed);
        let id = state.next_runner_id;
        state.next_runner_id += 1;
        let (load, _) = watch::channel(LoadState::Loading);
        let mut runner = Runner {
            id,
            model: pending.model,
            num_ctx: pending.num_ctx,
            size: needed,
            size_vram,
            offload_slowdown,
            load,
            refs: 0,
            keep_alive: pending.keep_alive,
            expires_at: None,
            expire_when_idle: false,
            unloading_at: None,
            last_used: Instant::now(),
            slots: Arc::new(Semaphore::new(self.settings.num_parallel.max(1))),
            streams: Arc::new(AtomicUsize::new(0)),
        };
        let lease = self.lease_locked(&pending.name, &mut runner, pending.keep_alive);
        let cold = !Self::page_cached(state, pending.model);
        state.runners.insert(pending.name.clone(), runner);
        tokio::spawn(Arc::clone(self).load(pending.name.clone(), id, pending.model, cold));
        lease
    }

    /// Loads a runner: storage (cold) or page cache (warm), then GPU initialisation.
    async fn load(
        self: Arc<Self>,
        name: String,
        runner_id: u64,
        model: &'static CatalogueModel,
        cold: bool,
    ) {
        let clock = self.settings.clock;
        let draws = {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            LoadDraws::draw(&mut rng)
        };
        let plan = load_plan(self.settings.profile, model, cold, draws);
        let work = async {
            // Each phase starts at the previous one's exact end: late wake-ups do not add up.
            if plan.latency_seconds > 0.0 {
                let latency_done = clock.deadline_after(Instant::now(), plan.latency_seconds);
                tokio::time::sleep_until(latency_done).await;
            }
            let read_done = self.transfers.start(plan.read, plan.bytes).finished().await;
            tokio::time::sleep_until(clock.deadline_after(read_done, plan.init_seconds)).await;
        };
        let finished = tokio::select! {
            _ = work => true,
            _ = self.cancel.cancelled() => false,
        };
        let mut state = self.lock();
        if !finished {
            // Waiting requests must not hang on a load that will never end.
            if let Some(runner) = state.runners.get_mut(&name).filter(|r| r.id == runner_id) {
                runner
                    .load
                    .send_replace(LoadState::Failed("server is shutting down".into()));
            }
            return;
        }
        self.touch_page_cache(&mut state, model);
        let Some(runner) = state.runners.get_mut(&name).filter(|r| r.id == runner_id) else {
            return;
        };
        runner.load.send_replace(LoadState::Ready);
        runner.last_used = Instant::now();
        if runner.refs == 0 {
            self.start_idle_locked(&mut state, &name);
        }
        self.runners_changed
            .send_modify(|generation| *generation += 1);
    }
}

/// Where a runner of `needed` bytes goes on `profile`: its bytes in GPU memory, and how much
/// slower it decodes because layers that did not fit are decoded by the CPU.
pub(crate) fn placement(profile: &Profile, needed: u64) -> (u64, f64) {
    if profile.has_gpu() {
        let vram = needed.min(profile.gpu_memory_bytes);
        let on_cpu = 1.0 - vram as f64 / needed.max(1) as f64;
        // Layers left in system memory are decoded by the CPU, several times slower.
        (vram, 1.0 + 5.0 * on_cpu)
    } else {
        (0, 1.0)
    }
}

/// The seeded random factors of one load, each drawn from its range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LoadDraws {
    /// Scales the storage's first-access latency (cold loads).
    pub latency: f64,
    /// Scales the bytes read.
    pub read: f64,
    /// Scales the GPU initialisation.
    pub init: f64,
}

impl LoadDraws {
    const LATENCY: (f64, f64) = (0.97, 1.03);
    const READ: (f64, f64) = (0.98, 1.02);
    const INIT: (f64, f64) = (0.95, 1.05);

    fn draw(rng: &mut StdRng) -> Self {
        let mut from = |(low, high): (f64, f64)| rng.gen_range(low..high);
        LoadDraws {
            latency: from(Self::LATENCY),
            read: from(Self::READ),
            init: from(Self::INIT),
        }
    }

    /// Every factor at its low end (the fastest load), 1 (nominal) or its high end.
    pub(crate) fn at(end: super::model::End) -> Self {
        let pick = |range: (f64, f64)| end.pick(range);
        LoadDraws {
            latency: pick(Self::LATENCY),
            read: pick(Self::READ),
            init: pick(Self::INIT),
        }
    }
}

/// What one load does: wait out the storage's first-access latency (cold only), read the
/// weights from storage (cold) or the page cache (warm), then initialise the GPU. Simulated
/// seconds and bytes; the read shares its device with whatever else runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LoadPlan {
    pub latency_seconds: f64,
    pub read: FlowKind,
    pub bytes: f64,
    pub init_seconds: f64,
}

/// The plan of one load of `model` on `profile`.
pub(crate) fn load_plan(
    profile: &Profile,
    model: &CatalogueModel,
    cold: bool,
    draws: LoadDraws,
) -> LoadPlan {
    LoadPlan {
        latency_seconds: if cold {
            profile.storage_latency_seconds * draws.latency
        } else {
            0.0
        },
        read: if cold {
            FlowKind::StorageRead
        } else {
            FlowKind::CacheRead
        },
        bytes: model.weights_bytes() as f64 * draws.read,
        init_seconds: profile.gpu_init_seconds * draws.init,
    }
}

/// The modelled duration of a load (simulated seconds) on `machine`, which is left as the
/// load leaves it.
pub(crate) fn load_seconds(machine: &mut Offline, plan: &LoadPlan) -> f64 {
    machine.idle(plan.latency_seconds);
    let read = machine.transfer(plan.read, plan.bytes);
    machine.idle(plan.init_seconds);
    plan.latency_seconds + read + plan.init_seconds
}

/// A request's hold on a runner: keeps it loaded; dropping it starts the keep-alive timer.
pub(crate) struct Lease {
    scheduler: Arc<Scheduler>,
    name: String,
    runner_id: u64,
    load: watch::Receiver<LoadState>,
    slots: Arc<Semaphore>,
    streams: Arc<AtomicUsize>,
    pub offload_slowdown: f64,
}

impl Lease {
    /// Waits until the runner has loaded.
    pub(crate) async fn ready(&mut self) -> Result<(), SchedError> {
        loop {
            match &*self.load.borrow_and_update() {
                LoadState::Ready => return Ok(()),
                LoadState::Failed(why) => return Err(SchedError::Failed(why.clone())),
                LoadState::Loading => {}
            }
            if self.load.changed().await.is_err() {
                return Err(SchedError::Failed(
                    "model runner was unloaded while loading".into(),
                ));
            }
        }
    }

    /// Waits for one of the runner's `num_parallel` slots.
    pub(crate) async fn slot(&self) -> Result<OwnedSemaphorePermit, SchedError> {
        Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .map_err(|_| SchedError::Failed("model runner stopped".into()))
    }

    /// Counts this request among the runner's decoding streams while the guard lives.
    pub(crate) fn stream(&self) -> StreamGuard {
        self.streams.fetch_add(1, Ordering::Relaxed);
        StreamGuard {
            streams: Arc::clone(&self.streams),
        }
    }

    /// Streams decoding on this runner right now (batching slows each a little).
    pub(crate) fn streams_now(&self) -> usize {
        self.streams.load(Ordering::Relaxed).max(1)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.scheduler.release(&self.name, self.runner_id);
    }
}

/// See [`Lease::stream`].
pub(crate) struct StreamGuard {
    streams: Arc<AtomicUsize>,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.streams.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::catalogue::find_model;
    use crate::sim::profile::find_profile;

    const SCALE: f64 = 0.001;

    fn scheduler() -> Arc<Scheduler> {
        let profile = find_profile("t4").expect("the t4 profile");
        let clock = Clock::new(SCALE);
        Scheduler::new(
            SchedulerSettings {
                profile,
                clock,
                num_parallel: 1,
                max_loaded_models: 3,
                max_queue: 8,
                default_num_ctx: 4096,
                seed: 1,
            },
            Transfers::new(profile, clock),
            CancellationToken::new(),
        )
    }

    fn pending(model: &'static CatalogueModel) -> Pending {
        let (reply, _) = oneshot::channel();
        Pending {
            name: model.name.to_string(),
            model,
            keep_alive: KeepAlive::default(),
            num_ctx: 4096,
            reply,
        }
    }

    // A current-thread runtime runs the reaper only when the test awaits, and the unload part
    // never awaits: each step sees exactly the state the test made, at instants it chooses.
    #[tokio::test(flavor = "current_thread")]
    async fn an_unloaded_runner_lingers_in_ps_then_frees_its_place() {
        let scheduler = scheduler();
        let model = find_model("smollm2:135m").expect("smollm2 in the catalogue");
        scheduler.install(model.name, model);
        scheduler.start();
        let mut lease = scheduler
            .acquire(model.name, model, KeepAlive::default(), None)
            .await
            .expect("a runner");
        lease.ready().await.expect("loaded");
        drop(lease);

        let asked = Instant::now();
        scheduler.request_unload(model.name);
        let listed: Vec<String> = scheduler.running().into_iter().map(|r| r.name).collect();
        assert_eq!(listed, [model.name], "still in /api/ps while unloading");
        let gone_at = scheduler
            .lock()
            .runners
            .get(model.name)
            .and_then(|runner| runner.unloading_at)
            .expect("unloading");
        let linger = gone_at - asked;
        assert!(
            linger >= Clock::new(SCALE).real(UNLOAD_SECONDS)
                && linger < Clock::new(SCALE).real(UNLOAD_SECONDS) * 50,
            "{linger:?}"
        );
        // A second unload request does not push the end back.
        scheduler.request_unload(model.name);
        assert_eq!(
            scheduler
                .lock()
                .runners
                .get(model.name)
                .and_then(|r| r.unloading_at),
            Some(gone_at)
        );
        // A request for the model waits for the unload instead of reusing the runner.
        assert!(matches!(scheduler.place(&pending(model)), Placement::Wait));

        let mut changed = scheduler.runners_changed.subscribe();
        changed.borrow_and_update();
        {
            let mut state = scheduler.lock();
            let just_before = gone_at - std::time::Duration::from_nanos(1);
            scheduler.sweep_unloaded_locked(&mut state, just_before);
            assert_eq!(state.runners.len(), 1);
            scheduler.sweep_unloaded_locked(&mut state, gone_at);
            assert!(state.runners.is_empty());
        }
        assert!(
            changed.has_changed().unwrap_or(false),
            "the pending queue hears of the freed memory"
        );
        assert!(scheduler.running().is_empty());
        assert!(matches!(
            scheduler.place(&pending(model)),
            Placement::Placed(_)
        ));
    }
}
