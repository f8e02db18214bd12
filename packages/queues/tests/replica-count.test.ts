// Which replicas of a `SENTINEL REPLICAS` answer REDIS_WAIT_REPLICAS=all waits for.
import { describe, expect, it } from 'vitest';
import { countClusterReplicas, countReplicas, DISCONNECTED_GRACE_MS } from '../src/replica-target';

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

describe('countClusterReplicas', () => {
  // A CLUSTER NODES answer (Redis 7.0) after the master of slots 5461-10922 failed over to :7105.
  const nodes = [
    'a1 127.0.0.1:7101@17101 myself,master - 0 0 1 connected 0-5460',
    'a2 127.0.0.1:7102@17102 master,fail - 1700000000000 1700000000000 2 disconnected',
    'a3 127.0.0.1:7103@17103 master - 0 1700000000000 3 connected 10923-16383',
    'b1 127.0.0.1:7104@17104 slave a1 0 1700000000000 1 connected',
    'b2 127.0.0.1:7105@17105 master - 0 1700000000000 7 connected 5461-10922',
    'b3 127.0.0.1:7106@17106 slave a3 0 1700000000000 3 connected',
    'b4 127.0.0.1:7107@17107 slave,fail? a3 0 1700000000000 3 connected',
    '',
  ].join('\n');

  it("counts each master's replicas that no node flags as failing; a failed master is no master", () => {
    expect(countClusterReplicas(nodes)).toEqual(
      new Map([
        ['127.0.0.1:7101', 1],
        ['127.0.0.1:7103', 1],
        ['127.0.0.1:7105', 0],
      ]),
    );
  });

  it('the old master back as a replica of the new one counts for it', () => {
    const back = nodes.replace(
      'a2 127.0.0.1:7102@17102 master,fail - 1700000000000 1700000000000 2 disconnected',
      'a2 127.0.0.1:7102@17102 slave b2 0 0 7 connected',
    );
    expect(countClusterReplicas(back).get('127.0.0.1:7105')).toBe(1);
  });
});
