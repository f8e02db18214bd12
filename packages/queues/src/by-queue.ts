/**
 * `items` in a group per queue, in their order within each: what is sent in one pipeline must stay
 * in one slot on a Redis Cluster, and each queue is one slot (config.ts, queuePrefix).
 */
export function byQueue<T>(items: readonly T[], queueOf: (item: T) => { name: string }): T[][] {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const name = queueOf(item).name;
    const group = groups.get(name);
    if (group) group.push(item);
    else groups.set(name, [item]);
  }
  return [...groups.values()];
}
