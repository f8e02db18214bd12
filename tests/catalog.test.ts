// The job catalog: job types come from their files alone, each file carries a valid example, and
// a job type without a processor does not compile.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as queues from '@ceres/queues';
import { JOB_TYPES, QUEUE_NAMES, registry, RETRY_BACKOFF_TYPE, schemaIssues } from '@ceres/queues';
import { describe, expect, it } from 'vitest';
import { processors, replaceQueueProcessors } from '../apps/worker/src/processors';
import { consumableQueues } from '../apps/worker/src/worker-runner';
// @ts-expect-error: a plain ES module script without type declarations
import { JOBS_DIR, main, PROCESSORS_DIR, processorsCatalog, producerName, ROOT, scan } from '../scripts/gen-catalog.mjs';

describe('the job catalog', () => {
  it('is what scripts/gen-catalog.mjs makes of the job and processor files', () => {
    expect(main(['--check'])).toBe(0);
  });

  it.each(JOB_TYPES.map((entry) => [entry.type, entry] as const))('%s has a valid example payload', (_type, { definition }) => {
    expect(definition.example).toBeDefined();
    expect(schemaIssues(definition.schema, definition.example)).toEqual([]);
    for (const field of definition.keyFields ?? (definition.keyField ? [definition.keyField] : [])) {
      expect(typeof (definition.example as Record<string, unknown>)[field]).toBe('string');
    }
  });

  it('schedules only job types the worker enqueues, each with its own variable', () => {
    const scheduled = JOB_TYPES.filter((entry) => entry.definition.schedule);
    expect(scheduled.length).toBeGreaterThan(0);
    for (const { definition } of scheduled) expect(definition.enqueuedBy).toBe('worker');
    const variables = scheduled.map((entry) => entry.definition.schedule!.env);
    expect(new Set(variables).size).toBe(variables.length);
  });

  it('names each job type after its file and each queue after its folder', () => {
    const files = scan(join(ROOT, 'packages/queues/src/jobs'), { requireQueueFile: true }) as Record<string, string[]>;
    expect(Object.fromEntries(Object.entries(registry).map(([queue, { jobs }]) => [queue, Object.keys(jobs).sort()]))).toEqual(files);
  });

  it('takes a <job>.<role>.ts file (a mail template beside its processor) as part of job <job>, not as a job type', () => {
    const processorFiles = scan(PROCESSORS_DIR, { requireQueueFile: false }) as Record<string, string[]>;
    const jobFiles = scan(JOBS_DIR, { requireQueueFile: true }) as Record<string, string[]>;
    expect(processorFiles).toEqual(jobFiles);
    for (const jobs of Object.values(processorFiles)) for (const job of jobs) expect(job).not.toContain('.');
    // Every such file belongs to a job type of its folder.
    for (const [queue, jobs] of Object.entries(processorFiles)) {
      for (const file of readdirSync(join(PROCESSORS_DIR, queue)).filter((name) => name.slice(0, -3).includes('.'))) {
        expect(jobs, `${queue}/${file}`).toContain(file.split('.')[0]);
      }
    }
  });

  it("exports one named producer per platform job type, and none for the worker's", () => {
    const exported = Object.keys(queues).filter((name) => /^enqueue[A-Z]/.test(name));
    const platform = JOB_TYPES.filter(({ definition }) => definition.enqueuedBy === 'platform').map(
      ({ queue, job }) => producerName(queue, job) as string,
    );
    expect(platform).toContain('enqueueEmailVerify');
    // The names before they were derived, kept for the callers that use them.
    expect(exported.sort()).toEqual([...platform, 'enqueueOptimizeProfilePicture', 'enqueueValidateCv'].sort());
    for (const { queue, job, definition } of JOB_TYPES) {
      if (definition.enqueuedBy === 'worker') expect(exported).not.toContain(producerName(queue, job));
    }
  });
});

