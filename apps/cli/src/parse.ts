import { InvalidArgumentError } from 'commander';

/** A whole number in `min..max`, as commander option/argument parser. */
export function wholeNumber(min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    }
    return Number(value);
  };
}

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** An instant: ISO 8601 (`2026-11-30`, `2026-11-30T12:00:00Z`) or an age such as `90m`, `24h`, `7d` (that long ago). */
export function instant(now: () => number = Date.now) {
  return (value: string): Date => {
    const age = /^(\d+)([smhd])$/.exec(value);
    if (age) return new Date(now() - Number(age[1]) * UNITS[age[2]!]!);
    if (/^\d{4}-\d{2}-\d{2}/.test(value)) {
      const date = new Date(value);
      if (!Number.isNaN(date.getTime())) return date;
    }
    throw new InvalidArgumentError('expected an ISO 8601 date/time (2026-11-30T12:00:00Z) or an age such as 90m, 24h, 7d');
  };
}

/** `12s`, `4m`, `3h`, `2d`: how long ago, for people. */
export function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? ` ${s % 60}s` : ''}`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60) ? ` ${Math.floor((s % 3600) / 60)}m` : ''}`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}
