export * from './common';
export * from './enqueue-options';
