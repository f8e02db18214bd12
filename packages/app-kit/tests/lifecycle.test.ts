import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, runService, type Service } from '../src';

/** A process whose signals the test sends and whose exit it records. */
function fakeProcess() {
  const events = new EventEmitter();
  const exits: number[] = [];
  let exited: (code: number) => void = () => {};
  const exit = new Promise<number>((resolve) => (exited = resolve));
  return {
    proc: {
      on: (event: 'SIGINT' | 'SIGTERM', listener: (signal: NodeJS.Signals) => void) => events.on(event, listener),
      exit: (code: number) => {
        exits.push(code);
        exited(code);
      },
    },
    signal: (name: NodeJS.Signals) => events.emit(name, name),
    exits,
    exit,
  };
}

function logger() {
  const lines: string[] = [];
  const log = (level: string) => (fields: object, message: string) =>
    lines.push(`${level} ${message}${'signal' in fields ? ` ${String(fields.signal)}` : ''}`);
  return { lines, log: { info: log('info'), warn: log('warn'), error: log('error') } };
}

const service = (overrides: Partial<Service> & Pick<Service, 'log'>): Service => ({
  stopping: 'stopping',
  stop: async () => 0,
  stopFailed: 'stop failed',
  ...overrides,
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('runService, the one lifecycle of the apps', () => {
  it('serves, then on the first signal stops gracefully and exits with the code of the stop', async () => {
    const { proc, signal, exit } = fakeProcess();
    const { lines, log } = logger();
    const served = vi.fn(async () => {});
    await runService({ name: 'app', start: () => service({ log, stopped: 'stopped', serve: served }) }, proc);
    expect(served).toHaveBeenCalledOnce();
    signal('SIGTERM');
    expect(await exit).toBe(0);
    expect(lines).toEqual(['info stopping SIGTERM', 'info stopped']);
  });

  it('exits 1 without the stopped line when the stop left something undone, and 1 when it failed', async () => {
    const undone = fakeProcess();
    const first = logger();
    await runService({ name: 'app', start: () => service({ log: first.log, stopped: 'stopped', stop: async () => 1 }) }, undone.proc);
    undone.signal('SIGINT');
    expect(await undone.exit).toBe(1);
    expect(first.lines).toEqual(['info stopping SIGINT']);

    const failing = fakeProcess();
    const second = logger();
    await runService(
      { name: 'app', start: () => service({ log: second.log, stop: async () => Promise.reject(new Error('boom')) }) },
      failing.proc,
    );
    failing.signal('SIGTERM');
    expect(await failing.exit).toBe(1);
    expect(second.lines).toEqual(['info stopping SIGTERM', 'error stop failed']);
  });

  it('ignores a second signal unless the app aborts on it, then exits 1', async () => {
    const ignoring = fakeProcess();
    let finish: (code: 0) => void = () => {};
    await runService(
      { name: 'app', start: () => service({ log: logger().log, stop: () => new Promise((resolve) => (finish = resolve)) }) },
      ignoring.proc,
    );
    ignoring.signal('SIGTERM');
    ignoring.signal('SIGTERM');
    finish(0);
    expect(await ignoring.exit).toBe(0);
    expect(ignoring.exits).toEqual([0]);

    const aborting = fakeProcess();
    const { lines, log } = logger();
    const abort = vi.fn(async () => {});
    await runService(
      { name: 'app', start: () => service({ log, stop: () => new Promise(() => {}), abort: { message: 'aborting', run: abort } }) },
      aborting.proc,
    );
    aborting.signal('SIGINT');
    aborting.signal('SIGTERM');
    expect(await aborting.exit).toBe(1);
    expect(abort).toHaveBeenCalledOnce();
    expect(lines).toEqual(['info stopping SIGINT', 'warn aborting SIGTERM']);
  });

  it('exits 1 when the stop outlasts the grace', async () => {
    const { proc, signal, exit } = fakeProcess();
    const { lines, log } = logger();
    await runService({ name: 'app', start: () => service({ log, graceMs: 20, stop: () => new Promise(() => {}) }) }, proc);
    signal('SIGTERM');
    expect(await exit).toBe(1);
    expect(lines).toEqual(['info stopping SIGTERM', 'error shutdown took too long; exiting']);
  });

  it('a failed start prints one line and exits 1: a settings mistake in the app’s words, anything else as a failed start', async () => {
    const printed = vi.spyOn(console, 'error').mockImplementation(() => {});
    const config = fakeProcess();
    await runService(
      {
        name: 'app',
        configErrorLine: (message) => `app cannot start: ${message}`,
        start: () => {
          throw new ConfigError('APP_PORT', 'must be a number');
        },
      },
      config.proc,
    );
    expect(await config.exit).toBe(1);
    const serving = fakeProcess();
    await runService(
      { name: 'app', start: () => service({ log: logger().log, serve: async () => Promise.reject(new Error('EADDRINUSE')) }) },
      serving.proc,
    );
    expect(await serving.exit).toBe(1);
    expect(printed.mock.calls.map(([line]) => line)).toEqual([
      'app cannot start: APP_PORT: must be a number',
      'app failed to start: EADDRINUSE',
    ]);
    printed.mockRestore();
  });
});
