export { freePort } from './free-port';
export { makeTempDir } from './temp-dir';
export { waitFor } from './wait-for';
export { startRedisServer, type RedisServer, type RedisServerOptions } from './redis-server';
