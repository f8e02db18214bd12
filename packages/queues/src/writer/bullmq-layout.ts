import { Job, type JobsOptions, type Queue } from 'bullmq';
import { createRequire } from 'node:module';
import { nodeFor, type RedisClient } from '../connection';
import type { DuplicateWindow } from '../jobs/define';
import { claimKey, fairKey } from './ceres-keys';

/*
 * The one place that reads BullMQ's Redis layout, which is not its public API: a job is the hash
 * `queue.toKey(id)` with the payload JSON in its `data` field, and a finished job's id is in the
 * sorted set `queue.toKey('completed')` or `queue.toKey('failed')`. BullMQ's `Queue.add` answers a
 * new job and an existing one alike, so telling them apart (the `duplicate` flag) and applying a
 * job type's duplicate window needs a look at the stored job first, atomically with a claim on the
 * id. tests/bullmq-layout.contract.test.ts checks these facts against the installed BullMQ.
 *
 * The common enqueue (an id not in Redis) is one script call that decides and adds: BullMQ's own
 * add script (standard, delayed or prioritized, as `Queue.add` would pick) wrapped after the
 * decision, with the arguments BullMQ itself builds for `Queue.add` (captured from its backend, not
 * sent). Without it, an enqueue was three commands: decide and claim, add, release the claim.
 */

/** What {@link decide} says of one enqueue. */
export const Verdict = {
  /** No job with this id: claimed, add it. */
  New: 0,
  /** A job with this id is kept and, by the window, this enqueue is a duplicate. */
  Duplicate: 1,
  /** The job with this id finished and the window lets a new one replace it: claimed, remove it, then add. */
  Replace: 2,
  /** Another enqueue of this id is between its decision and its add: ask again shortly. */
  InFlight: 3,
} as const;
export type Verdict = (typeof Verdict)[keyof typeof Verdict];

const DECIDE = 'ceresDecideEnqueue';
/*
 * KEYS: per enqueue, the job hash, the completed set, the failed set and the claim.
 * ARGV: the claim token, the claim's lifetime in ms, then per enqueue: job id, window, payload JSON
 * (only read for `pending-or-same-payload`), or `#digest:` and the payload's digests, comma-separated,
 * for an encrypted payload: the same payload when the stored job's `$digest` is one of them.
 * The claim makes decide-then-add atomic for one id across every producer.
 */
const VERDICT_LUA = `
local function same(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) ~= 'table' then return a == b end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end
local function verdictOf(jobKey, completedKey, failedKey, claimKey, id, window, payload)
  local verdict
  if redis.call('EXISTS', claimKey) == 1 then
    verdict = 3
  elseif redis.call('EXISTS', jobKey) == 0 then
    verdict = 0
  elseif window == 'retention' then
    verdict = 1
  elseif not (redis.call('ZSCORE', completedKey, id) or redis.call('ZSCORE', failedKey, id)) then
    verdict = 1
  elseif window == 'pending-or-same-payload' then
    local stored = redis.call('HGET', jobKey, 'data')
    if string.sub(payload, 1, 8) == '#digest:' then
      verdict = 2
      local digest = stored and cjson.decode(stored)['$digest']
      if type(digest) == 'string' then
        for candidate in string.gmatch(string.sub(payload, 9), '[^,]+') do if candidate == digest then verdict = 1 end end
      end
    elseif stored == payload or (stored and same(cjson.decode(stored), cjson.decode(payload))) then verdict = 1 else verdict = 2 end
  else
    verdict = 2
  end
  return verdict
end
`;

const DECIDE_LUA = `${VERDICT_LUA}
local verdicts = {}
for i = 1, #KEYS / 4 do
  local claimKey = KEYS[i * 4]
  local verdict = verdictOf(KEYS[i * 4 - 3], KEYS[i * 4 - 2], KEYS[i * 4 - 1], claimKey, ARGV[i * 3], ARGV[i * 3 + 1], ARGV[i * 3 + 2])
  if verdict == 0 or verdict == 2 then redis.call('SET', claimKey, ARGV[1], 'PX', ARGV[2]) end
  verdicts[i] = verdict
end
return verdicts`;

