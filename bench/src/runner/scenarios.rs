//! The four scenarios (`conn`, `pub`, `sub`, `pubsub`): the phases of a run, from launching
//! clients to the report, built from the client tasks and helpers of the parent module.

use super::*;

fn connect_deadline(launch_end: Instant, session: &SessionPlan, run: &RunPlan) -> Instant {
    launch_end + session.connect_timeout.max(run.duration)
}

/// `starling-bench conn`.
pub async fn run_conn(plan: ConnPlan) -> anyhow::Result<Report> {
    let addr = preflight(&plan.session).await?;
    let (mut interrupt, sig) = interrupt_signal();
    let ctx = Ctx::new(plan.session.max_connecting);
    let reporter = Reporter::spawn(ctx.clone(), plan.count as u64, plan.run.progress);
    let (stop_tx, stop_rx) = watch::channel(false);
    let start = Instant::now();
    let end = start + plan.run.duration;
    reporter.measure(true);
    let mut set = JoinSet::new();
    launch(&mut set, plan.count, plan.session.connect_interval, &mut interrupt, |i| {
        let cfg = client_config(&plan.session, addr, plan.session.client_id("conn", i + 1), READ_BUF_IDLE);
        idle_client(ctx.clone(), cfg, stop_rx.clone())
    })
    .await;
    wait_settled(&ctx, plan.count as u64, end, &mut interrupt).await;
    let phase = start.elapsed();
    reporter.measure(false);
    // Always printed: scripts wait for this line before sampling the broker's memory.
    let ready = ctx.ready.load(Ordering::Relaxed);
    eprintln!("connect phase: {ready}/{} ready in {:.2} s; holding until -d elapses", plan.count, phase.as_secs_f64());
    hold(end, &mut interrupt).await;
    let held = start.elapsed().saturating_sub(phase);
    let _ = stop_tx.send(true);
    let outcomes = collect(&mut set).await;
    // Connect rate comes from the CONNACK times, not from the one-second samples.
    let _ = reporter.finish().await;
    sig.abort();

    let refs: Vec<&Outcome> = outcomes.iter().collect();
    let mut report = base_report("conn", &plan.session, addr);
    report.clients = clients_report(&refs, plan.count, &ctx, start, phase);
    report.load_s = held.as_secs_f64();
    report.errors = ctx.errors();
    report.interrupted = *interrupt.borrow();
    Ok(report)
}

/// Joined publisher outcomes plus the load-phase timing.
struct PubPhase {
    outcomes: Vec<Outcome>,
    load_start: Instant,
    load_s: f64,
}

/// Starts publishers, waits for them to connect, runs the load phase, stops them.
#[allow(clippy::too_many_arguments)]
async fn publish_phase(
    ctx: &Arc<Ctx>,
    reporter: &Reporter,
    session: &SessionPlan,
    run: &RunPlan,
    publish: &Arc<PublishPlan>,
    count: usize,
    addr: SocketAddr,
    settled_before: u64,
    interrupt: &mut Stop,
) -> PubPhase {
    let (go_tx, go_rx) = watch::channel(false);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut set = JoinSet::new();
    launch(&mut set, count, session.connect_interval, interrupt, |i| {
        let cfg = client_config(session, addr, session.client_id("pub", i + 1), READ_BUF_PUB);
        let job = PubJob { idx: i, count, plan: publish.clone(), limit: publish.limit_for(i, count) };
        publisher(ctx.clone(), cfg, job, go_rx.clone(), stop_rx.clone())
    })
    .await;
    wait_settled(ctx, settled_before + count as u64, connect_deadline(Instant::now(), session, run), interrupt).await;

    let load_start = Instant::now();
    reporter.measure(true);
    let _ = go_tx.send(true);
    // Publishers with a limit finish by themselves; everyone stops at -d or Ctrl-C.
    let deadline = load_start + run.duration;
    let mut outcomes = Vec::new();
    loop {
        tokio::select! {
            joined = set.join_next() => match joined {
                Some(Ok(o)) => outcomes.push(o),
                Some(Err(e)) => tracing::error!("bench publisher task failed: {e}"),
                None => break,
            },
            _ = tokio::time::sleep_until(deadline.into()) => break,
            _ = wait_true(interrupt) => break,
        }
    }
    let load_s = load_start.elapsed().as_secs_f64();
    reporter.measure(false);
    let _ = stop_tx.send(true);
    outcomes.extend(collect(&mut set).await);
    PubPhase { outcomes, load_start, load_s }
}

fn sum_latency(outcomes: &[Outcome]) -> Option<LatencySummary> {
    let mut total = latency_histogram();
    for h in outcomes.iter().filter_map(|o| o.latency.as_ref()) {
        // Same bounds everywhere, so adding cannot fail; ignore the impossible error.
        let _ = total.add(h);
    }
    LatencySummary::from_histogram(&total)
}

fn publish_fields(report: &mut Report, publish: &PublishPlan) {
    report.qos = Some(qos_number(publish.qos));
    report.payload_bytes = Some(publish.size);
}

