import type { RedisClient } from './connection';
import type { QueuesConfig } from './config';
import { followAnnouncements, type Announcements } from './announcements';
import { breakerChannel, breakersKey } from './writer/ceres-keys';

/*
 * The circuit breakers of the worker's external dependencies, shared by every worker process. One
 * hash holds each breaker as a JSON field; one script makes every step (a failure counted, a probe
 * claimed, the probe's outcome), so two processes never both make the same transition. A
 * transition (and a breaker's first counted failure) is published: each process keeps a local
 * view and asks Redis only when that view says a breaker is not closed, or after a failure.
 */

/** `closed`: jobs run; `open`: its jobs wait until `openUntil`; `half-open`: one probe job runs, the others wait. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** One breaker as Redis keeps it. */
export interface BreakerView {
  dependency: string;
  state: BreakerState;
  /** Consecutive transport failures counted while closed. */
  failures: number;
  /** When the current (or last) open episode began (ms since the epoch, Redis clock; 0: never). */
  since: number;
  /** Open: when a probe may run (ms since the epoch, Redis clock). */
  openUntil: number;
  /** Half-open: until when the probe's claim holds. */
  probeUntil: number;
  /** Bumped by every change: a view older than one already seen is stale. */
  version: number;
}

/** What a step did: `opened`/`closed` are the transitions alerted; `reopened` a failed probe. */
export type BreakerResult = 'opened' | 'reopened' | 'closed' | 'probe' | 'counted' | 'reset' | 'wait' | 'none';

export interface BreakerStep {
  result: BreakerResult;
  breaker: BreakerView;
  /** Open: ms until a probe may run; half-open: ms until the probe's claim lapses (Redis clock). */
  remainingMs: number;
}

/** A breaker as announced on the channel, its times relative (ms from the announcement). */
export interface BreakerNotice {
  dependency: string;
  state: BreakerState;
  failures: number;
  remainingMs: number;
  version: number;
}

export interface BreakerSettings {
  /** Consecutive transport failures that open a breaker. */
  failures: number;
  /** How long an open breaker holds its jobs before a probe; also how long a probe's claim holds. */
  coolDownMs: number;
}

/*
 * KEYS[1]: the breakers hash. ARGV: step (fail | reset | probe | reached), dependency, failures
 * to open, cool-down ms, the job id (the probe's claim), the channel. Answers the step as JSON.
 * `reached`: the dependency answered (a sent mail, an SMTP refusal): a half-open breaker closes.
 */
const BREAKER_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local step, dep, cool, token = ARGV[1], ARGV[2], tonumber(ARGV[4]), ARGV[5]
local raw = redis.call('HGET', KEYS[1], dep)
local b = raw and cjson.decode(raw) or { state = 'closed', failures = 0, since = 0, openUntil = 0, probeUntil = 0, probe = '' }
local result, changed, announce = 'none', false, false
if step == 'fail' then
  if b.state == 'closed' then
    b.failures = b.failures + 1
    changed = true
    if b.failures >= tonumber(ARGV[3]) then
      b.state, b.failures, b.since, b.openUntil = 'open', 0, now, now + cool
      result, announce = 'opened', true
    else
      result, announce = 'counted', b.failures == 1
    end
  elseif b.state == 'half-open' and b.probe == token then
    b.state, b.openUntil, b.probe, b.probeUntil = 'open', now + cool, '', 0
    result, changed, announce = 'reopened', true, true
  end
elseif step == 'reset' then
  if b.state == 'closed' and b.failures > 0 then
    b.failures = 0
    result, changed = 'reset', true
  end
elseif step == 'probe' then
  if (b.state == 'open' and now >= b.openUntil) or (b.state == 'half-open' and now >= b.probeUntil) then
    b.state, b.probe, b.probeUntil = 'half-open', token, now + cool
    result, changed, announce = 'probe', true, true
  elseif b.state ~= 'closed' then
    result = 'wait'
  end
elseif step == 'reached' then
  if b.state == 'half-open' then
    b.state, b.failures, b.openUntil, b.probe, b.probeUntil = 'closed', 0, 0, '', 0
    result, changed, announce = 'closed', true, true
  elseif b.state == 'closed' and b.failures > 0 then
    b.failures = 0
    result, changed = 'reset', true
  end