interface RawScript {
  content: string;
  keys: number;
}
type AddScript = 'addStandardJob' | 'addDelayedJob' | 'addPrioritizedJob';
// BullMQ's CommonJS build (its ESM build's imports have no file extensions, which Node refuses).
const bullmqScripts = createRequire(import.meta.url)('bullmq/dist/cjs/scripts/index.js') as Record<AddScript, RawScript>;
/** BullMQ's add scripts, by the name its backend runs them under (without the `:<version>` suffix). */
const BULLMQ_ADD_SCRIPTS: Record<AddScript, RawScript> = {
  addStandardJob: bullmqScripts.addStandardJob,
  addDelayedJob: bullmqScripts.addDelayedJob,
  addPrioritizedJob: bullmqScripts.addPrioritizedJob,
};
const BULLMQ_ARGS = 3;

/**
 * Fair shares between tenants within a queue, in BullMQ's own prioritized set. A job of a queue
 * with tenants gets, as its BullMQ priority, a fair position below FAIR_SPAN: a tenant with nothing
 * waiting arrives at the head (an odd position, at most one below the lowest waiting), a tenant with
 * a backlog takes the next even position after its last one. BullMQ takes the lowest position first
 * (FIFO within one), so a newcomer waits only for the jobs already running, and tenants with
 * backlogs take turns. A job with an explicit priority p goes after every fair one, at FAIR_SPAN + p,
 * ordered by p as before (jobs without one went first before tenants too).
 */
export const FAIR_SPAN = 2 ** 20;
/** BullMQ's highest priority. */
const BULLMQ_MAX_PRIORITY = 2 ** 21 - 1;

/** The BullMQ priority of a job with an explicit priority in a queue with fair shares. */
export const explicitFairPriority = (priority: number): number => Math.min(FAIR_SPAN + priority, BULLMQ_MAX_PRIORITY);

/*
 * A fair position for `tenant` (see FAIR_SPAN), recorded in the queue's fair hash. The prioritized
 * set's score is priority × 2^32 + a counter; 4503599627370496 is FAIR_SPAN × 2^32. A backlog longer
 * than FAIR_SPAN / 2 positions saturates at FAIR_SPAN - 1 (FIFO there) until the queue catches up.
 */
const FAIR_LUA = `
local function fairPriority(prioritizedKey, fairKey, tenant)
  local low = redis.call('ZRANGE', prioritizedKey, 0, 0, 'WITHSCORES')[2]
  local minP = low and math.floor(tonumber(low) / 4294967296)
  if minP and minP >= ${FAIR_SPAN} then minP = nil end
  local position = 1
  if minP then position = minP - ((minP + 1) % 2) end
  local last = tonumber(redis.call('HGET', fairKey, tenant))
  if minP and last and last >= minP then
    local high = redis.call('ZREVRANGEBYSCORE', prioritizedKey, '(4503599627370496', '-inf', 'LIMIT', 0, 1, 'WITHSCORES')[2]
    if high and last <= math.floor(tonumber(high) / 4294967296) then position = last + 2 - (last % 2) end
  end
  if position > ${FAIR_SPAN - 1} then position = ${FAIR_SPAN - 1} end
  redis.call('HSET', fairKey, tenant, position)
  return position
end
`;

/** Where BullMQ's prioritized add reads the job's options: the fair position replaces their priority there. */
const PRIORITIZED_OPTS = 'local opts = cmsgpack.unpack(ARGV[3])';

/*
 * KEYS: BullMQ's keys for its script, then the job hash, the completed and failed sets, the claim,
 * the queue's fair hash.
 * ARGV: BullMQ's three arguments, then the job id, the window and the payload (as for DECIDE), then
 * the tenant whose fair position the job takes ('' for none: its priority stays as given).
 * Answers {0, <BullMQ's answer>} when it added; {verdict} otherwise (nothing written).
 */
function decideAndAddLua(script: AddScript): string {
  const { content, keys } = BULLMQ_ADD_SCRIPTS[script];
  let body = content;
  let fair = '';
  if (script === 'addPrioritizedJob') {
    if (!content.includes(PRIORITIZED_OPTS)) throw new Error('BullMQ changed its prioritized add script: bullmq-layout.ts needs updating');
    body = content.replace(PRIORITIZED_OPTS, `${PRIORITIZED_OPTS}\nif ceresPosition then opts['priority'] = ceresPosition end`);
    // BullMQ's KEYS[4] is its prioritized set.
    fair = `${FAIR_LUA}
if ARGV[${BULLMQ_ARGS + 4}] ~= '' then ceresPosition = fairPriority(KEYS[4], KEYS[${keys + 5}], ARGV[${BULLMQ_ARGS + 4}]) end`;
  }
  return `${VERDICT_LUA}
local verdict = verdictOf(KEYS[${keys + 1}], KEYS[${keys + 2}], KEYS[${keys + 3}], KEYS[${keys + 4}], ARGV[${BULLMQ_ARGS + 1}], ARGV[${BULLMQ_ARGS + 2}], ARGV[${BULLMQ_ARGS + 3}])
if verdict ~= 0 then return {verdict} end
local ceresPosition
${fair}
local function bullmqAdd()
${body}
end
return {0, bullmqAdd()}`;
}

