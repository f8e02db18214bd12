import { waitFor } from '@ceres/testing';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { RedisOutage } from '../src/redis-outage';

function recorded() {
  const lines: Array<{ level: number; msg: string }> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines, messages: () => lines.map((line) => line.msg) };
}
const lost = (code: string) => Object.assign(new Error(`read ${code}`), { code });

describe('RedisOutage', () => {
  it('a lost socket reported before any connection changed its status starts the outage: one line, not a worker error', async () => {
    const { logger, messages } = recorded();
    const outage = new RedisOutage(logger);
    expect(outage.absorb(lost('ECONNRESET'))).toBe(true);
    expect(outage.absorb(lost('ECONNREFUSED'))).toBe(true);
    expect(outage.down).toBe(true);
    expect(messages().filter((msg) => msg.startsWith('redis connection lost'))).toHaveLength(1);
    // Nothing watched went down: the next look ends it, with the errors it absorbed.
    await waitFor(() => messages().some((msg) => msg.startsWith('redis is reachable again')), { what: 'the end of the blip' });
    expect(outage.down).toBe(false);
  });

  it("any other error while Redis is reachable is the caller's to log", () => {
    const { logger, lines } = recorded();
    const outage = new RedisOutage(logger);
    expect(outage.absorb(new Error('ERR unknown command'))).toBe(false);
    expect(outage.absorb(Object.assign(new Error('EACCES'), { code: 'EACCES' }))).toBe(false);
    expect(outage.down).toBe(false);
    expect(lines).toEqual([]);
  });
});