/// `starling-bench pub`.
pub async fn run_pub(plan: PubPlan) -> anyhow::Result<Report> {
    let addr = preflight(&plan.session).await?;
    let (mut interrupt, sig) = interrupt_signal();
    let ctx = Ctx::new(plan.session.max_connecting);
    let reporter = Reporter::spawn(ctx.clone(), plan.count as u64, plan.run.progress);
    let publish = Arc::new(plan.publish.clone());
    let start = Instant::now();
    let phase =
        publish_phase(&ctx, &reporter, &plan.session, &plan.run, &publish, plan.count, addr, 0, &mut interrupt).await;
    let connect_phase = phase.load_start - start;
    let samples = reporter.finish().await;
    sig.abort();

    let refs: Vec<&Outcome> = phase.outcomes.iter().collect();
    let mut report = base_report("pub", &plan.session, addr);
    publish_fields(&mut report, &plan.publish);
    report.publishers = Some(plan.count as u64);
    report.clients = clients_report(&refs, plan.count, &ctx, start, connect_phase);
    let sent: u64 = phase.outcomes.iter().map(|o| o.sent).sum();
    let acked: u64 = phase.outcomes.iter().map(|o| o.acked).sum();
    report.load_s = phase.load_s;
    report.messages = Some(MessagesReport { sent, acked, ..Default::default() });
    report.rates = Some(RatesReport {
        sent_median_per_s: median(&samples.sent_per_s),
        sent_overall_per_s: rate(sent, phase.load_s),
        ..Default::default()
    });
    report.errors = ctx.errors();
    report.interrupted = *interrupt.borrow();
    Ok(report)
}

/// `starling-bench sub`.
pub async fn run_sub(plan: SubPlan) -> anyhow::Result<Report> {
    let addr = preflight(&plan.session).await?;
    let (mut interrupt, sig) = interrupt_signal();
    let ctx = Ctx::new(plan.session.max_connecting);
    let reporter = Reporter::spawn(ctx.clone(), plan.count as u64, plan.run.progress);
    let subscribe = Arc::new(plan.subscribe.clone());
    let (go_tx, go_rx) = watch::channel(false);
    let (stop_tx, stop_rx) = watch::channel(false);
    let start = Instant::now();
    let mut set = JoinSet::new();
    launch(&mut set, plan.count, plan.session.connect_interval, &mut interrupt, |i| {
        let cfg = client_config(&plan.session, addr, plan.session.client_id("sub", i + 1), READ_BUF_SUB);
        let job = SubJob { idx: i, plan: subscribe.clone(), publishers: None };
        subscriber(ctx.clone(), cfg, job, go_rx.clone(), stop_rx.clone())
    })
    .await;
    wait_settled(&ctx, plan.count as u64, connect_deadline(Instant::now(), &plan.session, &plan.run), &mut interrupt)
        .await;
    let load_start = Instant::now();
    let _ = go_tx.send(true);
    reporter.measure(true);
    if plan.run.progress {
        eprintln!("{} subscribers ready; receiving for {:?}", ctx.ready.load(Ordering::Relaxed), plan.run.duration);
    }
    hold(load_start + plan.run.duration, &mut interrupt).await;
    let load_s = load_start.elapsed().as_secs_f64();
    reporter.measure(false);
    let _ = stop_tx.send(true);
    let outcomes = collect(&mut set).await;
    let samples = reporter.finish().await;
    sig.abort();

    let refs: Vec<&Outcome> = outcomes.iter().collect();
    let mut report = base_report("sub", &plan.session, addr);
    report.qos = Some(qos_number(plan.subscribe.qos));
    report.subscribers = Some(plan.count as u64);
    report.clients = clients_report(&refs, plan.count, &ctx, start, load_start - start);
    let received: u64 = outcomes.iter().map(|o| o.received).sum();
    report.load_s = load_s;
    report.messages = Some(MessagesReport { received, ..Default::default() });
    report.rates = Some(RatesReport {
        recv_median_per_s: median(&samples.recv_per_s),
        recv_overall_per_s: rate(received, load_s),
        ..Default::default()
    });
    report.errors = ctx.errors();
    report.interrupted = *interrupt.borrow();
    Ok(report)
}

/// Deliveries the on-time subscriptions should have produced from what was published.
pub(super) fn expected_deliveries(subs: &[Outcome], pubs: &[Outcome]) -> u64 {
    subs.iter()
        .filter(|s| s.on_time)
        .map(|s| pubs.iter().filter(|p| filter_matches(&s.topic, &p.topic)).map(|p| p.sent).sum::<u64>())
        .sum()
}