const decideAndAddCommand = (script: AddScript) => `ceresDecideAnd${script[0]!.toUpperCase()}${script.slice(1)}`;

/** The decision's payload argument for an encrypted payload: its digests (JSON never starts with `#`). */
export function digestsArgument(digests: readonly string[]): string {
  return `#digest:${digests.join(',')}`;
}

export interface Decision {
  queue: Queue;
  jobId: string;
  window: DuplicateWindow;
  /** The payload as BullMQ will store it (`JSON.stringify`). */
  data: string;
  /** The tenant whose fair position the job takes, or '' (see {@link FAIR_SPAN}). */
  fairTenant?: string;
}

type Scripts = Record<typeof DECIDE, (...args: Array<string | number>) => Promise<unknown>>;

/** Registers the scripts on `connection` (ioredis sends a named script's body once, then its SHA). */
export function defineLayoutScripts(connection: RedisClient): void {
  if (!(DECIDE in connection)) connection.defineCommand(DECIDE, { lua: DECIDE_LUA });
  for (const script of Object.keys(BULLMQ_ADD_SCRIPTS) as AddScript[]) {
    const name = decideAndAddCommand(script);
    if (!(name in connection)) connection.defineCommand(name, { lua: decideAndAddLua(script) });
  }
}

/** One add, as BullMQ would send it for `Queue.add`, followed by the decision's keys and arguments. */
export interface PreparedAdd {
  command: string;
  args: Array<string | Buffer | number>;
}

/**
 * Builds, without sending it, the call that adds `name`/`data`/`opts` to `queue` if `decision` says
 * the id is new. BullMQ builds its own part (the Job's JSON, its options' checks, the packed
 * arguments, the script it picks): a refused option throws here, before anything is sent.
 */
export function prepareDecideAndAdd(queue: Queue, name: string, data: unknown, opts: JobsOptions, decision: Decision): PreparedAdd {
  const { job, json, merged } = checkedJob(queue, name, data, opts);
  let captured: { name: string; args: Array<string | Buffer | number> } | undefined;
  const capture = {
    runCommand: (command: string, args: Array<string | Buffer | number>) => {
      captured = { name: command, args };
      return Promise.resolve(merged.jobId);
    },
  };
  // BullMQ calls runCommand synchronously, before its first await.
  void (queue.backend as unknown as BackendWithTransactionAdd).addJobToTransaction(capture, json, job.id!);
  const script = captured?.name.slice(0, captured.name.indexOf(':')) as AddScript | undefined;
  if (!captured || !script || !(script in BULLMQ_ADD_SCRIPTS))
    throw new Error(`BullMQ added with an unexpected script (${captured?.name}): bullmq-layout.ts needs updating`);
  const keyCount = BULLMQ_ADD_SCRIPTS[script].keys;
  const bullKeys = captured.args.slice(0, keyCount);
  const bullArgs = captured.args.slice(keyCount);
  const { jobId, window, data: compared, fairTenant = '' } = decision;
  return {
    command: decideAndAddCommand(script),
    args: [
      keyCount + 5,
      ...bullKeys,
      queue.toKey(jobId),
      queue.toKey('completed'),
      queue.toKey('failed'),
      claimKey(queue, jobId),
      fairKey(queue),
      ...bullArgs,
      jobId,
      window,
      compared,
      fairTenant,
    ],
  };
}

/** The Job BullMQ's `Queue.add` would build, its options checked as `Job.create` checks them: a refused one throws. */
function checkedJob(queue: Queue, name: string, data: unknown, opts: JobsOptions) {
  const merged: JobsOptions = { ...queue.jobsOpts, ...opts, jobId: opts.jobId };
  const job = new Job(queue, name, data, merged, merged.jobId);
  const json = job.asJSON();
  // Protected in BullMQ's typings.
  (job as unknown as { validateOptions(json: unknown): void }).validateOptions(json);
  return { job, json, merged };
}

/** Throws what `Queue.add` would throw for these options, without adding anything. */
export function checkAddOptions(queue: Queue, name: string, data: unknown, opts: JobsOptions): void {
  checkedJob(queue, name, data, opts);
}

