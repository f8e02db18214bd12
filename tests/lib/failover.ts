// A Redis master switch under load, for tests/failover.test.ts and the reliability suite: four
// clients enqueue through the API (in-process) while a worker processes; the switch is a
// `SENTINEL FAILOVER` or a SIGKILL of the master.
import { createDb } from '@ceres/db';
import { QueueClient } from '@ceres/queues';
import { waitFor, type RedisSentinelGroup } from '@ceres/testing';
import { Redis } from 'ioredis';
import { buildApp } from '../../apps/api/src/app';
import { loadApiConfig } from '../../apps/api/src/config';
import { createWorkerApp } from '../../apps/worker/src/app';
import { createLogger } from '../../apps/worker/src/deps/logger';
import { configFor, workerEnv, type Peers } from '../../apps/worker/tests/helpers/harness';

const TOKEN = 'failover-token-0123456789';

export interface FailoverRun {
  acknowledged: string[];
  refused: number;
  /** ms from the switch (SENTINEL FAILOVER sent, or the master killed) until the sentinels name the new master. */
  promotedAfterMs: number;
  /** ms after the promotion of the first and last 503. */
  refusedFrom?: number;
  refusedUntil?: number;
  /** ms after the promotion at which the worker completed a job enqueued after it. */
  workerBackAfterMs: number;
  /** ms after the promotion at which the new master had a replica in sync again. */
  replicaBackAfterMs?: number;
  /** ms after the promotion at which the new master had every running node as a replica in sync. */
  allReplicasBackAfterMs?: number;
  /** ms after the promotion of the last 202. */
  lastAckAfterMs: number;
  /** What the sentinels and nodes said over the run (changes only), to explain a failed check. */
  timeline: string[];
  /** Acknowledged jobs that are gone. */
  lost: string[];
  /** Acknowledged jobs that exist but did not complete within 30 s of the end of the load. */
  notCompleted: string[];
}

