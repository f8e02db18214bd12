import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { DuplicateWindow } from '../jobs/define';
import { claimKey } from './ceres-keys';

/*
 * The one place that reads BullMQ's Redis layout, which is not its public API: a job is the hash
 * `queue.toKey(id)` with the payload JSON in its `data` field, and a finished job's id is in the
 * sorted set `queue.toKey('completed')` or `queue.toKey('failed')`. BullMQ's `Queue.add` answers a
 * new job and an existing one alike, so telling them apart (the `duplicate` flag) and applying a
 * job type's duplicate window needs a look at the stored job first, atomically with a claim on the
 * id. tests/bullmq-layout.contract.test.ts checks these facts against the installed BullMQ.
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
const DECIDE_LUA = `
local function same(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) ~= 'table' then return a == b end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end
local verdicts = {}
for i = 1, #KEYS / 4 do
  local jobKey, completedKey, failedKey, claimKey = KEYS[i * 4 - 3], KEYS[i * 4 - 2], KEYS[i * 4 - 1], KEYS[i * 4]
  local id, window, payload = ARGV[i * 3], ARGV[i * 3 + 1], ARGV[i * 3 + 2]
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
  if verdict == 0 or verdict == 2 then redis.call('SET', claimKey, ARGV[1], 'PX', ARGV[2]) end
  verdicts[i] = verdict
end
return verdicts`;


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
}

type Scripts = Record<typeof DECIDE, (...args: Array<string | number>) => Promise<unknown>>;

/** Registers the scripts on `connection` (ioredis sends a named script's body once, then its SHA). */
export function defineLayoutScripts(connection: Redis): void {
  if (!(DECIDE in connection)) connection.defineCommand(DECIDE, { lua: DECIDE_LUA });
}


/** One round trip: a verdict per enqueue, in order; New and Replace leave a claim taken with `token`. */
export async function decide(connection: Redis, decisions: readonly Decision[], token: string, claimMs: number): Promise<Verdict[]> {
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
export async function releaseClaims(connection: Redis, claims: readonly string[]): Promise<void> {
  if (claims.length > 0) await connection.del(...claims);
}

/**
 * When the earliest delayed job of `queue` is due (ms since the epoch), or null when none is
 * delayed. A job's own fields do not tell (a retry's backoff counts from its failure, not from
 * its timestamp); the delayed set's score is that time × 0x1000 plus a counter.
 */
export async function nextDelayedAt(connection: Redis, queue: Queue): Promise<number | null> {
  const [, score] = await connection.zrange(queue.toKey('delayed'), 0, 0, 'WITHSCORES');
  return score === undefined ? null : Math.floor(Number(score) / 0x1000);
}
