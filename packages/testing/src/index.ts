export { freePort } from './free-port';
export { makeTempDir } from './temp-dir';
export { waitFor } from './wait-for';
export { startRedisServer, type RedisServer, type RedisServerOptions } from './redis-server';
export { startPostgresServer, findPostgresBinDir, type PostgresServer, type PostgresServerOptions } from './postgres-server';
export { startSmtpSink, type SmtpSink, type SmtpSinkOptions, type RecipientRule, type ReceivedMail, type Throttle } from './smtp-sink';
export { startHttpReceiver, type HttpReceiver, type ReceivedRequest } from './http-receiver';
export { startRedisSentinelGroup, type RedisSentinelGroup } from './redis-sentinel';
export { startDelayProxy, type DelayProxy } from './delay-proxy';
