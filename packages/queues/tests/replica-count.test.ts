// Which replicas of a `SENTINEL REPLICAS` answer REDIS_WAIT_REPLICAS=all waits for.
import { describe, expect, it } from 'vitest';
import { countReplicas, DISCONNECTED_GRACE_MS } from '../src/replica-target';

const replica = (flags: string, lastOkPingReply = 100) => [
  'name',
  '127.0.0.1:6380',
  'flags',
  flags,
  'last-ok-ping-reply',
  String(lastOkPingReply),
  'master-link-status',
  'ok',
];

describe('countReplicas', () => {
  it('counts the replicas the sentinels reach, not the ones flagged down', () => {
    expect(countReplicas([])).toBe(0);
    expect(countReplicas([replica('slave'), replica('slave')])).toBe(2);
    expect(countReplicas([replica('slave'), replica('s_down,slave', 5_000)])).toBe(1);
    expect(countReplicas([replica('o_down,slave', 5_000), replica('slave,s_down,disconnected', 60_000)])).toBe(0);
  });

  it('counts a disconnected replica only while its last ping answer is recent (a link opened just now, after a switch)', () => {
    expect(countReplicas([replica('slave,disconnected', 50), replica('slave')])).toBe(2);
    expect(countReplicas([replica('slave,disconnected', DISCONNECTED_GRACE_MS + 1), replica('slave')])).toBe(1);
    // No figure: not counted.
    expect(countReplicas([['name', 'x', 'flags', 'slave,disconnected']])).toBe(0);
  });
});