interface BackendWithTransactionAdd {
  addJobToTransaction(client: unknown, job: unknown, jobId: string): Promise<string>;
}

/** What one decide-and-add answered: added (BullMQ's answer: the id, or its negative error code), or a verdict. */
export type DecideAndAddResult =
  { verdict: typeof Verdict.New; added: string | number } | { verdict: Exclude<Verdict, typeof Verdict.New> };

/**
 * Runs prepared calls in one round trip and one socket write (an ioredis pipeline, not a
 * transaction: each call is atomic on its own), and settles each on its own: an answer, or the
 * error of that call.
 */
export async function decideAndAdd(connection: RedisClient, prepared: readonly PreparedAdd[]): Promise<Array<DecideAndAddResult | Error>> {
  const pipeline = connection.pipeline() as unknown as Record<string, (...args: PreparedAdd['args']) => unknown> & {
    exec(): Promise<Array<[Error | null, unknown]>>;
  };
  for (const { command, args } of prepared) pipeline[command]!(...args);
  const results = await pipeline.exec();
  return results.map(([error, answer]) => {
    if (error) return error;
    const [verdict, added] = answer as [Verdict, string | number | undefined];
    return verdict === Verdict.New ? { verdict, added: added! } : ({ verdict } as DecideAndAddResult);
  });
}

/** One round trip: a verdict per enqueue, in order; New and Replace leave a claim taken with `token`. */
export async function decide(connection: RedisClient, decisions: readonly Decision[], token: string, claimMs: number): Promise<Verdict[]> {
  const keys: string[] = [];
  const args: Array<string | number> = [token, claimMs];
  for (const { queue, jobId, window, data } of decisions) {
    keys.push(queue.toKey(jobId), queue.toKey('completed'), queue.toKey('failed'), claimKey(queue, jobId));
    args.push(jobId, window, data);
  }
  return (await (connection as unknown as Scripts)[DECIDE](keys.length, ...keys, ...args)) as Verdict[];
}

/**
 * Frees claims once their adds are done (sent after them on the same connection, so Redis runs it
 * after them). A claim outlives its add only when the add took longer than the claim's life, which
 * is the producers' command timeout: such an add has failed as an outage anyway.
 */
export async function releaseClaims(connection: RedisClient, claims: readonly string[]): Promise<void> {
  if (claims.length > 0) await connection.del(...claims);
}

/**
 * Every job id of `queue`, a page at a time, found by a SCAN of its job hashes (`queue.toKey(id)`),
 * not by paging its states by position: a worker consuming the queue moves jobs between states and
 * shifts positions between pages; SCAN returns every key that exists from its start to its end.
 * The queue's own hashes (meta, schedulers) are left out.
 */
export async function* scanJobIds(connection: RedisClient, queue: Queue, count: number): AsyncGenerator<string[]> {
  const base = queue.toKey('');
  // SCAN has no key: on a cluster it is asked of the master holding the queue's slot.
  const node = nodeFor(connection, base);
  if (!node) throw new Error(`no master known for queue ${queue.name}'s slot`);
  let cursor = '0';
  do {
    const [next, keys] = await node.scan(cursor, 'MATCH', `${base}*`, 'COUNT', count, 'TYPE', 'hash');
    cursor = next;
    yield keys.map((key) => key.slice(base.length)).filter((id) => id !== 'meta' && !id.startsWith('repeat:'));
  } while (cursor !== '0');
}

/**
 * When the earliest delayed job of `queue` is due (ms since the epoch), or null when none is
 * delayed. A job's own fields do not tell (a retry's backoff counts from its failure, not from
 * its timestamp); the delayed set's score is that time × 0x1000 plus a counter.
 */
export async function nextDelayedAt(connection: RedisClient, queue: Queue): Promise<number | null> {
  const [, score] = await connection.zrange(queue.toKey('delayed'), 0, 0, 'WITHSCORES');
  return score === undefined ? null : Math.floor(Number(score) / 0x1000);
}