describe('a job type without a processor', () => {
  /**
   * Type-checks, in one tsc run, the worker's processor catalog as the generator writes it from each
   * of `variants` (beside the real catalog, so its imports resolve the same way, under names
   * nothing imports). Returns tsc's status and each variant's error lines.
   */
  function typecheckProcessors(variants: Record<string, Record<string, string[]>>): {
    status: number | null;
    errors: Record<string, string>;
  } {
    const files = Object.keys(variants).map((name) => join(PROCESSORS_DIR, `catalog.typecheck-${process.pid}-${name}.ts`));
    const tsconfig = join(ROOT, `tsconfig.typecheck-${process.pid}.json`);
    Object.values(variants).forEach((queues, n) => writeFileSync(files[n]!, processorsCatalog(queues)));
    writeFileSync(tsconfig, JSON.stringify({ extends: './tsconfig.base.json', files }));
    try {
      const tsc = spawnSync(
        process.execPath,
        [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', tsconfig, '--noEmit', '--pretty', 'false'],
        {
          encoding: 'utf8',
        },
      );
      const output = tsc.stdout + tsc.stderr;
      const errors = Object.fromEntries(
        Object.keys(variants).map((name) => [
          name,
          output
            .split('\n')
            .filter((line) => line.includes(`catalog.typecheck-${process.pid}-${name}.ts`))
            .join('\n'),
        ]),
      );
      return { status: tsc.status, errors };
    } finally {
      for (const file of files) rmSync(file, { force: true });
      rmSync(tsconfig, { force: true });
    }
  }

  it('fails npm run typecheck, naming the job type; with every processor it compiles', { timeout: 120_000 }, () => {
    const queues = scan(PROCESSORS_DIR, { requireQueueFile: false }) as Record<string, string[]>;
    const { status, errors } = typecheckProcessors({
      complete: queues,
      missing: { ...queues, slack: queues.slack!.filter((job) => job !== 'alert') },
    });
    expect(errors.complete).toBe('');
    expect(status).not.toBe(0);
    expect(errors.missing).toMatch(/Property 'alert' is missing/);
  });
});

describe('docs/queues.md', () => {
  const docs = readFileSync(join(ROOT, 'docs/queues.md'), 'utf8');
  const duration = (seconds: number) =>
    seconds % 86_400 === 0 && seconds >= 86_400 * 2
      ? `${seconds / 86_400} d`
      : seconds % 3_600 === 0
        ? `${seconds / 3_600} h`
        : seconds % 60 === 0
          ? `${seconds / 60} min`
          : `${seconds} s`;
  const age = (keep: unknown) => duration((keep as { age: number }).age);

  it.each(QUEUE_NAMES)('lists queue %s as its definition says', (queue) => {
    const { concurrency, defaultJobOptions: options, timeoutMs, longWaitSeconds } = registry[queue];
    const backoff = options.backoff as { type: string; delay?: number };
    const retry = backoff.type === RETRY_BACKOFF_TYPE ? 'schedule' : `${backoff.type} ${duration(backoff.delay! / 1000)}`;
    const row = `| \`${queue}\` | ${concurrency} | ${options.attempts}, ${retry} | ${age(options.removeOnComplete)} / ${age(options.removeOnFail)} | ${duration(timeoutMs / 1000)} | ${duration(longWaitSeconds)} |`;
    expect(docs).toContain(row);
  });

  it.each(JOB_TYPES.map((entry) => [entry.type, entry] as const))('lists job type %s as its definition says', (type, { definition }) => {
    const fields = Object.keys(definition.schema.properties).map((name) =>
      definition.schema.required?.includes(name) ? name : `${name}?`,
    );
    const payload = fields.length === 0 ? '`{}`' : `\`{ ${fields.join(', ')} }\``;
    const key = definition.keyFields ? definition.keyFields.join('>.<') : definition.keyField;
    const optionalKey = definition.keyField !== undefined && !definition.schema.required?.includes(definition.keyField);
    const jobId =
      key === undefined
        ? definition.schedule
          ? "BullMQ's (one per cron tick)"
          : "BullMQ's"
        : `\`${type.replace('/', ':')}:<${key}>\`${optionalKey ? ", or BullMQ's own without one" : ''}`;
    const by = definition.schedule ? `worker (\`${definition.schedule.env}\`, \`${definition.schedule.pattern}\`)` : definition.enqueuedBy;
    const options = definition.options.length === 0 ? '—' : definition.options.join(', ');
    expect(docs).toContain(`| \`${type}\` | ${payload} | ${jobId} | \`${definition.duplicates}\` | ${by} | ${options} |`);
  });
});

describe('the other docs that list job types', () => {
  const read = (file: string) => readFileSync(join(ROOT, 'docs', file), 'utf8');

  it.each(JOB_TYPES.filter(({ definition }) => queues.personalFields(definition).length > 0).map((entry) => [entry.type, entry] as const))(
    'personal-data.md lists %s with its personal fields',
    (type, { definition }) => {
      expect(read('personal-data.md')).toContain(
        `| \`${type}\` | ${queues
          .personalFields(definition)
          .map((field) => `\`${field}\``)
          .join(', ')} |`,
      );
    },
  );

  it.each(JOB_TYPES.filter(({ definition }) => definition.enqueuedBy === 'platform').map(({ type }) => type))(
    'api.md names %s among the job types',
    (type) => {
      const list = /^The job types: ([^.]*)\./m.exec(read('api.md').replace(/(?<!\n)\n(?!\n)/g, ' '))?.[1];
      expect(list).toContain(`\`${type}\``);
    },
  );
});

describe("the bench's and tests' no-op processors", () => {
  it('cover every job type of the queue they replace, so the runner still consumes it', () => {
    const noop = async () => undefined;
    const replaced = replaceQueueProcessors('email', noop);
    expect(Object.keys(replaced.email).sort()).toEqual(Object.keys(registry.email.jobs).sort());
    for (const processor of Object.values(replaced.email)) expect(processor).toBe(noop);
    expect(replaced.slack).toBe(processors.slack);
    expect(consumableQueues(replaced)).toEqual({ consumed: QUEUE_NAMES, skipped: [] });
  });
});