/** Runs the load, switches the master after 1 s, keeps the load 8 s more, then checks every acknowledged job. */
export async function underLoad(
  peers: Peers,
  group: RedisSentinelGroup,
  mode: 'failover' | 'kill',
  extra: Record<string, string>,
): Promise<FailoverRun> {
  const env = {
    ...workerEnv(peers),
    REDIS_URL: 'redis://127.0.0.1:1',
    ...group.env,
    REDIS_PREFIX: `f${Date.now() % 100000}:`,
    SLACK_WEBHOOK_URL: '',
    ...extra,
  };
  delete (env as Record<string, string>).SLACK_WEBHOOK_URL;
  const worker = createWorkerApp({ config: configFor(env), logger: createLogger('silent') });
  const config = loadApiConfig({ ...env, API_TOKENS: TOKEN, LOG_LEVEL: 'silent', API_RATE_LIMIT_MAX: '1000000' });
  const queues = new QueueClient({ config: config.queues, onWarning: () => {} });
  const db = createDb(config.databaseUrl);
  const api = buildApp({ config, queues, db });
  await Promise.all([worker.started, api.ready(), queues.ready()]);
  const acknowledged: string[] = [];
  const refusedAt: number[] = [];
  let switchedAt = Number.POSITIVE_INFINITY;
  let sequence = 0;
  let stop = false;
  let lastAckAt = 0;
  const client = async () => {
    while (!stop) {
      const key = `fo-${sequence++}`;
      const response = await api.inject({
        method: 'POST',
        url: '/jobs/slack/alert',
        headers: { authorization: `Bearer ${TOKEN}` },
        payload: { text: `failover ${key}`, dedupeKey: key },
      });
      if (response.statusCode === 202) {
        acknowledged.push(response.json().jobId as string);
        lastAckAt = Date.now();
      } else if (response.statusCode === 503) {
        refusedAt.push(Date.now());
        if (process.env.FAILOVER_DEBUG) console.log(Date.now() - switchedAt, response.json().message);
      } else throw new Error(`unexpected ${response.statusCode}: ${response.body}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  const clients = Array.from({ length: 4 }, client);
  let sampling: Promise<void> = Promise.resolve();
  try {
    // Under load before the switch: 100 jobs acknowledged.
    await waitFor(() => acknowledged.length >= 100, { timeoutMs: 15_000, what: '100 jobs acknowledged before the switch' });
    const switchStarted = Date.now();
    const oldMaster = await group.masterPort();
    if (mode === 'failover') await group.failover();
    else {
      await group.nodes.find((node) => node.port === oldMaster)!.kill();
      await waitFor(async () => (await group.masterPort().catch(() => oldMaster)) !== oldMaster, {
        timeoutMs: 20_000,
        intervalMs: 50,
        what: 'the sentinels to promote a replica',
      });
    }
    switchedAt = Date.now();
    const promotedAfterMs = switchedAt - switchStarted;
    // What the nodes say every 100 ms, kept when it changes: the master the sentinels name and
    // each node's role with its replicas in sync. A replica is back once the master the sentinels
    // name (the last one, should they switch twice) lists one online.
    const timeline: Array<{ at: number; master: number; replicaOnline: boolean; allOnline: boolean; text: string }> = [];
    sampling = (async () => {
      const admins = new Map<number, Redis>();
      const admin = (port: number) => {
        if (!admins.has(port))
          admins.set(
            port,
            new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0, lazyConnect: true }).on('error', () => {}),
          );
        return admins.get(port)!;
      };
      try {
        while (!stop) {
          const master = await group.masterPort().catch(() => 0);
          const roles = await Promise.all(
            group.nodes.map(async (node) => {
              const info = await admin(node.port)
                .info('replication')
                .catch(() => '');
              const role = /role:(\w+)/.exec(info)?.[1] ?? 'down';
              const online = [...info.matchAll(/slave\d+:ip=[^,]+,port=(\d+),state=(\w+),offset=(\d+)/g)].map(
                (m) => `${m[1]}:${m[2]}@${m[3]}`,
              );
              const upstream = /master_port:(\d+)/.exec(info)?.[1];
              const link = /master_link_status:(\w+)/.exec(info)?.[1];
              return {
                port: node.port,
                role,
                online,
                text: `${node.port} ${role}${upstream ? `→${upstream}(${link})` : ''}${online.length ? ` [${online.join(' ')}]` : ''}`,
              };
            }),
          );
          const text = `master ${master}; ${roles.map((r) => r.text).join('; ')}`;
          const onlineOfMaster = roles
            .filter((r) => r.port === master && r.role === 'master')
            .flatMap((r) => r.online.filter((o) => o.includes(':online@'))).length;
          const replicaOnline = onlineOfMaster > 0;
          const allOnline = replicaOnline && onlineOfMaster >= roles.filter((r) => r.role !== 'down').length - 1;
          if (timeline.at(-1)?.text.replace(/@\d+/g, '') !== text.replace(/@\d+/g, ''))
            timeline.push({ at: Date.now() - switchedAt, master, replicaOnline, allOnline, text });
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      } finally {
        for (const redis of admins.values()) redis.disconnect();
      }
    })();
    const replicaBackAt = (which: 'replicaOnline' | 'allOnline' = 'replicaOnline'): number | undefined => {
      const lastMaster = timeline.at(-1)?.master;
      const sinceSwitch = timeline.findLastIndex((sample) => sample.master !== lastMaster) + 1;
      return timeline.slice(sinceSwitch).find((sample) => sample[which])?.at;
    };
    // With WAIT all, the API accepts again once every replica is back, not the first.
    const awaited = extra.REDIS_WAIT_REPLICAS === 'all' ? 'allOnline' : 'replicaOnline';
    // Jobs enqueued after the switch, a new one every 500 ms: when does the worker complete one
    // again? (One written in the switch's last moments may be lost, so not a single probe.)
    // Probes go through a client without WAIT: what is measured here is the worker.
    const prober = new QueueClient({ config: { ...config.queues, waitReplicas: 0 }, onWarning: () => {} });
    const slackQueue = prober.getQueue('slack');
    const probes: string[] = [];
    let probeNumber = 0;
    await waitFor(
      async () => {
        const probe = await prober
          .enqueue('slack/alert', { text: 'probe', dedupeKey: `probe-${mode}-${probeNumber++}` })
          .catch(() => undefined);
        if (probe) probes.push(probe.jobId);
        const states = await Promise.all(probes.map((id) => slackQueue.getJobState(id).catch(() => undefined)));
        return states.includes('completed');
      },
      { timeoutMs: 30_000, intervalMs: 500, what: 'the worker to complete a job enqueued after the switch' },
    );
    const workerBackAfterMs = Date.now() - switchedAt;
    await prober.close();
    // The load goes on after the worker is back: 200 more jobs acknowledged.
    const ackedWhenBack = acknowledged.length;
    await waitFor(() => acknowledged.length >= ackedWhenBack + 200, {
      timeoutMs: 30_000,
      what: '200 jobs acknowledged after the worker is back',
    });
    // With WAIT, keep the load until a replica (all of them, with WAIT all) is back and a little longer.
    if (extra.REDIS_WAIT_REPLICAS)
      await waitFor(() => Date.now() - switchedAt > (replicaBackAt(awaited) ?? Infinity) + Number(process.env.FAILOVER_TAIL_MS ?? 2_000), {
        timeoutMs: 30_000,
        what: 'the replicas of the new master in sync',
      }).catch(() => {});
    const replicaBackAfterMs = extra.REDIS_WAIT_REPLICAS ? replicaBackAt() : undefined;
    const allReplicasBackAfterMs = extra.REDIS_WAIT_REPLICAS ? replicaBackAt('allOnline') : undefined;
    stop = true;
    await Promise.all([...clients, sampling]);
    const slack = queues.getQueue('slack');
    // Every acknowledged job completes, or is gone (lost). A job whose completion the switch cut
    // off is taken over by the stalled check (lock 2 s, check every 1 s) and completes later.
    // A read the switch interrupts ("Connection is closed") is asked again, not taken as an answer.
    const stateOf = async () =>
      Promise.all(acknowledged.map(async (id) => [id, await slack.getJobState(id).catch(() => 'unread')] as const));
    let states = await stateOf();
    const deadline = Date.now() + 30_000;
    while (states.some(([, state]) => state !== 'completed' && state !== 'unknown') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      states = await stateOf();
    }
    return {
      acknowledged,
      refused: refusedAt.length,
      promotedAfterMs,
      refusedFrom: refusedAt.length ? Math.min(...refusedAt) - switchedAt : undefined,
      refusedUntil: refusedAt.length ? Math.max(...refusedAt) - switchedAt : undefined,
      workerBackAfterMs,
      replicaBackAfterMs,
      allReplicasBackAfterMs,
      lastAckAfterMs: lastAckAt - switchedAt,
      timeline: timeline.map((sample) => `${sample.at} ms: ${sample.text}`),
      lost: states.filter(([, state]) => state === 'unknown').map(([id]) => id),
      notCompleted: states.filter(([, state]) => state !== 'completed' && state !== 'unknown').map(([id]) => id),
    };
  } finally {
    stop = true;
    await Promise.allSettled([...clients, sampling]);
    await api.close();
    await queues.close();
    await db.close();
    await worker.stop(true);
  }
}