end
if changed then
  b.version = (b.version or 0) + 1
  redis.call('HSET', KEYS[1], dep, cjson.encode(b))
end
local remaining = 0
if b.state == 'open' then remaining = math.max(b.openUntil - now, 0) elseif b.state == 'half-open' then remaining = math.max(b.probeUntil - now, 0) end
if announce then
  redis.call('PUBLISH', ARGV[6], cjson.encode({ dependency = dep, state = b.state, failures = b.failures, remainingMs = remaining, version = b.version or 0 }))
end
return cjson.encode({ result = result, breaker = b, remainingMs = remaining })`;
const BREAKER = 'ceresBreaker';

type BreakerCommand = (key: string, ...args: string[]) => Promise<string>;

/** One step of `dependency`'s breaker (see BREAKER_SCRIPT), atomically across every process. */
export async function breakerStep(
  redis: RedisClient,
  prefix: string,
  step: 'fail' | 'reset' | 'probe' | 'reached',
  dependency: string,
  settings: BreakerSettings,
  jobId = '',
): Promise<BreakerStep> {
  if (!(BREAKER in redis)) redis.defineCommand(BREAKER, { numberOfKeys: 1, lua: BREAKER_SCRIPT });
  const answer = await (redis as unknown as Record<typeof BREAKER, BreakerCommand>)[BREAKER](
    breakersKey(prefix),
    step,
    dependency,
    String(settings.failures),
    String(settings.coolDownMs),
    jobId,
    breakerChannel(prefix),
  );
  const { result, breaker, remainingMs } = JSON.parse(answer) as {
    result: BreakerResult;
    breaker: Omit<BreakerView, 'dependency'>;
    remainingMs: number;
  };
  return { result, breaker: viewOf(dependency, breaker), remainingMs };
}

/** Every breaker that ever counted a failure, by dependency name (sorted). */
export async function readBreakers(redis: RedisClient, prefix: string): Promise<BreakerView[]> {
  const fields = await redis.hgetall(breakersKey(prefix));
  return Object.entries(fields)
    .map(([dependency, raw]) => {
      try {
        return viewOf(dependency, JSON.parse(raw) as Partial<BreakerView>);
      } catch {
        return undefined;
      }
    })
    .filter((view): view is BreakerView => view !== undefined)
    .sort((a, b) => a.dependency.localeCompare(b.dependency));
}

function viewOf(dependency: string, raw: Partial<BreakerView>): BreakerView {
  const state: BreakerState = raw.state === 'open' || raw.state === 'half-open' ? raw.state : 'closed';
  const number = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : 0);
  return {
    dependency,
    state,
    failures: number(raw.failures),
    since: number(raw.since),
    openUntil: number(raw.openUntil),
    probeUntil: number(raw.probeUntil),
    version: number(raw.version),
  };
}

export type BreakerSubscription = Announcements;

/**
 * Calls `onNotice` for each breaker notice from now on, and `onReload` with every breaker at each
 * (re)connection (what was announced while the connection was down is in the hash). One
 * connection per process.
 */
export function subscribeToBreakers(
  config: QueuesConfig,
  read: () => Promise<BreakerView[]>,
  onReload: (breakers: BreakerView[]) => void,
  onNotice: (notice: BreakerNotice) => void,
  onError: (error: unknown) => void,
): BreakerSubscription {
  return followAnnouncements(config, {
    connectionName: 'ceres-breakers',
    channel: breakerChannel(config.redisPrefix),
    parse: parseNotice,
    onNotice,
    catchUp: async () => onReload(await read()),
    onError,
  });
}

function parseNotice(message: string): BreakerNotice | undefined {
  try {
    const { dependency, state, failures, remainingMs, version } = JSON.parse(message) as Partial<BreakerNotice>;
    if (typeof dependency !== 'string' || (state !== 'closed' && state !== 'open' && state !== 'half-open')) return undefined;
    return {
      dependency,
      state,
      failures: typeof failures === 'number' ? failures : 0,
      remainingMs: typeof remainingMs === 'number' ? remainingMs : 0,
      version: typeof version === 'number' ? version : 0,
    };
  } catch {
    return undefined;
  }
}
