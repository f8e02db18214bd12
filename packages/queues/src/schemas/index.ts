export * from './common';
export * from './email';
export * from './slack';
export * from './maintenance';
export * from './files';
export * from './enqueue-options';
