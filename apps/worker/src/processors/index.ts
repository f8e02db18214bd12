export { processors } from './catalog';
export type { AttemptContext, PartialProcessorMap, Processor, ProcessorJob, ProcessorMap } from './types';
export { replaceQueueProcessors } from './replace';
