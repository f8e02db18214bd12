export { freePort } from './free-port';
export { makeTempDir } from './temp-dir';
export { waitFor } from './wait-for';
export { startRedisServer, type RedisServer, type RedisServerOptions } from './redis-server';
export { startPostgresServer, findPostgresBinDir, type PostgresServer, type PostgresServerOptions } from './postgres-server';
export { startSmtpSink, type SmtpSink, type SmtpSinkOptions, type RecipientRule, type ReceivedMail, type Throttle } from './smtp-sink';
export { startHttpReceiver, type HttpReceiver, type ReceivedRequest } from './http-receiver';
export { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './otlp-receiver';
export { startRedisSentinelGroup, type RedisSentinelGroup } from './redis-sentinel';
export { TEST_ENCRYPTION_KEYS, testEncryptionKey } from './encryption-keys';
export { hasPromtool, promtool } from './promtool';
export { startTcpProxy, type TcpProxy, type TcpProxyOptions } from './tcp-proxy';
export { sharedRedis, sharedPostgres, type RedisPeer, type PostgresPeer, type SharedServers } from './shared-servers';
export {
  startRedisCluster,
  hasRedisCluster,
  clusterClient,
  type RedisCluster,
  type RedisClusterNode,
  type RedisClusterOptions,
} from './redis-cluster';