/// `starling-bench pubsub`: subscribers first, then publishers, then a bounded drain.
pub async fn run_pubsub(plan: PubSubPlan) -> anyhow::Result<Report> {
    let addr = preflight(&plan.session).await?;
    // Subscribers may sit on another cluster node; both ends still share this process's clock.
    let sub_addr = preflight(&plan.sub_session).await?;
    let (mut interrupt, sig) = interrupt_signal();
    let ctx = Ctx::new(plan.session.max_connecting);
    let total = (plan.publishers + plan.subscribers) as u64;
    let reporter = Reporter::spawn(ctx.clone(), total, plan.run.progress);
    let start = Instant::now();

    // Subscribers: all subscribed before the first publish, so `expected` is exact.
    let subscribe = Arc::new(plan.subscribe.clone());
    let (sub_late_tx, sub_late_rx) = watch::channel(false);
    let (sub_stop_tx, sub_stop_rx) = watch::channel(false);
    let mut subs = JoinSet::new();
    let publishers = u32::try_from(plan.publishers).unwrap_or(u32::MAX);
    launch(&mut subs, plan.subscribers, plan.session.connect_interval, &mut interrupt, |i| {
        let cfg = client_config(&plan.sub_session, sub_addr, plan.session.client_id("sub", i + 1), READ_BUF_SUB);
        let job = SubJob { idx: i, plan: subscribe.clone(), publishers: Some(publishers) };
        subscriber(ctx.clone(), cfg, job, sub_late_rx.clone(), sub_stop_rx.clone())
    })
    .await;
    wait_settled(
        &ctx,
        plan.subscribers as u64,
        connect_deadline(Instant::now(), &plan.session, &plan.run),
        &mut interrupt,
    )
    .await;
    // From here on a subscriber that finishes SUBACK is "late" and leaves.
    let _ = sub_late_tx.send(true);
    if !plan.settle.is_zero() {
        hold(Instant::now() + plan.settle, &mut interrupt).await;
    }

    let publish = Arc::new(plan.publish.clone());
    let phase = publish_phase(
        &ctx,
        &reporter,
        &plan.session,
        &plan.run,
        &publish,
        plan.publishers,
        addr,
        plan.subscribers as u64,
        &mut interrupt,
    )
    .await;
    let sent: u64 = phase.outcomes.iter().map(|o| o.sent).sum();

    // Drain: until every expected delivery arrived, nothing arrived for a second, --drain
    // elapsed, or Ctrl-C. Subscribers that are not on time never add to `received`.
    let expected_now = {
        let filters = ctx.ready_filters.lock().unwrap_or_else(|p| p.into_inner());
        filters
            .iter()
            .map(|f| phase.outcomes.iter().filter(|p| filter_matches(f, &p.topic)).map(|p| p.sent).sum::<u64>())
            .sum::<u64>()
    };
    let drain_end = Instant::now() + plan.drain;
    let mut last_seen = ctx.counters.received.load(Ordering::Relaxed);
    let mut last_progress = Instant::now();
    while !*interrupt.borrow() && Instant::now() < drain_end {
        let got = ctx.counters.received.load(Ordering::Relaxed);
        if got >= expected_now {
            break;
        }
        if got != last_seen {
            last_seen = got;
            last_progress = Instant::now();
        } else if last_progress.elapsed() >= DRAIN_QUIET {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(10)) => {}
            _ = wait_true(&mut interrupt) => {}
        }
    }
    let _ = sub_stop_tx.send(true);
    let sub_outcomes = collect(&mut subs).await;
    let samples = reporter.finish().await;
    sig.abort();

    let mut all: Vec<&Outcome> = sub_outcomes.iter().collect();
    all.extend(phase.outcomes.iter());
    let mut report = base_report("pubsub", &plan.session, addr);
    report.sub_target = (sub_addr != addr).then(|| sub_addr.to_string());
    publish_fields(&mut report, &plan.publish);
    report.publishers = Some(plan.publishers as u64);
    report.subscribers = Some(plan.subscribers as u64);
    report.clients = clients_report(&all, plan.publishers + plan.subscribers, &ctx, start, phase.load_start - start);

    let expected = expected_deliveries(&sub_outcomes, &phase.outcomes);
    let received: u64 = sub_outcomes.iter().map(|o| o.received).sum();
    let trackers = sub_outcomes.iter().filter_map(|o| o.delivery.as_ref());
    let (mut unique, mut duplicates, mut out_of_order, mut foreign) = (0, 0, 0, 0);
    for t in trackers {
        unique += t.unique;
        duplicates += t.duplicates;
        out_of_order += t.out_of_order;
        foreign += t.foreign;
    }
    let acked: u64 = phase.outcomes.iter().map(|o| o.acked).sum();
    report.messages = Some(MessagesReport {
        sent,
        acked,
        expected: Some(expected),
        received,
        unique: Some(unique),
        duplicates: Some(duplicates),
        out_of_order: Some(out_of_order),
        lost: Some(expected.saturating_sub(unique)),
        foreign: Some(foreign),
    });
    let last_recv = sub_outcomes.iter().filter_map(|o| o.last_recv).max();
    let recv_span = last_recv.map_or(0.0, |l| l.saturating_duration_since(phase.load_start).as_secs_f64());
    report.load_s = phase.load_s;
    report.rates = Some(RatesReport {
        sent_median_per_s: median(&samples.sent_per_s),
        sent_overall_per_s: rate(sent, phase.load_s),
        recv_median_per_s: median(&samples.recv_per_s),
        recv_overall_per_s: rate(received, recv_span),
    });
    report.latency_us = sum_latency(&sub_outcomes);
    report.errors = ctx.errors();
    report.interrupted = *interrupt.borrow();
    Ok(report)
}
