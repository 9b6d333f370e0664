/**
 * Test harness for Rampart: real Redis, etcd and PostgreSQL servers on loopback ephemeral
 * ports, started and stopped by a scope or a Layer; skipped loudly when the binary is missing.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as EtcdServer from "./EtcdServer.js"

/** @since 0.1.0 */
export * as PostgresServer from "./PostgresServer.js"

/** @since 0.1.0 */
export * as RedisServer from "./RedisServer.js"

/** @since 0.1.0 */
export * as Services from "./Services.js"

export {
  /** @since 0.1.0 */
  ServerStartError
} from "./Services.js"

/** @since 0.1.0 */
export * as TcpProxy from "./TcpProxy.js"

/** @since 0.1.0 */
export * as Traces from "./Traces.js"