/*
 * How long a queue's jobs have been waiting, in one script (queue-wait.ts). A job is due from
 * `timestamp + delay`, or, after an attempt, from `processedOn + delay` (a retry's backoff counts
 * from its failure, which is after its start: this is a lower bound of the age). The wait list is
 * taken from its right end (the oldest; a job promoted or retried enters at the left), the
 * prioritized set from its lowest score (next in line): `ARGV[3]` jobs of each. A delayed job whose
 * due time passed (score = due × 0x1000 + counter) waits in the delayed set until a worker promotes
 * it: with no worker, it is still due. The newest start: the processedOn of the job most recently
 * taken (the active list's left end) or, when none runs, the newest finish (finishedOn ≥ its start).
 * KEYS: wait, prioritized, delayed, meta, limiter, active, completed, failed.
 * ARGV: now (ms), the job key prefix, how many jobs of the wait list and the prioritized set to look at.
 * Answers {oldest due or -1, waiting, prioritized, delayed due, paused 0/1, limiter PTTL, active, newest start or -1}.
 */
const QUEUE_WAIT_LUA = `
local now = tonumber(ARGV[1])
local base = ARGV[2]
local sample = tonumber(ARGV[3])
local oldest = -1
local function consider(t) if t and (oldest == -1 or t < oldest) then oldest = t end end
local function dueOf(id)
  local f = redis.call('HMGET', base .. id, 'timestamp', 'delay', 'processedOn')
  local ts = tonumber(f[1])
  if not ts then return nil end
  local delay = tonumber(f[2]) or 0
  local due = ts + delay
  local started = tonumber(f[3])
  if started and started + delay > due then due = started + delay end
  return due
end
local waiting = redis.call('LLEN', KEYS[1])
for _, id in ipairs(redis.call('LRANGE', KEYS[1], -sample, -1)) do consider(dueOf(id)) end
local prioritized = redis.call('ZCARD', KEYS[2])
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, sample - 1)) do consider(dueOf(id)) end
local delayedDue = redis.call('ZCOUNT', KEYS[3], 0, (now + 1) * 4096 - 1)
if delayedDue > 0 then
  local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  consider(math.floor(tonumber(first[2]) / 4096))
end
local paused = redis.call('HEXISTS', KEYS[4], 'paused')
local limited = redis.call('PTTL', KEYS[5])
if limited < 0 then limited = 0 end
local active = redis.call('LLEN', KEYS[6])
local newest = -1
local taken = redis.call('LINDEX', KEYS[6], 0)
if taken then newest = tonumber(redis.call('HGET', base .. taken, 'processedOn')) or -1 end
for _, key in ipairs({KEYS[7], KEYS[8]}) do
  local last = redis.call('ZREVRANGE', key, 0, 0, 'WITHSCORES')
  if last[2] and tonumber(last[2]) > newest then newest = tonumber(last[2]) end
end
return {oldest, waiting, prioritized, delayedDue, paused, limited, active, newest}`;
const QUEUE_WAIT = 'ceresQueueWait';

/** What {@link readQueueWaitFigures} reads of one queue (see QUEUE_WAIT_LUA). */
export interface QueueWaitFigures {
  /** When the oldest due job became due (ms since the epoch), or null when none is due. */
  oldestDueAt: number | null;
  waiting: number;
  prioritized: number;
  /** Delayed jobs whose due time passed (a worker promotes them; with none running they stay). */
  delayedDue: number;
  paused: boolean;
  /** The TTL of the queue's limiter key (its rate window or a back-pressure pause), 0 when none. */
  limiterMs: number;
  active: number;
  /** The newest job start known (a running job's, else a finished job's end), or null. */
  newestStartAt: number | null;
}

/** Reads {@link QueueWaitFigures} in one script call; `sample` jobs of the wait list and of the prioritized set are looked at. */
export async function readQueueWaitFigures(connection: RedisClient, queue: Queue, now: number, sample: number): Promise<QueueWaitFigures> {
  if (!(QUEUE_WAIT in connection)) connection.defineCommand(QUEUE_WAIT, { numberOfKeys: 8, lua: QUEUE_WAIT_LUA });
  const keys = ['wait', 'prioritized', 'delayed', 'meta', 'limiter', 'active', 'completed', 'failed'].map((key) => queue.toKey(key));
  const answer = (await (connection as unknown as Record<typeof QUEUE_WAIT, (...args: Array<string | number>) => Promise<number[]>>)[
    QUEUE_WAIT
  ](...keys, now, queue.toKey(''), sample)) as number[];
  const [oldest, waiting, prioritized, delayedDue, paused, limiterMs, active, newest] = answer.map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return {
    oldestDueAt: oldest < 0 ? null : oldest,
    waiting,
    prioritized,
    delayedDue,
    paused: paused === 1,
    limiterMs,
    active,
    newestStartAt: newest < 0 ? null : newest,
  };
}
