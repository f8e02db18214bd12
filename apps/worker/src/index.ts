// What other workspaces may embed (the CLI's `work` runs the worker in its own process).
export { createWorkerApp, type WorkerApp, type WorkerAppOptions } from './app';
export { loadWorkerConfig, type WorkerConfig } from './config';
export { createLogger } from './deps/logger';
export { processors, type PartialProcessorMap } from './processors';
export { consumableQueues } from './worker-runner';
export { ThrottledError } from './throttled-error';
